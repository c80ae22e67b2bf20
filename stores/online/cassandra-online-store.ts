import { Client, type QueryOptions, types } from 'cassandra-driver';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { kindsKeptAs, layoutOf, onlineLayouts } from '../../domain/kinds/feature-kinds.ts';
import { servedAggregates } from './aggregate-results.ts';
import { CassandraAggregates } from './cassandra-aggregates.ts';
import {
  checkKeyspaceName,
  createFeatureTableCql,
  createKeyspaceCql,
  createMetaTableCql,
  entryHashColumn,
  eventTimeColumn,
  featureTableName,
  keyColumns,
  keyspaceExists,
  layoutTableName,
  metaTable,
  q,
  readTableColumns,
  type TableColumns,
  tableMismatch,
} from './cassandra-schema.ts';
import {
  type CompiledFeature,
  type CompiledField,
  compileFeature,
  isExpired,
  projectFields,
} from './compiled-feature.ts';
import { KeyLock } from './key-lock.ts';
import { mapLimit } from './map-limit.ts';
import type {
  AggregateAppend,
  AggregateOutcome,
  HistoryAppend,
  HistoryEntry,
  HistoryReadResult,
  KeyDelete,
  KeyValues,
  ObjectReadResult,
  ObjectWrite,
  OnlineStore,
  ReadOptions,
} from './online-store.ts';
import { OnlineStoreInputError } from './online-store.ts';
import { prepareAggregateEvents, requireHistory } from './prepare-aggregate-events.ts';
import {
  historyLimit,
  type KeyTuple,
  type PreparedAppend,
  type PreparedCell,
  type PreparedWrite,
  prepareDeletes,
  prepareHistoryAppends,
  prepareKeys,
  prepareObjectWrites,
  requireLayout,
  unknownFeature,
} from './prepare-input.ts';
import { historyNotFound, ObjectResultBuilder, objectNotFound } from './read-results.ts';

/**
 * The production online store: Cassandra / ScyllaDB through `cassandra-driver`.
 *
 * - One table per feature (cassandra-schema.ts), one `blob` cell per value field, so every
 *   field carries its own write time: writes use `USING TIMESTAMP <event time in µs>`, and
 *   Cassandra keeps the newest per field whatever the arrival order; a partial update is an
 *   UPDATE of its fields only (no read-modify-write).
 * - TTL: each write carries `USING TTL` = the retention left (rounded up, plus one second
 *   for Cassandra's whole-second expiry); a write already past retention is skipped; reads
 *   also drop values whose event time + retention has passed, so expiry is exact to the ms.
 * - History: one row per entry, clustered newest first; duplicates of an event share
 *   (event time, content hash) and collapse. After each append the store reads the N+1
 *   newest clustering keys of each touched key and range-deletes everything from the
 *   (N+1)th down (a tombstone with that entry's write time), and reads use LIMIT N.
 * - Delete key: a partition delete `USING TIMESTAMP t`: newer writes survive, older
 *   ones stay shadowed.
 * - Prepared statements, token-aware routing (the driver's default policy with the local
 *   data centre), the configured consistency, idempotent statements, at most `maxInFlight`
 *   requests of one call in flight. Many-key Object reads of a single-column key are
 *   `IN` selects of `keysPerRead` keys (20) run side by side: on one node that doubles the keys/s
 *   of one select per key and halves the latency; composite keys read one select per key.
 */

export interface CassandraOnlineStoreOptions {
  /** `host` or `host:port` of one or more nodes. */
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  /** CQL replication map used when the keyspace does not exist yet. */
  replication: string;
  /** A consistency level name: ONE, LOCAL_ONE, LOCAL_QUORUM, QUORUM, ... */
  consistency: string;
  username?: string;
  password?: string;
  /** Most requests of one call in flight at once (default 64). */
  maxInFlight?: number;
  /**
   * Keys per read request of a many-key Object read when the key is one column: one
   * `SELECT … WHERE key IN ?` per group instead of one select per key (default 20; 1 reads
   * each key by itself, as composite keys always are).
   */
  keysPerRead?: number;
}

