import { randomUUID } from 'node:crypto';
import { BigQuery } from '@google-cloud/bigquery';
import { PassThroughClient } from 'google-auth-library';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { formatFieldType, widens } from '../../domain/definitions/field-types.ts';
import { appendColumnsError, transformErrorFrom } from '../../domain/transforms/transform-error.ts';
import {
  loadTransform,
  resolveParams,
  type TransformFile,
  type TransformParams,
  type TransformResult,
} from '../../domain/transforms/transform-file.ts';
import type { FieldValue } from '../../domain/values/coerce-value.ts';
import { BigQueryStorageReadClient, storageEndpoint, type TableReference } from './bigquery-storage-read.ts';
import {
  type BigQueryField,
  bigQueryDdlType,
  bigQueryField,
  checkIdentifier,
  deadLetterColumns,
  featureTableColumns,
  featureTableName,
  fieldTypeFromBigQuery,
  integerValue,
  microsToMillis,
  prepareRows,
  sameStorage,
  toDeadLetter,
} from './column-types.ts';
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
  eventTimeColumn,
  type FeatureTables,
  type IncrementalPage,
  type IncrementalReadOptions,
  type NewDeadLetter,
  type OfflineRow,
  type OfflineStore,
  type TableOptions,
  type TimeRange,
} from './offline-store.ts';

export interface BigQueryOfflineStoreOptions {
  projectId: string;
  /** The dataset of Ferry's tables; created (in `location`) when missing. */
  dataset: string;
  location?: string;
  /**
   * API root of an emulator (e.g. `http://127.0.0.1:9050`): requests go there without Google
   * credentials. Empty or absent: the real service with Application Default Credentials.
   */
  endpoint?: string;
  /** The folder of SQL transforms. */
  sqlDir: string;
  /** Base of relative paths (default: the process's working folder). */
  cwd?: string;
  /** Rows per insertAll request (default 1,000; the API allows up to 50,000 and 10 MB). */
  insertBatchSize?: number;
  /**
   * How readIncremental reads its query's result: `storage` (default) streams the result table
   * through the BigQuery Storage Read API in Arrow format; `rest` pages through jobs.getQueryResults.
   */
  readApi?: BigQueryReadApi;
  /**
   * host:port of the Storage Read API. Empty or absent: next to an emulator `endpoint` (its host,
   * port 9060), else bigquerystorage.googleapis.com:443. Insecure exactly when `endpoint` is set.
   */
  storageEndpoint?: string;
  /** Storage Read API: rows per ReadRows call (the stream is split into pieces; default 100,000). */
  storageRowsPerRead?: number;
}

export type BigQueryReadApi = 'storage' | 'rest';
export const bigQueryReadApis: readonly BigQueryReadApi[] = ['storage', 'rest'];

/** A query parameter as the REST API takes it. */
interface QueryParameter {
  name: string;
  parameterType: { type: string };
  parameterValue: { value: string };
}

interface RawRow {
  f: { v: unknown }[];
}

interface QueryResponse {
  jobComplete?: boolean;
  jobReference?: { jobId: string; location?: string };
  schema?: { fields?: BigQueryField[] };
  rows?: RawRow[];
  pageToken?: string;
  totalRows?: string;
  numDmlAffectedRows?: string;
}

interface ApiError extends Error {
  code?: number;
  errors?: { message?: string; reason?: string }[];
}

const param = (name: string, type: string, value: string): QueryParameter => ({
  name,
  parameterType: { type },
  parameterValue: { value },
});

const bigQueryDialect: SqlDialect = { quote: (name) => `\`${name}\``, param: (name) => `@${name}` };

/** Typed parameters as BigQuery's REST API takes them. */
function bigQueryParams(params: Record<string, SqlValue>): QueryParameter[] {
  return Object.entries(params).map(([name, p]) =>
    p.type === 'int64'
      ? param(name, 'INT64', String(p.value))
      : p.type === 'string'
        ? param(name, 'STRING', p.value)
        : param(name, 'TIMESTAMP', new Date(p.ms).toISOString()),
  );
}

