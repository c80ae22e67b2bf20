import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { FieldType } from '../../domain/definitions/field-types.ts';
import type { TransformParams, TransformResult } from '../../domain/transforms/transform-file.ts';
import type { FieldValue } from '../../domain/values/coerce-value.ts';

/**
 * One row of an offline table, in Ferry's in-memory value forms (domain/values/coerce-value.ts):
 * Text string, Long/Int/Double/Float number, Boolean boolean, Timestamp epoch milliseconds,
 * Bytes Buffer, lists as arrays. Rows read back never hold a NULL list: both stores return `[]`
 * (BigQuery cannot store a NULL array). A warehouse integer outside ±2^53 comes back as its
 * decimal text so that it fails validation downstream instead of losing digits silently.
 */
export type OfflineRow = Record<string, FieldValue>;

/** The SQL dialect of a store; per-dialect transform files are named `name.<dialect>.sql`. */
export type Dialect = 'duckdb' | 'bigquery';

/** A column of an offline table, typed with a Ferry field type. Every column is nullable. */
export interface ColumnSpec {
  name: string;
  type: FieldType;
}

export interface TableOptions {
  /** BigQuery: partition by the day of this Timestamp column (ignored by DuckDB). */
  partitionByDay?: string;
  /** BigQuery: cluster by these columns, at most 4 (ignored by DuckDB). */
  clusterBy?: readonly string[];
  /** BigQuery: partitions older than this expire on their own (ignored by DuckDB). */
  partitionExpirationMs?: number;
}

/** The tables a feature uses in the offline store. */
export interface FeatureTables {
  /** Where downsync writes the feature's rows: keys, values, `_last_updated_at_ms`, `_event_time`. */
  table: string;
  deadLetterTable: string;
}

/**
 * A resumable position in a table ordered by (watermark, tie-breaker columns...).
 * Every row at or before the position has been delivered; a read given it as `after`
 * returns the rows strictly after it. Without `tie`, the position is the end of all rows whose
 * watermark equals `watermark`. Plain JSON: callers persist it as it is.
 */
export interface IncrementalCursor {
  /** Watermark value; epoch milliseconds when the watermark column is a Timestamp. */
  watermark: number;
  /** Values of the tie-breaker columns of the last delivered row at `watermark` (never null). */
  tie?: (string | number)[];
}

export interface IncrementalReadOptions {
  /** A Long column (e.g. `_last_updated_at_ms`) or a Timestamp column (compared in milliseconds). */
  watermarkColumn: string;
  /** Start after this position; undefined reads from the beginning. */
  after?: IncrementalCursor;
  /** Rows per page (every page but the last has exactly this many). */
  pageSize: number;
  /**
   * Columns that, with the watermark, identify a row (e.g. the feature's key fields). With them,
   * page cursors are exact and a resume repeats nothing; without them a cursor only ever advances
   * to a watermark value that is complete, so a resume may repeat the rows of one watermark value.
   * Text, Long or Int columns.
   */
  tieBreaker?: readonly string[];
  /** Columns to return (default: all). */
  columns?: readonly string[];
  /**
   * Called once, before the first page, when rows have a NULL watermark: such rows can never be
   * ordered after a cursor, so an incremental read cannot deliver them. `sample` holds up to 10 of
   * them (for dead letters). Without a callback, the store emits a process warning instead.
   */
  onNullWatermarks?: (report: NullWatermarkReport) => void | Promise<void>;
}

export interface NullWatermarkReport {
  table: string;
  watermarkColumn: string;
  count: number;
  sample: OfflineRow[];
}

export interface IncrementalPage {
  rows: OfflineRow[];
  /**
   * Where to resume after this page: persist it once the page is processed. It never skips a row.
   * It is the last row's position when the next row sorts after it (always, when the tie-breaker
   * identifies rows); otherwise the last position that is complete, which may lie before this page
   * (then it equals the cursor of an earlier page, or `after`). Undefined only when nothing is
   * complete yet and the read started at the beginning.
   */
  cursor: IncrementalCursor | undefined;
  /** The last row's position (exact only when the tie-breaker identifies rows). */
  last: IncrementalCursor;
}

/** Where a dead letter comes from: `event` is a domain event a feature's from_events rules could not map. */
export type DeadLetterOrigin = 'upsync' | 'command' | 'event' | 'downsync' | 'transform';

/** A row or command that failed validation, kept with the reason so it can be inspected and replayed. */
export interface DeadLetter {
  id: string;
  /** Full feature name, e.g. `azar::user-profile`. */
  feature: string;
  origin: DeadLetterOrigin;
  reason: string;
  /** The rejected row or command as text (JSON for rows and commands). */
  payload: string;
  occurredAtMs: number;
}

export type NewDeadLetter = Omit<DeadLetter, 'id'> & { id?: string };

/** Half-open range [fromMs, toMs) of `occurred_at`; either end may be left open. */
export interface TimeRange {
  fromMs?: number;
  toMs?: number;
}