interface FeatureState {
  compiled: CompiledFeature;
  table: TableState;
  /** Per projection (the cached field arrays of compiled-feature.ts), how to read it. */
  plans: WeakMap<readonly CompiledField[], ReadPlan>;
  /** Every value field of the definition has a column. */
  complete: boolean;
  /** Whether the table has a column for a field (writes of other fields are refused). */
  stored: (field: string) => boolean;
  /** Aggregation features: the engine's pieces in this table. */
  aggregates?: CassandraAggregates;
}

/** A prepared read of some fields: the CQL and where each field's cell and write time come back. */
interface ReadPlan {
  /** The table's columns version the plan was made for. */
  version: number;
  cql: string;
  /** The same fields for a group of keys (`key IN ?`, the key returned as `k`); single-column keys only. */
  manyCql: string | undefined;
  fields: readonly CompiledField[];
  /** Per field: the result column of its value, or undefined when the table has no such column. */
  valueColumn: (string | undefined)[];
  timeColumn: (string | undefined)[];
  /** No field has a column: nothing to query. */
  empty: boolean;
}

interface TableState {
  name: string;
  /** Fully qualified and quoted. */
  ref: string;
  columns: TableColumns;
  /** Bumped whenever the columns are read again. */
  version: number;
  checkedAtMs: number;
  statements: Map<string, string>;
}

const refreshAfterMs = 5_000;

const consistencyByName: Record<string, number> = {
  ANY: types.consistencies.any,
  ONE: types.consistencies.one,
  TWO: types.consistencies.two,
  THREE: types.consistencies.three,
  QUORUM: types.consistencies.quorum,
  ALL: types.consistencies.all,
  LOCAL_QUORUM: types.consistencies.localQuorum,
  EACH_QUORUM: types.consistencies.eachQuorum,
  LOCAL_ONE: types.consistencies.localOne,
};

/** The driver's consistency for a setting such as `LOCAL_QUORUM` or `one`. */
export function consistencyOf(name: string): number {
  const found = consistencyByName[name.trim().toUpperCase()];
  if (found === undefined) {
    throw new Error(
      `unknown Cassandra consistency "${name}" (known: ${Object.keys(consistencyByName).join(', ')})`,
    );
  }
  return found;
}

/** Appends the key values as the driver binds them: bigint columns take BigInt. */
function pushKey(params: unknown[], feature: CompiledFeature, key: KeyTuple): unknown[] {
  for (let i = 0; i < key.length; i++) {
    const t = feature.keyFields[i]!.type;
    params.push(t.kind === 'scalar' && t.scalar === 'Long' ? BigInt(key[i] as number) : key[i]);
  }
  return params;
}

/** One selected row of an Object read plan, as the result: expired cells read as missing. */
function decodeObjectRow(
  feature: CompiledFeature,
  plan: ReadPlan,
  row: types.Row,
  now: number,
): ObjectReadResult {
  const b = new ObjectResultBuilder();
  const { fields, valueColumn, timeColumn } = plan;
  for (let i = 0; i < fields.length; i++) {
    const v = valueColumn[i];
    const cell = v === undefined ? null : (row[v] as Buffer | null);
    if (cell === null) {
      b.add(fields[i]!, undefined, 0);
      continue;
    }
    const t = Math.floor(Number(row[timeColumn[i]!] as bigint) / 1000);
    b.add(fields[i]!, isExpired(feature, t, now) ? undefined : cell, t);
  }
  return b.result();
}

function ttlSeconds(feature: CompiledFeature, eventTimeMs: number, nowMs: number): number {
  if (feature.retentionMs === undefined) return 0;
  const left = eventTimeMs + feature.retentionMs - nowMs;
  // Cassandra counts whole seconds from the second of the write: one more keeps the value
  // at least as long as the retention; reads cut it off exactly
  return Math.min(Math.ceil(left / 1000) + 1, 630_720_000);
}

export class CassandraOnlineStore implements OnlineStore {
  readonly kind = 'cassandra' as const;
  readonly bulkWriteRows = 5_000;
  readonly bulkWritesInFlight = 2;
  /** Every write carries a TTL from the event time and the retention. */
  readonly expiresByItself = true;
  private readonly tables = new Map<string, TableState>();
  private readonly missing = new Map<string, number>();
  private readonly states = new WeakMap<FeatureDefinition, FeatureState>();
  /** Aggregation writes of one key, one at a time in this process, whatever definition object they come with. */
  private readonly aggregateKeyLock = new KeyLock();
  private readonly ks: string;
  private readonly maxInFlight: number;
  private readonly keysPerRead: number;
  /** Options of every data statement: prepared, the configured consistency, safe to retry. */
  readonly queryOptions: QueryOptions;