/** Converts a REST cell of `field` to Ferry's in-memory form (rows are read with int64 timestamps). */
function parserFor(field: BigQueryField): (v: unknown) => FieldValue {
  if (field.mode === 'REPEATED') {
    const item = parserFor({ ...field, mode: 'NULLABLE' });
    return (v) => (Array.isArray(v) ? v.map((x) => item((x as { v: unknown }).v)) : []);
  }
  const scalar = (fn: (v: string) => FieldValue) => (v: unknown) =>
    v === null || v === undefined ? null : fn(v as string);
  switch (field.type.toUpperCase()) {
    case 'INT64':
    case 'INTEGER':
      return scalar((v) => integerValue(v));
    case 'FLOAT64':
    case 'FLOAT':
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return scalar((v) => Number(v));
    case 'BOOL':
    case 'BOOLEAN':
      return scalar((v) => String(v).toLowerCase() === 'true');
    case 'BYTES':
      return scalar((v) => Buffer.from(v, 'base64'));
    case 'TIMESTAMP':
      // int64 microseconds (formatOptions.useInt64Timestamp), else float seconds
      return scalar((v) => (/^-?\d+$/.test(v) ? microsToMillis(BigInt(v)) : Math.floor(Number(v) * 1000)));
    case 'RECORD':
    case 'STRUCT':
      return (v) => (v === null || v === undefined ? null : JSON.stringify(v));
    default:
      return scalar((v) => String(v));
  }
}

function rowParser(fields: readonly BigQueryField[]): (row: RawRow) => OfflineRow {
  const parsers = fields.map(parserFor);
  const names = fields.map((f) => f.name);
  return (row) => {
    const out: OfflineRow = {};
    for (let i = 0; i < names.length; i++) out[names[i]!] = parsers[i]!(row.f[i]?.v ?? null);
    return out;
  };
}

/** A Ferry value as insertAll's JSON takes it. */
function jsonValue(field: ColumnSpec, v: FieldValue): unknown {
  if (v === null) return undefined;
  const scalar = field.type.kind === 'scalar' ? field.type.scalar : field.type.item;
  const one = (x: FieldValue): unknown => {
    if (scalar === 'Timestamp') return new Date(x as number).toISOString();
    if (scalar === 'Bytes') return (x as Buffer).toString('base64');
    return x;
  };
  return Array.isArray(v) ? v.map(one) : one(v);
}

/**
 * The production offline store: BigQuery. Feature tables are partitioned by the day of
 * `_event_time` and clustered by their keys; dead letters by day of `occurred_at` and feature.
 * Rows are appended with insertAll (streaming). An incremental read runs one ordered query job and
 * streams its result table through the Storage Read API (one stream keeps the ORDER BY), or with
 * `readApi: 'rest'` pages through jobs.getQueryResults, as every other read (readRows, counts) does.
 */
export class BigQueryOfflineStore implements OfflineStore {
  readonly kind = 'bigquery' as const;
  readonly dialect = 'bigquery' as const;
  private deadLettersReady = false;
  private closed = false;
  private storageClient: BigQueryStorageReadClient | undefined;

  private constructor(
    private readonly client: BigQuery,
    private readonly projectId: string,
    private readonly datasetId: string,
    private readonly location: string | undefined,
    private readonly sqlDir: string,
    private readonly cwd: string,
    private readonly insertBatchSize: number,
    private readonly readApi: BigQueryReadApi,
    private readonly storageEndpoint: string | undefined,
    private readonly restEndpoint: string | undefined,
    private readonly storageRowsPerRead: number | undefined,
  ) {}

  /** The client: against an emulator when `endpoint` is set (no credentials), else the real API. */
  static client(options: Pick<BigQueryOfflineStoreOptions, 'projectId' | 'endpoint' | 'location'>): BigQuery {
    return new BigQuery({
      projectId: options.projectId,
      ...(options.location ? { location: options.location } : {}),
      ...(options.endpoint
        ? { apiEndpoint: options.endpoint.replace(/\/+$/, ''), authClient: new PassThroughClient() }
        : {}),
    });
  }

  static async open(options: BigQueryOfflineStoreOptions): Promise<BigQueryOfflineStore> {
    checkIdentifier('dataset', options.dataset);
    const client = BigQueryOfflineStore.client(options);
    const dataset = client.dataset(options.dataset);
    const [exists] = await dataset.exists();
    if (!exists) {
      try {
        await client.createDataset(options.dataset, options.location ? { location: options.location } : {});
      } catch (e) {
        if ((e as ApiError).code !== 409) throw e; // created meanwhile
      }
    }
    return new BigQueryOfflineStore(
      client,
      options.projectId,
      options.dataset,
      options.location,
      options.sqlDir,
      options.cwd ?? process.cwd(),
      options.insertBatchSize ?? 1000,
      options.readApi ?? 'storage',
      options.storageEndpoint,
      options.endpoint,
      options.storageRowsPerRead,
    );
  }

