import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  BIGINT,
  blobValue,
  DATE,
  type DuckDBArrayType,
  type DuckDBBlobValue,
  DuckDBConnection,
  DuckDBDateValue,
  type DuckDBDecimalType,
  DuckDBDecimalValue,
  DuckDBInstance,
  type DuckDBListType,
  type DuckDBListValue,
  type DuckDBResult,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  LIST,
  listValue,
  TIMESTAMP,
  VARCHAR,
} from '@duckdb/node-api';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { formatFieldType, widens } from '../../domain/definitions/field-types.ts';
import { toDuckDbParams } from '../../domain/transforms/sql-text.ts';
import { appendColumnsError, transformErrorFrom } from '../../domain/transforms/transform-error.ts';
import {
  loadTransform,
  resolveParams,
  type TransformFile,
  type TransformParams,
  type TransformResult,
} from '../../domain/transforms/transform-file.ts';
import type { FieldValue } from '../../domain/values/coerce-value.ts';
import {
  checkIdentifier,
  deadLetterColumns,
  duckDbType,
  featureTableColumns,
  featureTableName,
  fieldTypeFromDuckDb,
  integerValue,
  microsToMillis,
  prepareRows,
  sameStorage,
  toDeadLetter,
} from './column-types.ts';
import { fillInt64Column, type Int64Kind, isInt64Vector } from './duckdb-int64-column.ts';
import { checkRead, paginate } from './incremental.ts';
import {
  afterCursor,
  deadLetterDeleteBatch,
  deadLettersQuery,
  newDeadLetterRows,
  type SqlDialect,
  type SqlValue,
  textFlags,
} from './offline-sql.ts';
import {
  type ColumnSpec,
  type DeadLetter,
  deadLetterTable,
  type FeatureTables,
  type IncrementalPage,
  type IncrementalReadOptions,
  type NewDeadLetter,
  type OfflineRow,
  type OfflineStore,
  type TableOptions,
  type TimeRange,
} from './offline-store.ts';

export interface DuckDbOfflineStoreOptions {
  /** The database file (created with its folder when missing), or `:memory:`. */
  path: string;
  /** The folder of SQL transforms. */
  sqlDir: string;
  /** Base of relative paths (default: the process's working folder). */
  cwd?: string;
  /**
   * DuckDB settings passed when the database opens, e.g. `{ threads: '2' }`. `memory_limit`
   * defaults to `defaultDuckDbMemoryLimit`.
   */
  config?: Record<string, string>;
  /** Rows per ordered query of an incremental read (default `defaultReadWindowRows`). */
  readWindowRows?: number;
}

/**
 * An incremental read sorts the table in windows of about this many rows (whole watermark values):
 * DuckDB then holds two windows' sorts (the one being read, the next being prepared), a few MB,
 * instead of the rest of the table (about 65 MB for a million rows of six columns), for one extra
 * top-N query per window. 50,000 rather than 100,000: 10 MB less at the peak of a million-row
 * upsync, at the same speed (BENCHMARKS.md).
 */
export const defaultReadWindowRows = 50_000;

const maxBigint = 2n ** 63n - 1n;

/**
 * DuckDB's working memory in the embedded store. It bounds what an incremental read's sort (and a
 * transform's joins and aggregations) hold in memory; beyond it DuckDB spills to `<file>.tmp/`. At
 * 64 MB an incremental read of 1M rows peaks at about 285 MB resident for the whole process
 * (BENCHMARKS.md); DuckDB's own default is 80% of the machine's memory. FERRY_DUCKDB_MEMORY_LIMIT
 * sets it (stores/offline/open-offline-store.ts).
 */
export const defaultDuckDbMemoryLimit = '64MB';

/** The database file of the embedded offline store inside the data folder. */
export const duckDbFileName = 'offline.duckdb';