  private constructor(
    readonly client: Client,
    readonly keyspace: string,
    consistency: number,
    maxInFlight: number,
    keysPerRead: number,
  ) {
    this.ks = q(keyspace);
    this.maxInFlight = maxInFlight;
    this.keysPerRead = Math.max(1, Math.floor(keysPerRead));
    this.queryOptions = { prepare: true, consistency, isIdempotent: true };
  }

  static async open(options: CassandraOnlineStoreOptions): Promise<CassandraOnlineStore> {
    const keyspace = checkKeyspaceName(options.keyspace);
    const consistency = consistencyOf(options.consistency);
    const client = new Client({
      contactPoints: options.contactPoints,
      localDataCenter: options.localDataCenter,
      ...(options.username
        ? { credentials: { username: options.username, password: options.password ?? '' } }
        : {}),
      encoding: { useBigIntAsLong: true },
      queryOptions: { consistency, prepare: true },
    });
    try {
      await client.connect();
      if (!(await keyspaceExists(client, keyspace)))
        await client.execute(createKeyspaceCql(keyspace, options.replication));
      if (!(await readTableColumns(client, keyspace, metaTable)))
        await client.execute(createMetaTableCql(keyspace));
    } catch (e) {
      await client.shutdown().catch(() => {});
      throw e;
    }
    return new CassandraOnlineStore(
      client,
      keyspace,
      consistency,
      options.maxInFlight ?? 64,
      options.keysPerRead ?? 20,
    );
  }

  // ---------------------------------------------------------------- tables

  private async loadTable(def: FeatureDefinition): Promise<TableState | undefined> {
    const name = featureTableName(def);
    const columns = await readTableColumns(this.client, this.keyspace, name);
    if (!columns) return undefined;
    const prior = this.tables.get(name);
    const table: TableState = prior ?? {
      name,
      ref: `${this.ks}.${name}`,
      columns,
      version: 0,
      checkedAtMs: 0,
      statements: new Map(),
    };
    table.columns = columns;
    table.version++;
    table.checkedAtMs = Date.now();
    this.tables.set(name, table);
    return table;
  }

  /** The feature's table, checked against the definition; throws when there is none. */
  private state(def: FeatureDefinition): FeatureState | Promise<FeatureState> {
    const st = this.states.get(def);
    // the common case answers without a promise: every field has its column
    if (st?.complete) return st;
    return this.loadState(def);
  }

  private async loadState(def: FeatureDefinition): Promise<FeatureState> {
    let st = this.states.get(def);
    if (st) {
      // a field of the definition without a column: this or another process may have added it
      const complete = (s: FeatureState) =>
        layoutOf(def) === 'aggregates' || s.compiled.valueFields.every((f) => s.table.columns.has(f.name));
      st.complete = complete(st);
      if (!st.complete && st.table.checkedAtMs + refreshAfterMs < Date.now()) {
        await this.loadTable(def);
        st.complete = complete(st);
      }
      return st;
    }
    const name = featureTableName(def);
    let table = this.tables.get(name);
    if (!table) {
      const missingAt = this.missing.get(name);
      if (missingAt !== undefined && missingAt + refreshAfterMs > Date.now()) throw unknownFeature(def.name);
      table = await this.loadTable(def);
      if (!table) {
        this.missing.set(name, Date.now());
        throw unknownFeature(def.name);
      }
    }
    const bad = tableMismatch(def, table.columns);
    if (bad) throw new OnlineStoreInputError(def.name, bad.field, bad.reason);
    const compiled = compileFeature(def);
    st = {
      compiled,
      table,
      plans: new WeakMap(),
      complete:
        layoutOf(def) === 'aggregates' || compiled.valueFields.every((f) => table.columns.has(f.name)),
      stored: (field) => table.columns.has(field),
    };
    this.states.set(def, st);
    return st;
  }