  /**
   * `dataset.table`, unquoted: both are plain identifiers. (The project comes from the job; a
   * backtick-quoted `project.dataset.table` also works in BigQuery but makes the emulator's
   * syntax errors point at the quote instead of the mistake.)
   */
  private ref(table: string): string {
    return `${this.datasetId}.${checkIdentifier('table name', table)}`;
  }

  private request<T>(options: {
    method?: string;
    uri: string;
    json?: unknown;
    qs?: Record<string, unknown>;
  }): Promise<T> {
    if (this.closed) return Promise.reject(new Error('offline store is closed'));
    return new Promise((resolve, reject) => {
      this.client.request(options, (err: Error | null, body?: unknown) =>
        err ? reject(err) : resolve(body as T),
      );
    });
  }

  /** Starts a query job; returns its id (failures that the API reports at once are thrown). */
  private async startQuery(sql: string, params: QueryParameter[] = []): Promise<string> {
    const jobId = `ferry_${randomUUID().replace(/-/g, '')}`;
    const job = await this.request<{ status?: { errorResult?: { message?: string } } }>({
      method: 'POST',
      uri: '/jobs',
      json: {
        jobReference: {
          projectId: this.projectId,
          jobId,
          ...(this.location ? { location: this.location } : {}),
        },
        configuration: {
          query: {
            query: sql,
            useLegacySql: false,
            defaultDataset: { projectId: this.projectId, datasetId: this.datasetId },
            ...(params.length ? { parameterMode: 'NAMED', queryParameters: params } : {}),
          },
        },
      },
    });
    const failed = job.status?.errorResult;
    if (failed) throw Object.assign(new Error(failed.message ?? 'query failed'), { errors: [failed] });
    return jobId;
  }

  /** One page of a job's results, waiting for the job to finish. */
  private async results(jobId: string, maxResults: number, pageToken?: string): Promise<QueryResponse> {
    for (;;) {
      const r = await this.request<QueryResponse>({
        uri: `/queries/${jobId}`,
        qs: {
          maxResults,
          timeoutMs: 10_000,
          'formatOptions.useInt64Timestamp': true,
          ...(this.location ? { location: this.location } : {}),
          ...(pageToken ? { pageToken } : {}),
        },
      });
      if (r.jobComplete !== false) return r;
    }
  }

  /** The Storage Read API client, created on first use (a store that never streams opens no channel). */
  private storage(): BigQueryStorageReadClient {
    if (this.closed) throw new Error('offline store is closed');
    this.storageClient ??= new BigQueryStorageReadClient({
      endpoint: storageEndpoint(this.restEndpoint, this.storageEndpoint),
    });
    return this.storageClient;
  }

  /**
   * Waits for a query job and returns its result table (`configuration.query.destinationTable`:
   * an anonymous table on BigQuery, `_results.<job id>` on the emulator) and its row count.
   */
  private async resultTable(
    jobId: string,
  ): Promise<{ table: TableReference; totalRows: number | undefined }> {
    const done = await this.results(jobId, 0);
    const job = await this.request<{
      status?: { errorResult?: { message?: string } };
      configuration?: { query?: { destinationTable?: TableReference } };
    }>({ uri: `/jobs/${jobId}`, qs: this.location ? { location: this.location } : {} });
    const failed = job.status?.errorResult;
    if (failed) throw Object.assign(new Error(failed.message ?? 'query failed'), { errors: [failed] });
    const table = job.configuration?.query?.destinationTable;
    if (!table?.projectId || !table.datasetId || !table.tableId)
      throw new Error(`query job ${jobId} has no destination table to read`);
    return { table, totalRows: done.totalRows === undefined ? undefined : Number(done.totalRows) };
  }