/**
 * GoogleSQL functions DuckDB lacks, defined as temporary macros on every connection so that a
 * transform can use them on both stores: UNIX_MILLIS / UNIX_MICROS / UNIX_SECONDS (rounding down,
 * as BigQuery does), TIMESTAMP_MILLIS / TIMESTAMP_MICROS / TIMESTAMP_SECONDS and SAFE_DIVIDE.
 */
export const bigQueryCompatMacros = [
  'CREATE OR REPLACE TEMP MACRO unix_millis(ts) AS CAST(floor(epoch_us(ts) / 1000) AS BIGINT)',
  'CREATE OR REPLACE TEMP MACRO unix_micros(ts) AS epoch_us(ts)',
  'CREATE OR REPLACE TEMP MACRO unix_seconds(ts) AS CAST(floor(epoch_us(ts) / 1000000) AS BIGINT)',
  'CREATE OR REPLACE TEMP MACRO timestamp_millis(ms) AS make_timestamp(CAST(ms AS BIGINT) * 1000)',
  'CREATE OR REPLACE TEMP MACRO timestamp_micros(us) AS make_timestamp(CAST(us AS BIGINT))',
  'CREATE OR REPLACE TEMP MACRO timestamp_seconds(s) AS make_timestamp(CAST(s AS BIGINT) * 1000000)',
  'CREATE OR REPLACE TEMP MACRO safe_divide(a, b) AS CASE WHEN b = 0 THEN NULL ELSE a / b END',
];

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

function isoDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/** Converts a DuckDB value of `type` to Ferry's in-memory form. */
function readerFor(type: DuckDBType): (v: DuckDBValue) => FieldValue {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
    case DuckDBTypeId.VARCHAR:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return (v) => v as FieldValue;
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
      return (v) => integerValue(v as bigint);
    case DuckDBTypeId.DECIMAL:
      return (v) => (v as DuckDBDecimalValue).toDouble();
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return (v) => microsToMillis((v as DuckDBTimestampValue).micros);
    case DuckDBTypeId.TIMESTAMP_MS:
      return (v) => Number((v as DuckDBTimestampMillisecondsValue).millis);
    case DuckDBTypeId.TIMESTAMP_S:
      return (v) => Number((v as DuckDBTimestampSecondsValue).seconds) * 1000;
    case DuckDBTypeId.TIMESTAMP_NS:
      return (v) => microsToMillis((v as DuckDBTimestampNanosecondsValue).nanos / 1000n);
    case DuckDBTypeId.DATE:
      return (v) => isoDate((v as DuckDBDateValue).days);
    case DuckDBTypeId.BLOB:
      return (v) => Buffer.from((v as DuckDBBlobValue).bytes);
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const item = readerFor((type as DuckDBListType | DuckDBArrayType).valueType);
      return (v) => (v as DuckDBListValue).items.map((x) => (x === null ? null : item(x)));
    }
    default:
      return (v) => String(v);
  }
}

/** Converts a Ferry value (already checked against the column's Ferry type) to a DuckDB value of `type`. */
function writerFor(type: DuckDBType): (v: FieldValue) => DuckDBValue {
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
      return (v) => BigInt(v as number);
    case DuckDBTypeId.DECIMAL: {
      const d = type as DuckDBDecimalType;
      return (v) => DuckDBDecimalValue.fromDouble(v as number, d.width, d.scale);
    }
    case DuckDBTypeId.TIMESTAMP:
      return (v) => new DuckDBTimestampValue(BigInt(v as number) * 1000n);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return (v) => new DuckDBTimestampTZValue(BigInt(v as number) * 1000n);
    case DuckDBTypeId.TIMESTAMP_MS:
      return (v) => new DuckDBTimestampMillisecondsValue(BigInt(v as number));
    case DuckDBTypeId.TIMESTAMP_S:
      return (v) => new DuckDBTimestampSecondsValue(BigInt(Math.floor((v as number) / 1000)));
    case DuckDBTypeId.TIMESTAMP_NS:
      return (v) => new DuckDBTimestampNanosecondsValue(BigInt(v as number) * 1_000_000n);
    case DuckDBTypeId.BLOB:
      return (v) => blobValue(v as Buffer);
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const item = writerFor((type as DuckDBListType).valueType);
      return (v) => listValue((v as FieldValue[]).map((x) => (x === null ? null : item(x))));
    }
    default:
      return (v) => v as DuckDBValue;
  }
}