  async ensureFeature(def: FeatureDefinition): Promise<void> {
    const name = featureTableName(def);
    let columns = await readTableColumns(this.client, this.keyspace, name);
    if (!columns) {
      for (const other of onlineLayouts.filter((l) => l !== layoutOf(def))) {
        if (await readTableColumns(this.client, this.keyspace, layoutTableName(def.name, other))) {
          throw new OnlineStoreInputError(
            def.name,
            'feature_type',
            `the online store holds it as ${kindsKeptAs(other)}; a new type needs a new feature version`,
          );
        }
      }
      await this.client.execute(createFeatureTableCql(this.keyspace, def));
      columns = await readTableColumns(this.client, this.keyspace, name);
      if (!columns) throw new Error(`table ${this.keyspace}.${name} missing right after CREATE TABLE`);
    }
    const bad = tableMismatch(def, columns);
    if (bad) throw new OnlineStoreInputError(def.name, bad.field, bad.reason);
    for (const f of def.fields) {
      if (f.isKey || columns.has(f.name) || layoutOf(def) === 'aggregates') continue;
      try {
        await this.client.execute(`ALTER TABLE ${this.ks}.${name} ADD ${q(f.name)} blob`);
      } catch (e) {
        // another process added it first
        if (!/already exist|conflicts with an existing column/i.test((e as Error).message)) throw e;
      }
    }
    this.missing.delete(name);
    await this.loadTable(def);
    this.states.delete(def);
  }

  private statement(table: TableState, id: string, build: () => string): string {
    return table.statements.get(id) ?? this.remember(table, id, build());
  }

  private remember(table: TableState, id: string, cql: string): string {
    if (table.statements.size < 1_000) table.statements.set(id, cql);
    return cql;
  }

  private keyWhere(def: FeatureDefinition): string {
    return keyColumns(def)
      .map((k) => `${q(k.name)} = ?`)
      .join(' AND ');
  }

  // ---------------------------------------------------------------- Object features

  async writeObjects(def: FeatureDefinition, writes: readonly ObjectWrite[]): Promise<void> {
    const pending = this.state(def);
    const st = pending instanceof Promise ? await pending : pending;
    const prepared = prepareObjectWrites(st.compiled, writes, st.stored);
    const now = Date.now();
    if (prepared.length === 1) {
      await this.writeOne(st, prepared[0]!, now);
      return;
    }
    await mapLimit(prepared, this.maxInFlight, (w) => this.writeOne(st, w, now));
  }

  /** One UPDATE of the fields a write names, at its event time; skipped when already past retention. */
  private async writeOne(st: FeatureState, w: PreparedWrite, now: number): Promise<void> {
    const feature = st.compiled;
    if (w.cells.length === 0 || isExpired(feature, w.eventTimeMs, now)) return;
    const params: unknown[] = [ttlSeconds(feature, w.eventTimeMs, now), BigInt(w.eventTimeMs) * 1000n];
    for (let i = 0; i < w.cells.length; i++) params.push(w.cells[i]!.bytes);
    pushKey(params, feature, w.key);
    await this.client.execute(this.updateStatement(st, w.cells), params, this.queryOptions);
  }

  /** `UPDATE … USING TTL ? AND TIMESTAMP ? SET <fields> WHERE <keys>` for this set of fields. */
  private updateStatement(st: FeatureState, cells: readonly PreparedCell[]): string {
    let id = 'u';
    for (let i = 0; i < cells.length; i++) id += `,${cells[i]!.field.name}`;
    const cached = st.table.statements.get(id);
    if (cached !== undefined) return cached;
    const cql =
      `UPDATE ${st.table.ref} USING TTL ? AND TIMESTAMP ? SET ${cells.map((c) => `${q(c.field.name)} = ?`).join(', ')} ` +
      `WHERE ${this.keyWhere(st.compiled.def)}`;
    return this.remember(st.table, id, cql);
  }