  /** Runs a statement to completion; returns the first page of rows (small results only) and DML count. */
  private async query(
    sql: string,
    params: QueryParameter[] = [],
    maxResults = 10_000,
  ): Promise<{ rows: OfflineRow[]; fields: BigQueryField[]; affected: number }> {
    const jobId = await this.startQuery(sql, params);
    const rows: OfflineRow[] = [];
    let r = await this.results(jobId, maxResults);
    const fields = r.schema?.fields ?? [];
    const parse = rowParser(fields);
    for (;;) {
      for (const raw of r.rows ?? []) rows.push(parse(raw));
      if (!r.pageToken) break;
      r = await this.results(jobId, maxResults, r.pageToken);
    }
    return { rows, fields, affected: Number(r.numDmlAffectedRows ?? 0) };
  }

  private async metadata(
    table: string,
  ): Promise<
    | { schema?: { fields?: BigQueryField[] }; timePartitioning?: { field?: string; expirationMs?: string } }
    | undefined
  > {
    checkIdentifier('table name', table);
    try {
      const [meta] = await this.client.dataset(this.datasetId).table(table).getMetadata();
      return meta;
    } catch (e) {
      if ((e as ApiError).code === 404) return undefined;
      throw e;
    }
  }

  async describeTable(table: string): Promise<ColumnSpec[] | undefined> {
    const meta = await this.metadata(table);
    if (!meta) return undefined;
    return (meta.schema?.fields ?? []).map((f) => ({
      name: f.name,
      // a type Ferry has no field type for (DATE, RECORD, ...) reads back as text
      type: fieldTypeFromBigQuery(f) ?? { kind: 'scalar', scalar: 'Text' },
    }));
  }

  async ensureTable(
    table: string,
    columns: readonly ColumnSpec[],
    options: TableOptions = {},
  ): Promise<void> {
    for (const c of columns) checkIdentifier('column name', c.name);
    const meta = await this.metadata(table);
    const fields = columns.map((c) => bigQueryField(c.name, c.type));
    if (!meta) {
      try {
        await this.client.dataset(this.datasetId).createTable(table, {
          schema: { fields },
          ...(options.partitionByDay
            ? {
                timePartitioning: {
                  type: 'DAY',
                  field: options.partitionByDay,
                  ...(options.partitionExpirationMs
                    ? { expirationMs: String(options.partitionExpirationMs) }
                    : {}),
                },
              }
            : {}),
          ...(options.clusterBy?.length ? { clustering: { fields: options.clusterBy.slice(0, 4) } } : {}),
        });
        return;
      } catch (e) {
        if ((e as ApiError).code !== 409) throw e;
        return this.ensureTable(table, columns, options); // created meanwhile: check its columns
      }
    }
    let existing = meta.schema?.fields ?? [];
    const have = new Map(existing.map((f) => [f.name, f]));
    const added: BigQueryField[] = [];
    const widened = new Map<string, BigQueryField>();
    for (const c of columns) {
      const h = have.get(c.name);
      if (!h) {
        added.push(bigQueryField(c.name, c.type));
        continue;
      }
      const hType = fieldTypeFromBigQuery(h);
      if (hType && sameStorage(c.type, hType, 'bigquery')) {
        // Int → Long and Float → Double keep the column (INT64, FLOAT64): the description says the new type
        if (widens(hType, c.type)) widened.set(c.name, bigQueryField(c.name, c.type));
      } else if (hType && widens(hType, c.type)) {
        // INT64 → FLOAT64: BigQuery coerces the stored values in place
        await this.query(
          `ALTER TABLE ${this.ref(table)} ALTER COLUMN ${c.name} SET DATA TYPE ${bigQueryDdlType(c.type)}`,
        );
        widened.set(c.name, bigQueryField(c.name, c.type));
      } else {
        throw new Error(
          `offline table ${table}: column ${c.name} holds ${hType ? formatFieldType(hType) : h.type}, not ${formatFieldType(c.type)}; ` +
            'a type change needs a new column or a new feature version',
        );
      }
    }
    if (widened.size > 0) {
      // the schema as the warehouse has it now (the ALTER changed types), with the new descriptions
      existing = ((await this.metadata(table))?.schema?.fields ?? existing).map((f) =>
        widened.has(f.name) ? { ...f, description: widened.get(f.name)!.description } : f,
      );
    }
    const patch: Record<string, unknown> = {};
    if (added.length || widened.size) patch.schema = { fields: [...existing, ...added] };
    const tp = meta.timePartitioning;
    if (options.partitionByDay && tp?.field === options.partitionByDay) {
      const want = options.partitionExpirationMs ? String(options.partitionExpirationMs) : undefined;
      if ((tp.expirationMs ?? undefined) !== want)
        patch.timePartitioning = { ...tp, expirationMs: want ?? null };
    }
    if (Object.keys(patch).length) await this.client.dataset(this.datasetId).table(table).setMetadata(patch);
  }

