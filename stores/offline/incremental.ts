import type {
  ColumnSpec,
  IncrementalCursor,
  IncrementalPage,
  IncrementalReadOptions,
  OfflineRow,
} from './offline-store.ts';

/**
 * The part of an incremental read both stores share: checking the options against the table,
 * and cutting one ordered row stream into pages with resumable cursors.
 *
 * Why one streamed query rather than a query per page: a query per page ("WHERE wm > last LIMIT n")
 * skips the rows that share the boundary's watermark unless the ordering is unique, and sees a
 * different snapshot on each page. A single ordered query, read page by page, sees one snapshot
 * and cannot skip or repeat within a read whatever the ties. (DuckDB cuts the read into windows
 * whose edges fall between watermark values, never inside a run of ties, so the same holds.)
 *
 * Why the cursor looks one row ahead: a page's cursor must be a position a later read can resume
 * from without skipping. "Every row with watermark ≤ W was delivered" is only known once a row with
 * a greater watermark (or the end) has been seen, so the pager holds one row back. With tie-breaker
 * columns the position is (watermark, tie values) and is exact whenever the next row differs in
 * them; rows that repeat the same (watermark, tie) at a page boundary, or NULL tie values, fall
 * back to the last complete watermark. The cursor never moves backwards.
 */

export interface CheckedRead {
  watermarkType: 'Long' | 'Timestamp';
  /** Columns to select: the projection plus the watermark and tie-breaker columns. */
  columns: ColumnSpec[];
  tieBreaker: ColumnSpec[];
}

/** Validates the options against the table's columns. */
export function checkRead(
  table: string,
  columns: readonly ColumnSpec[] | undefined,
  options: IncrementalReadOptions,
): CheckedRead {
  if (!columns) throw new Error(`no table ${table} in the offline store`);
  if (!Number.isInteger(options.pageSize) || options.pageSize < 1) {
    throw new Error(`pageSize must be a positive integer, got ${options.pageSize}`);
  }
  const byName = new Map(columns.map((c) => [c.name, c]));
  const wm = byName.get(options.watermarkColumn);
  if (!wm) throw new Error(`table ${table} has no watermark column ${options.watermarkColumn}`);
  if (wm.type.kind !== 'scalar' || !['Long', 'Int', 'Timestamp'].includes(wm.type.scalar)) {
    throw new Error(`watermark column ${table}.${wm.name} must be Long or Timestamp`);
  }
  const tieBreaker = (options.tieBreaker ?? []).map((name) => {
    const c = byName.get(name);
    if (!c) throw new Error(`table ${table} has no tie-breaker column ${name}`);
    if (c.type.kind !== 'scalar' || !['Text', 'Long', 'Int'].includes(c.type.scalar)) {
      throw new Error(`tie-breaker column ${table}.${name} must be Text, Long or Int`);
    }
    return c;
  });
  if (options.after) {
    const a = options.after;
    if (!Number.isSafeInteger(a.watermark))
      throw new Error(`cursor watermark must be an integer, got ${a.watermark}`);
    if (a.tie !== undefined && a.tie.length !== tieBreaker.length) {
      throw new Error(
        `cursor has ${a.tie.length} tie values but the read has ${tieBreaker.length} tie-breaker columns`,
      );
    }
  }
  const wanted = options.columns ? options.columns.map((n) => n) : columns.map((c) => c.name);
  for (const extra of [wm.name, ...tieBreaker.map((c) => c.name)])
    if (!wanted.includes(extra)) wanted.push(extra);
  const selected = wanted.map((n) => {
    const c = byName.get(n);
    if (!c) throw new Error(`table ${table} has no column ${n}`);
    return c;
  });
  return {
    watermarkType: wm.type.scalar === 'Timestamp' ? 'Timestamp' : 'Long',
    columns: selected,
    tieBreaker,
  };
}

type TieValue = string | number;

function tieOf(row: OfflineRow, tie: readonly string[]): TieValue[] | undefined {
  const out: TieValue[] = [];
  for (const name of tie) {
    const v = row[name];
    if (typeof v !== 'string' && typeof v !== 'number') return undefined;
    out.push(v);
  }
  return out;
}

function sameTie(a: OfflineRow, b: OfflineRow, tie: readonly string[]): boolean {
  return tie.every((name) => a[name] === b[name]);
}

/**
 * Whether candidate position `a` lies after the current cursor `b`. A watermark-only position is the
 * end of its watermark. Two exact positions at one watermark compare by stream order, and candidates
 * come in stream order, so the newer one is after.
 */
function isAfter(a: IncrementalCursor, b: IncrementalCursor | undefined): boolean {
  if (!b) return true;
  if (a.watermark !== b.watermark) return a.watermark > b.watermark;
  if (a.tie === undefined) return b.tie !== undefined;
  return b.tie !== undefined;
}

/** Cuts an ordered stream of row batches into pages of `pageSize` rows with cursors. */
export async function* paginate(
  batches: AsyncIterable<OfflineRow[]>,
  options: {
    pageSize: number;
    watermarkColumn: string;
    tieBreaker: readonly string[];
    after?: IncrementalCursor;
  },
): AsyncGenerator<IncrementalPage> {
  const { pageSize, watermarkColumn, tieBreaker } = options;
  const wmOf = (row: OfflineRow): number => {
    const v = row[watermarkColumn];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new Error(`watermark ${watermarkColumn} must be an integer within ±2^53, got ${String(v)}`);
    }
    return v;
  };
  let cursor: IncrementalCursor | undefined = options.after;
  /** The greatest watermark all of whose rows are known to be delivered or in the page being built. */
  let completeWm: number | undefined;
  let page: OfflineRow[] = [];
  let prev: OfflineRow | undefined;

  const finish = (rows: OfflineRow[], next: OfflineRow | undefined): IncrementalPage => {
    const lastRow = rows[rows.length - 1]!;
    const lastWm = wmOf(lastRow);
    const lastTie = tieBreaker.length > 0 ? tieOf(lastRow, tieBreaker) : undefined;
    const last: IncrementalCursor = lastTie ? { watermark: lastWm, tie: lastTie } : { watermark: lastWm };
    let candidate: IncrementalCursor | undefined;
    if (next === undefined || wmOf(next) !== lastWm) candidate = { watermark: lastWm };
    else if (lastTie && !sameTie(lastRow, next, tieBreaker)) candidate = { watermark: lastWm, tie: lastTie };
    else if (completeWm !== undefined) candidate = { watermark: completeWm };
    if (candidate && isAfter(candidate, cursor)) cursor = candidate;
    return {
      rows,
      cursor: cursor ? { ...cursor, ...(cursor.tie ? { tie: [...cursor.tie] } : {}) } : undefined,
      last,
    };
  };

  for await (const batch of batches) {
    for (const row of batch) {
      if (page.length === pageSize) {
        yield finish(page, row);
        page = [];
      }
      if (prev !== undefined && wmOf(row) !== wmOf(prev)) {
        if (wmOf(row) < wmOf(prev))
          throw new Error(`rows came back out of watermark order (${wmOf(row)} after ${wmOf(prev)})`);
        completeWm = wmOf(prev);
      }
      page.push(row);
      prev = row;
    }
  }
  if (page.length > 0) yield finish(page, undefined);
}