  /** `SELECT v0, WRITETIME(v0) … WHERE <keys>` for the projected fields that have a column. */
  private readPlan(st: FeatureState, fields: readonly CompiledField[]): ReadPlan {
    const cached = st.plans.get(fields);
    if (cached && cached.version === st.table.version) return cached;
    const columns = st.table.columns;
    const stored = fields.filter((f) => columns.has(f.name));
    const select = stored.flatMap((f, i) => [`${q(f.name)} AS v${i}`, `WRITETIME(${q(f.name)}) AS t${i}`]);
    const keys = keyColumns(st.compiled.def);
    const plan: ReadPlan = {
      version: st.table.version,
      cql: `SELECT ${select.join(', ')} FROM ${st.table.ref} WHERE ${this.keyWhere(st.compiled.def)}`,
      manyCql:
        keys.length === 1
          ? `SELECT ${q(keys[0]!.name)} AS k, ${select.join(', ')} FROM ${st.table.ref} WHERE ${q(keys[0]!.name)} IN ?`
          : undefined,
      fields,
      valueColumn: fields.map((f) => (stored.includes(f) ? `v${stored.indexOf(f)}` : undefined)),
      timeColumn: fields.map((f) => (stored.includes(f) ? `t${stored.indexOf(f)}` : undefined)),
      empty: stored.length === 0,
    };
    st.plans.set(fields, plan);
    return plan;
  }

  async readObjects(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions,
  ): Promise<ObjectReadResult[]> {
    const pending = this.state(def);
    const st = pending instanceof Promise ? await pending : pending;
    const feature = st.compiled;
    requireLayout(feature, 'row');
    const plan = this.readPlan(st, projectFields(feature, options?.fields));
    const tuples = prepareKeys(feature, keys);
    if (plan.empty) return tuples.map(() => objectNotFound(plan.fields));
    if (tuples.length === 1) return [await this.readOne(feature, plan, tuples[0]!)];
    if (plan.manyCql === undefined || this.keysPerRead === 1)
      return mapLimit(tuples, this.maxInFlight * 4, (key) => this.readOne(feature, plan, key));
    const groups: KeyTuple[][] = [];
    for (let i = 0; i < tuples.length; i += this.keysPerRead)
      groups.push(tuples.slice(i, i + this.keysPerRead));
    const found = new Map<string, ObjectReadResult>();
    await mapLimit(groups, this.maxInFlight, (group) => this.readGroup(feature, plan, group, found));
    return tuples.map((key) => found.get(String(key[0])) ?? objectNotFound(plan.fields));
  }

  private async readOne(feature: CompiledFeature, plan: ReadPlan, key: KeyTuple): Promise<ObjectReadResult> {
    const rs = await this.client.execute(plan.cql, pushKey([], feature, key), this.queryOptions);
    const row = rs.rows[0];
    return row ? decodeObjectRow(feature, plan, row, Date.now()) : objectNotFound(plan.fields);
  }

  /** One `IN` select for a group of single-column keys; each found row lands in `found` by its key. */
  private async readGroup(
    feature: CompiledFeature,
    plan: ReadPlan,
    group: readonly KeyTuple[],
    found: Map<string, ObjectReadResult>,
  ): Promise<void> {
    // the same key twice in one IN list comes back once: ask for each distinct key
    const distinct = [...new Set(group.map((k) => k[0]!))].map((k) => [k]);
    const values = distinct.map((k) => pushKey([], feature, k)[0]);
    const rs = await this.client.execute(plan.manyCql!, [values], this.queryOptions);
    const now = Date.now();
    for (const row of rs.rows) found.set(String(row.k), decodeObjectRow(feature, plan, row, now));
  }

  // ---------------------------------------------------------------- History features

  async appendHistory(def: FeatureDefinition, entries: readonly HistoryAppend[]): Promise<void> {
    const st = await this.state(def);
    const feature = st.compiled;
    const prepared = prepareHistoryAppends(feature, entries, st.stored);
    const now = Date.now();
    const live = prepared.filter((e) => !isExpired(feature, e.eventTimeMs, now));
    // duplicates of one event in a call need one write
    const unique = new Map<string, PreparedAppend>();
    for (const e of live) unique.set(JSON.stringify([e.key, e.eventTimeMs, e.entryHash]), e);
    await mapLimit([...unique.values()], this.maxInFlight, (e) => {
      const cql = this.insertStatement(st, e.cells);
      const params: unknown[] = pushKey([], feature, e.key);
      params.push(BigInt(e.eventTimeMs), e.entryHash);
      for (const c of e.cells) params.push(c.bytes);
      params.push(ttlSeconds(feature, e.eventTimeMs, now), BigInt(e.eventTimeMs) * 1000n);
      return this.client.execute(cql, params, this.queryOptions);
    });
    const touched = new Map<string, KeyTuple>();
    for (const e of unique.values()) touched.set(JSON.stringify(e.key), e.key);
    await mapLimit([...touched.values()], this.maxInFlight, (key) => this.trimHistory(st, key));
  }