  async dropTable(table: string): Promise<void> {
    checkIdentifier('table name', table);
    await this.client.dataset(this.datasetId).table(table).delete({ ignoreNotFound: true });
    if (table === deadLetterTable) this.deadLettersReady = false;
  }

  async ensureFeatureTables(def: FeatureDefinition): Promise<FeatureTables> {
    const table = featureTableName(def);
    await this.ensureTable(table, featureTableColumns(def), {
      partitionByDay: eventTimeColumn,
      clusterBy: def.keyFields.slice(0, 4),
      ...(def.retention.offlineMs ? { partitionExpirationMs: def.retention.offlineMs } : {}),
    });
    await this.ensureDeadLetters();
    return { table, deadLetterTable };
  }

  private async ensureDeadLetters(): Promise<void> {
    if (this.deadLettersReady) return;
    await this.ensureTable(deadLetterTable, deadLetterColumns, {
      partitionByDay: 'occurred_at',
      clusterBy: ['feature'],
    });
    this.deadLettersReady = true;
  }

  async appendRows(
    table: string,
    rows: readonly Record<string, unknown>[],
    options: { batchSize?: number } = {},
  ): Promise<number> {
    const batchSize = options.batchSize ?? this.insertBatchSize;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    const columns = await this.describeTable(table);
    if (!columns) throw new Error(`no table ${table} in the offline store`);
    const prepared = prepareRows(table, columns, rows);
    const bqTable = this.client.dataset(this.datasetId).table(table);
    for (let start = 0; start < prepared.length; start += batchSize) {
      const batch = prepared.slice(start, start + batchSize).map((values) => {
        const json: Record<string, unknown> = {};
        for (let c = 0; c < columns.length; c++) {
          const v = jsonValue(columns[c]!, values[c]!);
          if (v !== undefined) json[columns[c]!.name] = v;
        }
        return { insertId: randomUUID(), json };
      });
      try {
        await bqTable.insert(batch, { raw: true });
      } catch (e) {
        const partial = e as { name?: string; errors?: { errors?: { message?: string }[]; row?: unknown }[] };
        if (partial.name === 'PartialFailureError' && partial.errors?.length) {
          const first =
            partial.errors.find((x) => x.errors?.some((y) => y.message))?.errors?.[0]?.message ?? 'rejected';
          throw new Error(
            `insert into ${table} failed for ${partial.errors.length} rows of batch ${start / batchSize + 1}: ${first}`,
          );
        }
        throw e;
      }
    }
    return prepared.length;
  }