/** Reads a whole result as rows of Ferry values. */
function rowsOf(
  names: readonly string[],
  types: readonly DuckDBType[],
  columns: DuckDBValue[][],
  count: number,
): OfflineRow[] {
  const readers = types.map(readerFor);
  const lists = types.map((t) => t.typeId === DuckDBTypeId.LIST || t.typeId === DuckDBTypeId.ARRAY);
  const out: OfflineRow[] = new Array(count);
  for (let r = 0; r < count; r++) {
    const row: OfflineRow = {};
    for (let c = 0; c < names.length; c++) {
      const v = columns[c]![r]!;
      row[names[c]!] = v === null ? (lists[c] ? [] : null) : readers[c]!(v);
    }
    out[r] = row;
  }
  return out;
}

/**
 * Streams a result chunk by chunk (2,048 rows), converting straight from the column vectors, in
 * slices of at most `sliceRows` rows: only the rows about to be used exist as objects (the rest of
 * the chunk waits in DuckDB's vectors), so fewer of them live through a young collection.
 */
const duckDbDialect: SqlDialect = { quote: q, param: (name) => `$${name}` };

/** Typed parameters as DuckDB binds them. */
function duckDbParams(params: Record<string, SqlValue>): {
  values: Record<string, DuckDBValue>;
  types: Record<string, DuckDBType>;
} {
  const values: Record<string, DuckDBValue> = {};
  const types: Record<string, DuckDBType> = {};
  for (const [name, p] of Object.entries(params)) {
    if (p.type === 'int64') [values[name], types[name]] = [p.value, BIGINT];
    else if (p.type === 'string') [values[name], types[name]] = [p.value, VARCHAR];
    else [values[name], types[name]] = [msTimestamp(p.ms), TIMESTAMP];
  }
  return { values, types };
}

/**
 * Frees what a streaming result left open on `conn` (a read stopped before its end). DuckDB keeps
 * such a result's sorted rows pinned, up to the whole memory_limit, and node-api has no close for
 * it: it frees the result when V8 happens to collect the JS object, and closing the connection
 * does not free it either. A new query on the connection closes the previous result at once.
 */
async function releaseStreamedResult(conn: DuckDBConnection): Promise<void> {
  await conn.run('SELECT 1').catch(() => undefined);
}

async function* chunksOf(result: DuckDBResult, sliceRows = 2048): AsyncGenerator<OfflineRow[]> {
  const slice = Math.max(1, Math.floor(sliceRows));
  const names = result.columnNames();
  const types = result.columnTypes();
  const readers = types.map(readerFor);
  const lists = types.map((t) => t.typeId === DuckDBTypeId.LIST || t.typeId === DuckDBTypeId.ARRAY);
  // int64 columns are read from their bytes (no bigint per value); the same values as `readers`
  const int64Kinds = types.map((t): Int64Kind | undefined =>
    t.typeId === DuckDBTypeId.BIGINT
      ? 'integer'
      : t.typeId === DuckDBTypeId.TIMESTAMP || t.typeId === DuckDBTypeId.TIMESTAMP_TZ
        ? 'micros-to-millis'
        : undefined,
  );
  const int64Slow = int64Kinds.map((k) => (k === 'integer' ? integerValue : microsToMillis));
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) return;
    const count = chunk.rowCount;
    const vectors = names.map((_, c) => chunk.getColumnVector(c));
    for (let from = 0; from < count; from += slice) {
      const n = Math.min(slice, count - from);
      const rows: OfflineRow[] = new Array(n);
      for (let r = 0; r < n; r++) rows[r] = {};
      for (let c = 0; c < names.length; c++) {
        const vector = vectors[c]!;
        const name = names[c]!;
        const read = readers[c]!;
        const int64 = int64Kinds[c];
        if (int64 && isInt64Vector(vector)) {
          fillInt64Column(rows, name, vector, from, int64, int64Slow[c]!);
          continue;
        }
        const empty = lists[c] ? () => [] : () => null;
        for (let r = 0; r < n; r++) {
          const v = vector.getItem(from + r);
          rows[r]![name] = v === null ? empty() : read(v);
        }
      }
      yield rows;
    }
  }
}