/** Thrown for rows that do not fit the table; names the row and column. Nothing is written. */
export class OfflineStoreInputError extends Error {
  constructor(
    readonly table: string,
    readonly rowIndex: number,
    readonly column: string,
    reason: string,
  ) {
    super(`${table} row ${rowIndex}, ${column}: ${reason}`);
    this.name = 'OfflineStoreInputError';
  }
}

/** The table that dead letters of every feature go to. */
export const deadLetterTable = 'ferry_dead_letters';

/** The day column that partitions a feature's offline table (derived from `_last_updated_at_ms`). */
export { offlineEventTimeColumn as eventTimeColumn } from '../../domain/definitions/feature-definition.ts';

/**
 * The offline store: the warehouse that training reads, where SQL transforms run, where upsync
 * reads from and where downsync copies and dead letters are written. Implemented by DuckDB (the
 * embedded default, one file under the data folder) and BigQuery; both pass
 * test/conformance/offline-store-conformance.ts.
 *
 * Table names are plain identifiers (letters, digits, `_`) inside the store's schema or dataset.
 */
export interface OfflineStore {
  readonly kind: Dialect;
  /** The dialect of per-dialect transform files this store picks. */
  readonly dialect: Dialect;

  /** Creates the table when missing and adds missing columns (never drops or retypes one). */
  ensureTable(table: string, columns: readonly ColumnSpec[], options?: TableOptions): Promise<void>;
  /** The table's columns with their Ferry types, or undefined when there is no such table. */
  describeTable(table: string): Promise<ColumnSpec[] | undefined>;
  dropTable(table: string): Promise<void>;

  /**
   * Creates the feature's offline table (keys, value fields, `_last_updated_at_ms` Long and
   * `_event_time` Timestamp; BigQuery: partitioned by the day of `_event_time`, clustered by the
   * keys, partitions expiring after the offline retention) and the dead-letter table. Idempotent;
   * adds columns for fields added to the definition.
   */
  ensureFeatureTables(def: FeatureDefinition): Promise<FeatureTables>;

  /**
   * Appends rows in batches (default 1,000 rows per request or transaction); returns the count.
   * Every row is checked against the table first; a field the table lacks or a value that does not
   * fit throws OfflineStoreInputError before anything is written. A missing `_event_time` is filled
   * from `_last_updated_at_ms` when the table has both.
   */
  appendRows(
    table: string,
    rows: readonly Record<string, unknown>[],
    options?: { batchSize?: number },
  ): Promise<number>;

  /**
   * Rows whose watermark sorts after `options.after`, in (watermark, tie-breaker) order, as pages of
   * `pageSize` rows. The result is streamed, never loaded into memory, and no row is skipped or
   * repeated across pages. BigQuery runs one query (one snapshot); DuckDB one per window of whole
   * watermark values (~100,000 rows), so a later window may also see rows appended during the read.
   * Rows with a NULL watermark are counted and reported through `onNullWatermarks`.
   */
  readIncremental(table: string, options: IncrementalReadOptions): AsyncIterable<IncrementalPage>;

  /** Every row of a small table, ordered by the given columns: for tests, previews and the CLI. */
  readRows(table: string, options?: { orderBy?: readonly string[]; limit?: number }): Promise<OfflineRow[]>;

  /**
   * Runs a transform from the SQL folder (`name` relative to it, e.g. `azar/user_profile.sql`;
   * `name.<dialect>.sql` wins when present) into its destination table, replacing or appending as
   * its header declares. A warehouse error becomes a TransformError naming the file and line.
   */
  runTransform(name: string, params: TransformParams): Promise<TransformResult>;

  /** Writes dead letters (an id is generated when missing); returns them as stored. */
  writeDeadLetters(letters: readonly NewDeadLetter[]): Promise<DeadLetter[]>;
  /** A feature's dead letters that occurred in the range, oldest first (ties by id). */
  readDeadLetters(feature: string, range?: TimeRange & { limit?: number }): Promise<DeadLetter[]>;
  /**
   * Deletes the dead letters with these ids (every copy of an id; unknown ids are ignored); returns
   * how many rows went. Replaying dead letters removes the ones that now pass. BigQuery refuses DML
   * on rows still in the streaming buffer (about 30 minutes after they were inserted): such a call
   * fails and can be retried later.
   */
  deleteDeadLetters(ids: readonly string[]): Promise<number>;

  /**
   * Retention: deletes the rows whose `timeColumn` (Timestamp, or Long epoch milliseconds) is
   * before `cutoffMs`, exactly; returns how many. BigQuery drops whole partitions where the
   * predicate covers them (a metadata-only delete) and rewrites only the cutoff's day.
   */
  deleteOlderThan(table: string, timeColumn: string, cutoffMs: number): Promise<number>;

  /** Resolves when the store answers; throws otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