  async *readIncremental(table: string, options: IncrementalReadOptions): AsyncGenerator<IncrementalPage> {
    const described = await this.describeTable(table);
    const read = checkRead(table, described, options);
    const col = `\`${options.watermarkColumn}\``;
    const wm = read.watermarkType === 'Timestamp' ? `UNIX_MILLIS(${col})` : col;

    const nullCount = await this.query(`SELECT COUNT(*) AS n FROM ${this.ref(table)} WHERE ${col} IS NULL`);
    const count = Number(nullCount.rows[0]?.n ?? 0);
    if (count > 0) {
      const sample = (await this.query(`SELECT * FROM ${this.ref(table)} WHERE ${col} IS NULL LIMIT 10`))
        .rows;
      const report = { table, watermarkColumn: options.watermarkColumn, count, sample };
      if (options.onNullWatermarks) await options.onNullWatermarks(report);
      else
        process.emitWarning(
          `${table}: ${count} rows have a NULL ${options.watermarkColumn}; incremental reads skip them`,
        );
    }

    let where = `${col} IS NOT NULL`;
    const after = options.after;
    const resume = after ? afterCursor(bigQueryDialect, wm, textFlags(read.tieBreaker), after) : undefined;
    if (resume) where += ` AND (${resume.sql})`;
    const params = bigQueryParams(resume?.params ?? {});
    const order = [`${wm} ASC`, ...read.tieBreaker.map((c) => `\`${c.name}\` ASC NULLS FIRST`)].join(', ');
    const select = read.columns.map((c) => `\`${c.name}\``).join(', ');
    const jobId = await this.startQuery(
      `SELECT ${select} FROM ${this.ref(table)} WHERE ${where} ORDER BY ${order}`,
      params,
    );
    const fetchSize = Math.min(Math.max(options.pageSize, 1000), 50_000);
    const self = this;
    async function* stream(): AsyncGenerator<OfflineRow[]> {
      const { table: result, totalRows } = await self.resultTable(jobId);
      let received = 0;
      for await (const rows of self.storage().readTable(result, {
        parent: self.projectId,
        rowsPerBatch: fetchSize,
        ...(self.storageRowsPerRead !== undefined ? { rowsPerRead: self.storageRowsPerRead } : {}),
      })) {
        received += rows.length;
        yield rows;
      }
      if (totalRows !== undefined && received !== totalRows)
        throw new Error(
          `${table}: the Storage Read API returned ${received} rows of a ${totalRows}-row query result`,
        );
    }
    async function* pages(): AsyncGenerator<OfflineRow[]> {
      let token: string | undefined;
      let parse: ((row: RawRow) => OfflineRow) | undefined;
      do {
        const r = await self.results(jobId, fetchSize, token);
        parse ??= rowParser(r.schema?.fields ?? []);
        const rows = r.rows ?? [];
        if (rows.length) yield rows.map(parse);
        token = r.pageToken;
      } while (token);
    }
    yield* paginate(this.readApi === 'rest' ? pages() : stream(), {
      pageSize: options.pageSize,
      watermarkColumn: options.watermarkColumn,
      tieBreaker: read.tieBreaker.map((c) => c.name),
      ...(after ? { after } : {}),
    });
  }

