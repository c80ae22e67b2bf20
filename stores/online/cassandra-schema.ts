import { createHash } from 'node:crypto';
import type { Client } from 'cassandra-driver';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { FieldType } from '../../domain/definitions/field-types.ts';
import type { OnlineLayout } from '../../domain/kinds/feature-kind.ts';
import { layoutOf } from '../../domain/kinds/feature-kinds.ts';

/**
 * Names and DDL of Ferry's Cassandra tables, and what a table holds now.
 *
 * Object feature  → table `o_<name>_<hash>`: the key fields as the partition key, one `blob`
 *                   column per value field (a cell: see cell-codec.ts).
 * History feature → table `h_<name>_<hash>`: the same plus the clustering columns
 *                   `_event_time bigint DESC, _entry_hash text DESC`, one row per entry.
 * Metadata        → `ferry_meta (key text PRIMARY KEY, value text)`.
 * Field names start with a letter, so the `_`-prefixed internal columns never collide.
 */

export const eventTimeColumn = '_event_time';
export const entryHashColumn = '_entry_hash';
/** Aggregation tables: which piece of the engine's state a row holds (cassandra-aggregates.ts). */
export const aggregateLevelColumn = '_level';
export const metaTable = 'ferry_meta';

/** A quoted CQL identifier (field names may hold upper case). */
export function q(id: string): string {
  return `"${id.replace(/"/g, '""')}"`;
}

const identifier = /^[A-Za-z0-9_]{1,48}$/;

/** Checks a keyspace name: Cassandra allows letters, digits and `_`, at most 48. */
export function checkKeyspaceName(keyspace: string): string {
  if (!identifier.test(keyspace)) {
    throw new Error(`bad Cassandra keyspace name "${keyspace}": use letters, digits and _ (at most 48)`);
  }
  return keyspace;
}

/**
 * The table of a feature: readable, unique (a hash of the full name tells apart names that
 * differ only in punctuation) and within Cassandra's 48-character limit.
 */
export function featureTableName(def: Pick<FeatureDefinition, 'name' | 'featureType'>): string {
  return layoutTableName(def.name, layoutOf(def));
}

/** The table tag of each layout (`o_…`, `h_…`): names in the keyspace, never change them. */
const layoutTableTag: Record<OnlineLayout, string> = { row: 'o', entries: 'h', aggregates: 'a' };