  private insertStatement(st: FeatureState, cells: readonly PreparedCell[]): string {
    const id = cells.map((c) => c.field.name).join(',');
    return this.statement(st.table, `i:${id}`, () => {
      const cols = [
        ...st.compiled.keyFields.map((k) => k.name),
        eventTimeColumn,
        entryHashColumn,
        ...cells.map((c) => c.field.name),
      ];
      return (
        `INSERT INTO ${st.table.ref} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')}) ` +
        'USING TTL ? AND TIMESTAMP ?'
      );
    });
  }

  /** Deletes the entries of one key beyond the definition's maximum, newest kept. */
  private async trimHistory(st: FeatureState, key: KeyTuple): Promise<void> {
    const feature = st.compiled;
    const max = historyLimit(feature, undefined);
    const select = this.statement(
      st.table,
      'trim-select',
      () =>
        `SELECT ${q(eventTimeColumn)}, ${q(entryHashColumn)} FROM ${st.table.ref} WHERE ${this.keyWhere(feature.def)} LIMIT ?`,
    );
    const bound = pushKey([], feature, key);
    const rs = await this.client.execute(select, [...bound, max + 1], this.queryOptions);
    if (rs.rowLength <= max) return;
    const cut = rs.rows[max]!;
    const cutTime = cut.get(eventTimeColumn) as bigint;
    const del = this.statement(
      st.table,
      'trim-delete',
      () =>
        `DELETE FROM ${st.table.ref} USING TIMESTAMP ? WHERE ${this.keyWhere(feature.def)} ` +
        `AND (${q(eventTimeColumn)}, ${q(entryHashColumn)}) <= (?, ?)`,
    );
    await this.client.execute(
      del,
      [cutTime * 1000n, ...bound, cutTime, cut.get(entryHashColumn)],
      this.queryOptions,
    );
  }

  async readHistory(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { limit?: number },
  ): Promise<HistoryReadResult[]> {
    const st = await this.state(def);
    const feature = st.compiled;
    requireLayout(feature, 'entries');
    const fields = projectFields(feature, options?.fields);
    const limit = historyLimit(feature, options?.limit);
    const tuples = prepareKeys(feature, keys);
    if (limit === 0) return tuples.map(() => historyNotFound());
    const columns = st.table.columns;
    const stored = fields.filter((f) => columns.has(f.name));
    const cql = this.statement(st.table, `h:${stored.map((f) => f.name).join(',')}`, () => {
      const cols = [`${q(eventTimeColumn)} AS t`, ...stored.map((f, i) => `${q(f.name)} AS v${i}`)];
      return `SELECT ${cols.join(', ')} FROM ${st.table.ref} WHERE ${this.keyWhere(def)} LIMIT ?`;
    });
    return mapLimit(tuples, this.maxInFlight * 4, async (key) => {
      const rs = await this.client.execute(cql, pushKey([], feature, key).concat(limit), this.queryOptions);
      const now = Date.now();
      const entries: HistoryEntry[] = [];
      for (const row of rs.rows) {
        const eventTimeMs = Number(row['t'] as bigint);
        if (isExpired(feature, eventTimeMs, now)) break;
        const b = new ObjectResultBuilder();
        let s = 0;
        for (const f of fields) {
          if (stored[s] === f) b.add(f, row[`v${s++}`] as Buffer | null, eventTimeMs);
          else b.add(f, undefined, 0);
        }
        entries.push({ values: b.values, eventTimeMs });
      }
      return entries.length > 0 ? { found: true, entries } : historyNotFound();
    });
  }

  // ---------------------------------------------------------------- Aggregation features