  async readRows(
    table: string,
    options: { orderBy?: readonly string[]; limit?: number } = {},
  ): Promise<OfflineRow[]> {
    for (const c of options.orderBy ?? []) checkIdentifier('column name', c);
    const order = options.orderBy?.length
      ? ` ORDER BY ${options.orderBy.map((c) => `\`${c}\` ASC NULLS FIRST`).join(', ')}`
      : '';
    const limit = options.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(options.limit))}` : '';
    return (await this.query(`SELECT * FROM ${this.ref(table)}${order}${limit}`)).rows;
  }

  async runTransform(name: string, params: TransformParams): Promise<TransformResult> {
    const t0 = performance.now();
    const transform = await loadTransform(this.sqlDir, name, this.dialect, this.cwd);
    const resolved = resolveParams(params);
    const qp = transform.params.map((p) =>
      p === 'logical_date'
        ? param(p, 'DATE', resolved.logical_date)
        : param(p, 'TIMESTAMP', new Date(resolved[p]).toISOString()),
    );
    const dest = this.ref(transform.destination);
    const existing = await this.metadata(transform.destination);
    let rowsWritten: number;
    if (transform.writeMode === 'replace' || !existing) {
      const prefix = `CREATE OR REPLACE TABLE ${dest} AS `;
      await this.runStatement(transform, prefix, `${prefix}${transform.sql}\n`, qp);
      rowsWritten = Number((await this.query(`SELECT COUNT(*) AS n FROM ${dest}`)).rows[0]?.n ?? 0);
    } else {
      const probePrefix = 'SELECT * FROM (';
      const probe = await this.runStatement(
        transform,
        probePrefix,
        `${probePrefix}${transform.sql}\n) LIMIT 0`,
        qp,
      );
      const produced = probe.fields.map((f) => f.name);
      const mismatch = appendColumnsError(
        transform,
        produced,
        (existing.schema?.fields ?? []).map((f) => f.name),
      );
      if (mismatch) throw mismatch;
      const cols = produced.map((c) => `\`${c}\``).join(', ');
      const prefix = `INSERT INTO ${dest} (${cols}) SELECT ${cols} FROM (`;
      rowsWritten = (await this.runStatement(transform, prefix, `${prefix}${transform.sql}\n)`, qp)).affected;
    }
    return {
      name: transform.name,
      file: transform.file,
      destination: transform.destination,
      writeMode: transform.writeMode,
      rowsWritten,
      elapsedMs: Math.round(performance.now() - t0),
    };
  }

  private async runStatement(
    transform: TransformFile,
    prefix: string,
    sql: string,
    params: QueryParameter[],
  ) {
    try {
      return await this.query(sql, params);
    } catch (e) {
      throw transformErrorFrom(transform, e, prefix.length);
    }
  }

  async writeDeadLetters(letters: readonly NewDeadLetter[]): Promise<DeadLetter[]> {
    const stored: DeadLetter[] = letters.map((l) => ({ ...l, id: l.id ?? randomUUID() }));
    await this.ensureDeadLetters();
    const present = new Set<string>();
    const ids = [...new Set(stored.map((l) => l.id))];
    for (let start = 0; start < ids.length; start += deadLetterDeleteBatch) {
      const { rows } = await this.query(
        `SELECT id FROM ${this.ref(deadLetterTable)} WHERE id IN UNNEST(@ids)`,
        [
          {
            name: 'ids',
            parameterType: { type: 'ARRAY', arrayType: { type: 'STRING' } },
            parameterValue: {
              arrayValues: ids.slice(start, start + deadLetterDeleteBatch).map((value) => ({ value })),
            },
          } as unknown as QueryParameter,
        ],
      );
      for (const r of rows) present.add(String(r.id));
    }
    const fresh = newDeadLetterRows(stored, present);
    if (fresh.length > 0) await this.appendRows(deadLetterTable, fresh);
    return stored;
  }

  async readDeadLetters(feature: string, range: TimeRange & { limit?: number } = {}): Promise<DeadLetter[]> {
    if (!(await this.metadata(deadLetterTable))) return [];
    const query = deadLettersQuery(bigQueryDialect, this.ref(deadLetterTable), feature, range);
    const { rows } = await this.query(query.sql, bigQueryParams(query.params));
    return rows.map(toDeadLetter);
  }

  async deleteDeadLetters(ids: readonly string[]): Promise<number> {
    if (ids.length === 0 || !(await this.metadata(deadLetterTable))) return 0;
    let deleted = 0;
    for (let start = 0; start < ids.length; start += deadLetterDeleteBatch) {
      const { affected } = await this.query(
        `DELETE FROM ${this.ref(deadLetterTable)} WHERE id IN UNNEST(@ids)`,
        [
          {
            name: 'ids',
            parameterType: { type: 'ARRAY', arrayType: { type: 'STRING' } },
            parameterValue: {
              arrayValues: ids
                .slice(start, start + deadLetterDeleteBatch)
                .map((value) => ({ value: String(value) })),
            },
          } as unknown as QueryParameter,
        ],
      );
      deleted += affected;
    }
    return deleted;
  }

  async deleteOlderThan(table: string, timeColumn: string, cutoffMs: number): Promise<number> {
    checkIdentifier('column name', timeColumn);
    if (!Number.isSafeInteger(cutoffMs))
      throw new Error(`cutoff must be epoch milliseconds, got ${cutoffMs}`);
    const col = (await this.describeTable(table))?.find((c) => c.name === timeColumn);
    if (!col) throw new Error(`no column ${timeColumn} in offline table ${table}`);
    const isTs = col.type.kind === 'scalar' && col.type.scalar === 'Timestamp';
    if (!isTs && !(col.type.kind === 'scalar' && col.type.scalar === 'Long')) {
      throw new Error(`retention column ${table}.${timeColumn} must be Timestamp or Long epoch milliseconds`);
    }
    // on a table partitioned by this column, BigQuery drops the partitions the predicate covers
    // whole without rewriting them; only the cutoff's own day is rewritten
    const { affected } = await this.query(
      `DELETE FROM ${this.ref(table)} WHERE \`${timeColumn}\` < @cutoff`,
      [
        isTs
          ? param('cutoff', 'TIMESTAMP', new Date(cutoffMs).toISOString())
          : param('cutoff', 'INT64', String(cutoffMs)),
      ],
    );
    return affected;
  }

  async ping(): Promise<void> {
    await this.client.dataset(this.datasetId).getMetadata();
  }

  /** Deletes the dataset with every table in it (tests use a fresh dataset per run). */
  async dropDataset(): Promise<void> {
    await this.client.dataset(this.datasetId).delete({ force: true });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.storageClient?.close();
    this.storageClient = undefined;
  }
}
