import type { ColumnSpec, IncrementalCursor, NewDeadLetter, OfflineRow } from './offline-store.ts';

// The SQL that both offline stores run, written once: the condition that resumes a paged read
// after its cursor, and the dead-letter table's rows and reads. Each store gives its dialect
// (identifier quoting, parameter markers) and binds the typed parameters its own way.

/** How a warehouse writes identifiers and parameters. */
export interface SqlDialect {
  /** `"name"` (DuckDB) or `` `name` `` (BigQuery). */
  quote(identifier: string): string;
  /** `$name` (DuckDB) or `@name` (BigQuery). */
  param(name: string): string;
}

/** A parameter's value, typed for binding. */
export type SqlValue =
  | { type: 'int64'; value: bigint }
  | { type: 'string'; value: string }
  | { type: 'timestamp'; ms: number };

/** A WHERE condition and the parameters it names. */
export interface SqlCondition {
  sql: string;
  params: Record<string, SqlValue>;
}

/**
 * The rows strictly after `after` in the order (watermark, tie-breakers...): `w > $w OR (w = $w AND
 * (t0 > $t0 OR (t0 = $t0 AND (t1 > $t1 ...))))`; without tie values, the watermark alone. The
 * watermark is `watermarkSql` (a column, or its epoch-ms expression for a timestamp column).
 */
export function afterCursor(
  d: SqlDialect,
  watermarkSql: string,
  tieBreaker: readonly { name: string; text: boolean }[],
  after: IncrementalCursor,
): SqlCondition {
  const params: Record<string, SqlValue> = { w: { type: 'int64', value: BigInt(after.watermark) } };
  const w = d.param('w');
  if (!after.tie) return { sql: `${watermarkSql} > ${w}`, params };
  let tie = '';
  for (let i = tieBreaker.length - 1; i >= 0; i--) {
    const c = tieBreaker[i]!;
    const v = after.tie[i]!;
    params[`t${i}`] = c.text ? { type: 'string', value: String(v) } : { type: 'int64', value: BigInt(v) };
    const name = d.quote(c.name);
    const t = d.param(`t${i}`);
    tie = tie === '' ? `${name} > ${t}` : `${name} > ${t} OR (${name} = ${t} AND (${tie}))`;
  }
  return { sql: `${watermarkSql} > ${w} OR (${watermarkSql} = ${w} AND (${tie}))`, params };
}

/** Tie-breaker columns as afterCursor takes them: their names, and whether each is Text. */
export function textFlags(columns: readonly ColumnSpec[]): { name: string; text: boolean }[] {
  return columns.map((c) => ({ name: c.name, text: c.type.kind === 'scalar' && c.type.scalar === 'Text' }));
}

/** A dead letter as a row of the dead-letter table. */
export function deadLetterRow(l: NewDeadLetter & { id: string }): OfflineRow {
  return {
    id: l.id,
    feature: l.feature,
    origin: l.origin,
    reason: l.reason,
    payload: l.payload,
    occurred_at: l.occurredAtMs,
  };
}

/**
 * The rows to store of `letters`: each id once, and none already `present` in the table. A
 * consumer that restarts re-reads its uncommitted tail and refuses the same message again with the
 * same id; the table keeps the first copy (a letter rewritten with a new reason gets a new id).
 */
export function newDeadLetterRows(
  letters: readonly (NewDeadLetter & { id: string })[],
  present: ReadonlySet<string>,
): OfflineRow[] {
  const seen = new Set(present);
  const out: OfflineRow[] = [];
  for (const l of letters) {
    if (seen.has(l.id)) continue;
    seen.add(l.id);
    out.push(deadLetterRow(l));
  }
  return out;
}

/** The query of a feature's dead letters in [fromMs, toMs) of their time, oldest first, at most `limit`. */
export function deadLettersQuery(
  d: SqlDialect,
  tableSql: string,
  feature: string,
  range: { fromMs?: number; toMs?: number; limit?: number },
): SqlCondition {
  const params: Record<string, SqlValue> = { f: { type: 'string', value: feature } };
  let where = `feature = ${d.param('f')}`;
  if (range.fromMs !== undefined) {
    params.from = { type: 'timestamp', ms: range.fromMs };
    where += ` AND occurred_at >= ${d.param('from')}`;
  }
  if (range.toMs !== undefined) {
    params.to = { type: 'timestamp', ms: range.toMs };
    where += ` AND occurred_at < ${d.param('to')}`;
  }
  const limit = range.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(range.limit))}` : '';
  return {
    sql: `SELECT id, feature, origin, reason, payload, occurred_at FROM ${tableSql} WHERE ${where} ORDER BY occurred_at, id${limit}`,
    params,
  };
}

/** Dead letters are deleted by id, this many per statement. */
export const deadLetterDeleteBatch = 1000;