  private aggregates(st: FeatureState): CassandraAggregates {
    st.aggregates ??= new CassandraAggregates(
      this.client,
      st.table.ref,
      st.compiled,
      this.keyWhere(st.compiled.def),
      this.queryOptions,
      (key) => pushKey([], st.compiled, key),
      this.maxInFlight,
      this.aggregateKeyLock,
      st.compiled.keyFields.length === 1 ? q(keyColumns(st.compiled.def)[0]!.name) : undefined,
      Math.max(1, this.keysPerRead),
    );
    return st.aggregates;
  }

  async writeAggregateEvents(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    nowMs = Date.now(),
  ): Promise<AggregateOutcome[]> {
    const st = await this.state(def);
    const prepared = prepareAggregateEvents(st.compiled, events);
    return this.aggregates(st).write(prepared, nowMs);
  }

  async writeAggregateHistory(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    cutMs: number,
    nowMs = Date.now(),
  ): Promise<AggregateOutcome[]> {
    const st = await this.state(def);
    requireHistory(st.compiled);
    const prepared = prepareAggregateEvents(st.compiled, events);
    return this.aggregates(st).write(prepared, nowMs, 'history', cutMs);
  }

  async readAggregates(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { atMs?: number },
  ): Promise<ObjectReadResult[]> {
    const st = await this.state(def);
    requireLayout(st.compiled, 'aggregates');
    const fields = servedAggregates(st.compiled, options?.fields);
    return this.aggregates(st).read(prepareKeys(st.compiled, keys), fields, options?.atMs ?? Date.now());
  }

  // ---------------------------------------------------------------- both

  async deleteKeys(def: FeatureDefinition, deletes: readonly KeyDelete[]): Promise<void> {
    const st = await this.state(def);
    const feature = st.compiled;
    const prepared = prepareDeletes(feature, deletes);
    const cql = this.statement(
      st.table,
      'delete',
      () => `DELETE FROM ${st.table.ref} USING TIMESTAMP ? WHERE ${this.keyWhere(def)}`,
    );
    await mapLimit(prepared, this.maxInFlight, (d) =>
      this.client.execute(cql, pushKey([BigInt(d.eventTimeMs) * 1000n], feature, d.key), this.queryOptions),
    );
  }

  /** Cassandra expires values by their TTL and History is trimmed on append: nothing to do. */
  async sweepExpired(def: FeatureDefinition, _nowMs: number): Promise<number> {
    await this.state(def);
    return 0;
  }

  // ---------------------------------------------------------------- metadata

  async getMeta(key: string): Promise<string | undefined> {
    const rs = await this.client.execute(
      `SELECT value FROM ${this.ks}.${metaTable} WHERE key = ?`,
      [key],
      this.queryOptions,
    );
    const row = rs.first();
    return row ? ((row.get('value') as string | null) ?? undefined) : undefined;
  }

  async putMeta(key: string, value: string): Promise<void> {
    await this.client.execute(
      `INSERT INTO ${this.ks}.${metaTable} (key, value) VALUES (?, ?)`,
      [key, value],
      this.queryOptions,
    );
  }

  /** Metadata is small (definitions, watermarks, checkpoints): a paged scan filtered here. */
  async listMeta(prefix: string): Promise<[string, string][]> {
    const out: [string, string][] = [];
    let pageState: string | undefined;
    do {
      const rs = await this.client.execute(`SELECT key, value FROM ${this.ks}.${metaTable}`, [], {
        ...this.queryOptions,
        fetchSize: 1_000,
        ...(pageState ? { pageState } : {}),
      });
      for (const row of rs.rows) {
        const k = row.get('key') as string;
        const v = row.get('value') as string | null;
        if (k.startsWith(prefix) && v !== null) out.push([k, v]);
      }
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  async deleteMeta(key: string): Promise<void> {
    await this.client.execute(`DELETE FROM ${this.ks}.${metaTable} WHERE key = ?`, [key], this.queryOptions);
  }

  async ping(): Promise<void> {
    await this.client.execute('SELECT release_version FROM system.local', [], this.queryOptions);
  }

  async close(): Promise<void> {
    await this.client.shutdown();
  }
}

export async function openCassandraOnlineStore(
  options: CassandraOnlineStoreOptions,
): Promise<CassandraOnlineStore> {
  return CassandraOnlineStore.open(options);
}