function msTimestamp(ms: number): DuckDBTimestampValue {
  return new DuckDBTimestampValue(BigInt(ms) * 1000n);
}

/** The embedded offline store: one DuckDB file under the data folder. */
export class DuckDbOfflineStore implements OfflineStore {
  readonly kind = 'duckdb' as const;
  readonly dialect = 'duckdb' as const;
  private queue: Promise<unknown> = Promise.resolve();
  private deadLettersReady = false;
  private closed = false;
  private readonly readers = new Set<DuckDBConnection>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly sqlDir: string,
    private readonly cwd: string,
    private readonly readWindowRows: number,
  ) {}

  static async open(options: DuckDbOfflineStoreOptions): Promise<DuckDbOfflineStore> {
    const cwd = options.cwd ?? process.cwd();
    let file = options.path;
    if (file !== ':memory:') {
      file = path.resolve(cwd, file);
      await mkdir(path.dirname(file), { recursive: true });
    }
    const instance = await DuckDBInstance.create(file, {
      memory_limit: defaultDuckDbMemoryLimit,
      ...options.config,
    });
    const conn = await DuckDBConnection.create(instance);
    await DuckDbOfflineStore.prepareConnection(conn);
    const window = options.readWindowRows ?? defaultReadWindowRows;
    if (!Number.isSafeInteger(window) || window < 1)
      throw new Error(`readWindowRows must be a positive integer, got ${window}`);
    return new DuckDbOfflineStore(instance, conn, options.sqlDir, cwd, window);
  }

  private static async prepareConnection(conn: DuckDBConnection): Promise<void> {
    for (const m of bigQueryCompatMacros) await conn.run(m);
  }

  /** Runs `fn` alone on the main connection (a DuckDB connection runs one statement at a time). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('offline store is closed'));
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async describe(table: string): Promise<{ spec: ColumnSpec[]; raw: string[] } | undefined> {
    const reader = await this.conn.runAndReadAll(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = $t ORDER BY ordinal_position`,
      { t: table },
      { t: VARCHAR },
    );
    const rows = reader.getRows();
    if (rows.length === 0) return undefined;
    const spec: ColumnSpec[] = [];
    const raw: string[] = [];
    for (const [name, dataType] of rows as [string, string][]) {
      // a type Ferry has no field type for (DATE, STRUCT, ...) reads back as text
      spec.push({ name, type: fieldTypeFromDuckDb(dataType) ?? { kind: 'scalar', scalar: 'Text' } });
      raw.push(dataType);
    }
    return { spec, raw };
  }

  describeTable(table: string): Promise<ColumnSpec[] | undefined> {
    checkIdentifier('table name', table);
    return this.exclusive(async () => (await this.describe(table))?.spec);
  }

  private async ensure(table: string, columns: readonly ColumnSpec[]): Promise<void> {
    checkIdentifier('table name', table);
    for (const c of columns) checkIdentifier('column name', c.name);
    const existing = await this.describe(table);
    if (!existing) {
      await this.conn.run(
        `CREATE TABLE IF NOT EXISTS ${q(table)} (${columns.map((c) => `${q(c.name)} ${duckDbType(c.type)}`).join(', ')})`,
      );
      return;
    }
    const have = new Map(existing.spec.map((c) => [c.name, c]));
    for (const c of columns) {
      const h = have.get(c.name);
      if (!h) {
        await this.conn.run(`ALTER TABLE ${q(table)} ADD COLUMN ${q(c.name)} ${duckDbType(c.type)}`);
      } else if (sameStorage(c.type, h.type, 'duckdb')) {
        // holds the values as they are
      } else if (widens(h.type, c.type)) {
        // the warehouse casts every stored value (Int → BIGINT, FLOAT → DOUBLE, ...), lists item by item
        await this.conn.run(`ALTER TABLE ${q(table)} ALTER COLUMN ${q(c.name)} TYPE ${duckDbType(c.type)}`);
      } else {
        throw new Error(
          `offline table ${table}: column ${c.name} holds ${formatFieldType(h.type)}, not ${formatFieldType(c.type)}; ` +
            'a type change needs a new column or a new feature version',
        );
      }
    }
  }

  ensureTable(table: string, columns: readonly ColumnSpec[], _options?: TableOptions): Promise<void> {
    return this.exclusive(() => this.ensure(table, columns));
  }

  dropTable(table: string): Promise<void> {
    checkIdentifier('table name', table);
    return this.exclusive(async () => {
      await this.conn.run(`DROP TABLE IF EXISTS ${q(table)}`);
      if (table === deadLetterTable) this.deadLettersReady = false;
    });
  }

  ensureFeatureTables(def: FeatureDefinition): Promise<FeatureTables> {
    const table = featureTableName(def);
    return this.exclusive(async () => {
      await this.ensure(table, featureTableColumns(def));
      await this.ensure(deadLetterTable, deadLetterColumns);
      this.deadLettersReady = true;
      return { table, deadLetterTable };
    });
  }

  private async append(
    table: string,
    rows: readonly Record<string, unknown>[],
    batchSize: number,
  ): Promise<number> {
    checkIdentifier('table name', table);
    const described = await this.describe(table);
    if (!described) throw new Error(`no table ${table} in the offline store`);
    const prepared = prepareRows(table, described.spec, rows);
    if (prepared.length === 0) return 0;
    for (let start = 0; start < prepared.length; start += batchSize) {
      const appender = await this.conn.createAppender(table);
      try {
        const writers = Array.from({ length: appender.columnCount }, (_, i) =>
          writerFor(appender.columnType(i)),
        );
        const types = Array.from({ length: appender.columnCount }, (_, i) => appender.columnType(i));
        for (const values of prepared.slice(start, start + batchSize)) {
          for (let c = 0; c < values.length; c++) {
            const v = values[c]!;
            if (v === null) appender.appendNull();
            else appender.appendValue(writers[c]!(v), types[c]);
          }
          appender.endRow();
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
    }
    return prepared.length;
  }

  appendRows(
    table: string,
    rows: readonly Record<string, unknown>[],
    options: { batchSize?: number } = {},
  ): Promise<number> {
    const batchSize = options.batchSize ?? 1000;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    return this.exclusive(() => this.append(table, rows, batchSize));
  }

  async *readIncremental(table: string, options: IncrementalReadOptions): AsyncGenerator<IncrementalPage> {
    checkIdentifier('table name', table);
    const described = await this.describeTable(table);
    const read = checkRead(table, described, options);
    const col = q(options.watermarkColumn);
    const wm = read.watermarkType === 'Timestamp' ? `CAST(floor(epoch_us(${col}) / 1000) AS BIGINT)` : col;

    const nulls = await this.exclusive(async () => {
      const n = await this.conn.runAndReadAll(`SELECT COUNT(*) FROM ${q(table)} WHERE ${col} IS NULL`);
      const count = Number(n.getRows()[0]![0] as bigint);
      if (count === 0) return undefined;
      const s = await this.conn.runAndReadAll(`SELECT * FROM ${q(table)} WHERE ${col} IS NULL LIMIT 10`);
      return { count, sample: rowsOf(s.columnNames(), s.columnTypes(), s.getColumns(), s.currentRowCount) };
    });
    if (nulls) {
      const report = { table, watermarkColumn: options.watermarkColumn, ...nulls };
      if (options.onNullWatermarks) await options.onNullWatermarks(report);
      else
        process.emitWarning(
          `${table}: ${nulls.count} rows have a NULL ${options.watermarkColumn}; incremental reads skip them`,
        );
    }

    let where = `${col} IS NOT NULL`;
    const after = options.after;
    const resume = after ? afterCursor(duckDbDialect, wm, textFlags(read.tieBreaker), after) : undefined;
    if (resume) where += ` AND (${resume.sql})`;
    const { values, types } = duckDbParams(resume?.params ?? {});
    const order = [`${wm} ASC`, ...read.tieBreaker.map((c) => `${q(c.name)} ASC NULLS FIRST`)].join(', ');
    const select = read.columns.map((c) => q(c.name)).join(', ');
    const windowRows = this.readWindowRows;

    if (this.closed) throw new Error('offline store is closed');
    // a streaming result keeps its connection busy: each read gets its own two, one streaming the
    // current window while the other sorts the next
    const conns = [
      await DuckDBConnection.create(this.instance),
      await DuckDBConnection.create(this.instance),
    ];
    for (const c of conns) this.readers.add(c);
    /**
     * Opens the window that starts at watermark `from` (the first: undefined) on `conn`: the
     * watermark of its `windowRows`-th row (`hi`, undefined for the last window), then its rows
     * ordered, as a streaming result whose sort is done.
     */
    const openWindow = async (conn: DuckDBConnection, from: bigint | undefined) => {
      const scope = from === undefined ? where : `${where} AND ${wm} >= $lo`;
      const scoped = { ...values, ...(from !== undefined ? { lo: from } : {}) };
      const scopedTypes = { ...types, ...(from !== undefined ? { lo: BIGINT } : {}) };
      const edge = await conn.runAndReadAll(
        `SELECT ${wm} FROM ${q(table)} WHERE ${scope} ORDER BY 1 LIMIT 1 OFFSET ${windowRows - 1}`,
        scoped,
        scopedTypes,
      );
      const found = edge.currentRowCount > 0 ? BigInt(edge.getRows()[0]![0] as bigint | number) : undefined;
      const hi = found === maxBigint ? undefined : found;
      const bounded = hi === undefined ? scope : `${scope} AND ${wm} <= $hi`;
      const result = await conn.stream(
        `SELECT ${select} FROM ${q(table)} WHERE ${bounded} ORDER BY ${order}`,
        hi === undefined ? scoped : { ...scoped, hi },
        hi === undefined ? scopedTypes : { ...scopedTypes, hi: BIGINT },
      );
      return { result, hi };
    };
    let prefetch: Promise<unknown> | undefined;
    /**
     * The read goes through the table in windows of whole watermark values holding about
     * `windowRows` rows, each one ordered query: sorting the whole rest of a large table at once
     * would hold all of it in DuckDB's memory (or spill it). A window ends at the watermark of its
     * `windowRows`-th row, inclusive, so a window never splits the rows of one watermark value
     * and the concatenated windows are exactly the one ordered stream. The next window's queries
     * run on DuckDB's threads while this one's rows are read and written (two windows sorted at
     * most).
     */
    async function* windows(): AsyncGenerator<OfflineRow[]> {
      let current = openWindow(conns[0]!, undefined);
      for (let i = 1; ; i++) {
        const { result, hi } = await current;
        if (hi === undefined) {
          yield* chunksOf(result, options.pageSize);
          return;
        }
        const next = openWindow(conns[i % 2]!, hi + 1n);
        prefetch = next.catch(() => undefined); // awaited (and thrown) on the next turn
        yield* chunksOf(result, options.pageSize);
        current = next;
      }
    }
    try {
      yield* paginate(windows(), {
        pageSize: options.pageSize,
        watermarkColumn: options.watermarkColumn,
        tieBreaker: read.tieBreaker.map((c) => c.name),
        ...(after ? { after } : {}),
      });
    } finally {
      // a read stopped early may leave the next window's queries running: let them end first
      await prefetch;
      for (const c of conns) {
        this.readers.delete(c);
        await releaseStreamedResult(c);
        c.closeSync();
      }
    }
  }

  readRows(
    table: string,
    options: { orderBy?: readonly string[]; limit?: number } = {},
  ): Promise<OfflineRow[]> {
    checkIdentifier('table name', table);
    for (const c of options.orderBy ?? []) checkIdentifier('column name', c);
    return this.exclusive(async () => {
      const order = options.orderBy?.length
        ? ` ORDER BY ${options.orderBy.map((c) => `${q(c)} ASC NULLS FIRST`).join(', ')}`
        : '';
      const limit = options.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(options.limit))}` : '';
      const r = await this.conn.runAndReadAll(`SELECT * FROM ${q(table)}${order}${limit}`);
      return rowsOf(r.columnNames(), r.columnTypes(), r.getColumns(), r.currentRowCount);
    });
  }

  runTransform(name: string, params: TransformParams): Promise<TransformResult> {
    return this.exclusive(async () => {
      const t0 = performance.now();
      const transform = await loadTransform(this.sqlDir, name, this.dialect, this.cwd);
      const resolved = resolveParams(params);
      const values: Record<string, DuckDBValue> = {};
      const types: Record<string, DuckDBType> = {};
      for (const p of transform.params) {
        if (p === 'logical_date') {
          values[p] = new DuckDBDateValue(
            Math.round(Date.parse(`${resolved.logical_date}T00:00:00Z`) / 86_400_000),
          );
          types[p] = DATE;
        } else {
          values[p] = msTimestamp(resolved[p]);
          types[p] = TIMESTAMP;
        }
      }
      const body = toDuckDbParams(transform.sql);
      const dest = q(transform.destination);
      const existing = await this.describe(transform.destination);
      let rowsWritten: number;
      if (transform.writeMode === 'replace' || !existing) {
        const prefix = `CREATE OR REPLACE TABLE ${dest} AS `;
        const r = await this.runStatement(transform, prefix, `${prefix}${body}\n`, values, types);
        rowsWritten = Number(r.getRows()[0]?.[0] ?? 0);
      } else {
        const probePrefix = 'SELECT * FROM (';
        const probe = await this.runStatement(
          transform,
          probePrefix,
          `${probePrefix}${body}\n) AS ferry_body LIMIT 0`,
          values,
          types,
        );
        const mismatch = appendColumnsError(
          transform,
          probe.columnNames(),
          existing.spec.map((c) => c.name),
        );
        if (mismatch) throw mismatch;
        const cols = probe.columnNames().map(q).join(', ');
        const prefix = `INSERT INTO ${dest} (${cols}) SELECT ${cols} FROM (`;
        const r = await this.runStatement(
          transform,
          prefix,
          `${prefix}${body}\n) AS ferry_body`,
          values,
          types,
        );
        rowsWritten = Number(r.getRows()[0]?.[0] ?? 0);
      }
      return {
        name: transform.name,
        file: transform.file,
        destination: transform.destination,
        writeMode: transform.writeMode,
        rowsWritten,
        elapsedMs: Math.round(performance.now() - t0),
      };
    });
  }

  private async runStatement(
    transform: TransformFile,
    prefix: string,
    sql: string,
    values: Record<string, DuckDBValue>,
    types: Record<string, DuckDBType>,
  ) {
    try {
      return await this.conn.runAndReadAll(sql, values, types);
    } catch (e) {
      throw transformErrorFrom(transform, e, prefix.length);
    }
  }

  private async ensureDeadLetters(): Promise<void> {
    if (this.deadLettersReady) return;
    await this.ensure(deadLetterTable, deadLetterColumns);
    this.deadLettersReady = true;
  }

  writeDeadLetters(letters: readonly NewDeadLetter[]): Promise<DeadLetter[]> {
    const stored: DeadLetter[] = letters.map((l) => ({ ...l, id: l.id ?? randomUUID() }));
    return this.exclusive(async () => {
      await this.ensureDeadLetters();
      const present = new Set<string>();
      const ids = [...new Set(stored.map((l) => l.id))];
      for (let start = 0; start < ids.length; start += deadLetterDeleteBatch) {
        const r = await this.conn.runAndReadAll(
          `SELECT id FROM ${q(deadLetterTable)} WHERE list_contains($ids, id)`,
          { ids: listValue(ids.slice(start, start + deadLetterDeleteBatch)) },
          { ids: LIST(VARCHAR) },
        );
        for (const [id] of r.getRows()) present.add(String(id));
      }
      await this.append(deadLetterTable, newDeadLetterRows(stored, present), 1000);
      return stored;
    });
  }

  readDeadLetters(feature: string, range: TimeRange & { limit?: number } = {}): Promise<DeadLetter[]> {
    return this.exclusive(async () => {
      if (!(await this.describe(deadLetterTable))) return [];
      const query = deadLettersQuery(duckDbDialect, q(deadLetterTable), feature, range);
      const { values, types } = duckDbParams(query.params);
      const r = await this.conn.runAndReadAll(query.sql, values, types);
      return rowsOf(r.columnNames(), r.columnTypes(), r.getColumns(), r.currentRowCount).map(toDeadLetter);
    });
  }

  deleteDeadLetters(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return Promise.resolve(0);
    return this.exclusive(async () => {
      if (!(await this.describe(deadLetterTable))) return 0;
      let deleted = 0;
      for (let start = 0; start < ids.length; start += deadLetterDeleteBatch) {
        const r = await this.conn.run(
          `DELETE FROM ${q(deadLetterTable)} WHERE list_contains($ids, id)`,
          { ids: listValue(ids.slice(start, start + deadLetterDeleteBatch).map(String)) },
          { ids: LIST(VARCHAR) },
        );
        deleted += r.rowsChanged;
      }
      return deleted;
    });
  }

  deleteOlderThan(table: string, timeColumn: string, cutoffMs: number): Promise<number> {
    checkIdentifier('table name', table);
    checkIdentifier('column name', timeColumn);
    if (!Number.isSafeInteger(cutoffMs))
      throw new Error(`cutoff must be epoch milliseconds, got ${cutoffMs}`);
    return this.exclusive(async () => {
      const described = await this.describe(table);
      const col = described?.spec.find((c) => c.name === timeColumn);
      if (!col) throw new Error(`no column ${timeColumn} in offline table ${table}`);
      const isTs = col.type.kind === 'scalar' && col.type.scalar === 'Timestamp';
      if (
        !isTs &&
        !(col.type.kind === 'scalar' && (col.type.scalar === 'Long' || col.type.scalar === 'Int'))
      ) {
        throw new Error(
          `retention column ${table}.${timeColumn} must be Timestamp or Long epoch milliseconds`,
        );
      }
      const r = await this.conn.run(
        `DELETE FROM ${q(table)} WHERE ${q(timeColumn)} < $cutoff`,
        { cutoff: isTs ? msTimestamp(cutoffMs) : BigInt(cutoffMs) },
        { cutoff: isTs ? TIMESTAMP : BIGINT },
      );
      return r.rowsChanged;
    });
  }

  ping(): Promise<void> {
    return this.exclusive(async () => {
      await this.conn.run('SELECT 1');
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    for (const r of this.readers) r.closeSync();
    this.readers.clear();
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