/** The table a feature of `name` has when kept in `layout`. */
export function layoutTableName(name: string, layout: OnlineLayout): string {
  const readable = name
    .replace(/::/g, '__')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .toLowerCase()
    .slice(0, 36);
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${layoutTableTag[layout]}_${readable}_${hash}`;
}

/** The CQL type of a key field (keys are Text, Long or Int). */
export function keyCqlType(type: FieldType): 'text' | 'bigint' | 'int' {
  if (type.kind === 'scalar') {
    if (type.scalar === 'Text') return 'text';
    if (type.scalar === 'Long') return 'bigint';
    if (type.scalar === 'Int') return 'int';
  }
  throw new Error(`a key field must be Text, Long or Int`);
}

export function keyColumns(def: FeatureDefinition): { name: string; cqlType: string }[] {
  return def.keyFields.map((name) => ({
    name,
    cqlType: keyCqlType(def.fields.find((f) => f.name === name)!.type),
  }));
}

export function createKeyspaceCql(keyspace: string, replication: string): string {
  return `CREATE KEYSPACE IF NOT EXISTS ${q(keyspace)} WITH replication = ${replication}`;
}

export function createMetaTableCql(keyspace: string): string {
  return `CREATE TABLE IF NOT EXISTS ${q(keyspace)}.${metaTable} (key text PRIMARY KEY, value text)`;
}

export function createFeatureTableCql(keyspace: string, def: FeatureDefinition): string {
  const keys = keyColumns(def);
  const columns = keys.map((k) => `${q(k.name)} ${k.cqlType}`);
  const layout = layoutOf(def);
  const history = layout === 'entries';
  const pk = `(${keys.map((k) => q(k.name)).join(', ')})`;
  if (layout === 'aggregates') {
    // the aggregation engine's pieces: level (meta, raw, minute, hour, day) and bucket start;
    // names a field cannot have (fields start with a letter)
    columns.push(`${q(aggregateLevelColumn)} int`, '"_start" bigint', '"_value" blob');
    return (
      `CREATE TABLE IF NOT EXISTS ${q(keyspace)}.${featureTableName(def)} (${columns.join(', ')}, ` +
      `PRIMARY KEY (${pk}, ${q(aggregateLevelColumn)}, "_start")) WITH comment = ${cqlString(`ferry ${def.featureType} feature ${def.name}`)}`
    );
  }
  if (history) columns.push(`${q(eventTimeColumn)} bigint`, `${q(entryHashColumn)} text`);
  for (const f of def.fields) if (!f.isKey) columns.push(`${q(f.name)} blob`);
  const primaryKey = history
    ? `PRIMARY KEY (${pk}, ${q(eventTimeColumn)}, ${q(entryHashColumn)})`
    : `PRIMARY KEY (${pk})`;
  const options = [`comment = ${cqlString(`ferry ${def.featureType} feature ${def.name}`)}`];
  if (history)
    options.unshift(`CLUSTERING ORDER BY (${q(eventTimeColumn)} DESC, ${q(entryHashColumn)} DESC)`);
  return (
    `CREATE TABLE IF NOT EXISTS ${q(keyspace)}.${featureTableName(def)} (${columns.join(', ')}, ${primaryKey}) ` +
    `WITH ${options.join(' AND ')}`
  );
}

function cqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The columns a table has now: name → { kind: partition_key | clustering | regular, type }. */
export type TableColumns = Map<string, { kind: string; type: string }>;

export async function readTableColumns(
  client: Client,
  keyspace: string,
  table: string,
): Promise<TableColumns | undefined> {
  const rs = await client.execute(
    'SELECT column_name, kind, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?',
    [keyspace, table],
    { prepare: true },
  );
  if (rs.rowLength === 0) return undefined;
  return new Map(
    rs.rows.map((r) => [
      r.get('column_name') as string,
      { kind: r.get('kind') as string, type: r.get('type') as string },
    ]),
  );
}

export async function keyspaceExists(client: Client, keyspace: string): Promise<boolean> {
  const rs = await client.execute(
    'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?',
    [keyspace],
    {
      prepare: true,
    },
  );
  return rs.rowLength > 0;
}

/** Why an existing table cannot hold the feature (other keys or types), or undefined when it can. */
export function tableMismatch(
  def: FeatureDefinition,
  columns: TableColumns,
): { field: string; reason: string } | undefined {
  const keys = keyColumns(def);
  const partition = [...columns]
    .filter(([, c]) => c.kind === 'partition_key')
    .map(([n, c]) => `${n} ${c.type}`);
  const wanted = keys.map((k) => `${k.name} ${k.cqlType}`);
  if (partition.sort().join(',') !== [...wanted].sort().join(',')) {
    return {
      field: def.keyFields[0]!,
      reason: `key fields changed (the table has ${partition.join(', ')}); a key change needs a new feature version`,
    };
  }
  const clustering = [...columns].some(([, c]) => c.kind === 'clustering');
  const aggregates = layoutOf(def) === 'aggregates';
  if (clustering !== (layoutOf(def) !== 'row') || columns.has(aggregateLevelColumn) !== aggregates) {
    return {
      field: 'feature_type',
      reason: 'the online table holds another feature type; a new type needs a new feature version',
    };
  }
  for (const f of def.fields) {
    const c = columns.get(f.name);
    if (!f.isKey && !aggregates && c && c.type !== 'blob')
      return { field: f.name, reason: `the online table column is ${c.type}, not blob` };
  }
  return undefined;
}
