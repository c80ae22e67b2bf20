import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ChannelCredentials,
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials,
  loadPackageDefinition,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { RecordBatchReader } from 'apache-arrow';
import { projectRoot } from '../../config/module-files.ts';
import { BatchDecoder } from './arrow-rows.ts';
import type { OfflineRow } from './offline-store.ts';

/**
 * A client of the BigQuery Storage Read API (`google.cloud.bigquery.storage.v1.BigQueryRead`):
 * reads a whole table, in Ferry the result table of a query job, as Arrow record batches over gRPC
 * and decodes them into rows of the same value forms the REST path gives (OfflineRow).
 *
 * The read asks for one stream (`max_stream_count: 1`): a single stream returns the rows of a
 * query's result table in the query's ORDER BY order, which is what google-cloud-bigquery's Python
 * client relies on for `to_arrow`/`to_dataframe`. A stream that breaks with a transient status
 * (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL with RST_STREAM) is resumed at the
 * offset of the rows received so far; any other status throws with the server's message.
 *
 * The .proto beside this file holds only the messages and fields used here, with the official
 * field numbers.
 */

/** The real service's address. */
export const storageApiHost = 'bigquerystorage.googleapis.com:443';

/** Rows per ReadRows call (readTable's `rowsPerRead`): about 5 MB of six columns. */
export const defaultRowsPerRead = 100_000;

/** The port the emulator (local-bigquery) serves the Storage APIs on, next to its REST port. */
const emulatorGrpcPort = 9060;

export interface StorageEndpoint {
  /** host:port */
  address: string;
  /** TLS with Google credentials (the real service), else an insecure channel without credentials. */
  secure: boolean;
}

/**
 * Where the Storage Read API is: `configured` (FERRY_BIGQUERY_STORAGE_ENDPOINT, host:port) when
 * given, else next to an emulator's REST endpoint (`<its host>:9060`), else the real service. The
 * channel is insecure exactly when `restEndpoint` is set (an emulator, no Google credentials).
 */
export function storageEndpoint(
  restEndpoint: string | undefined,
  configured: string | undefined,
): StorageEndpoint {
  const emulator = Boolean(restEndpoint?.trim());
  const given = configured
    ?.trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/+$/, '');
  if (given) return { address: given, secure: !emulator };
  if (!emulator) return { address: storageApiHost, secure: true };
  return { address: `${new URL(restEndpoint!.trim()).hostname}:${emulatorGrpcPort}`, secure: false };
}

export interface TableReference {
  projectId: string;
  datasetId: string;
  tableId: string;
}

export interface StorageReadClientOptions {
  endpoint: StorageEndpoint;
  /** Attempts after a transient failure, without progress in between, before giving up (default 8). */
  maxRetries?: number;
  /** First backoff before a retry (doubles up to 5 s; default 100 ms). */
  retryDelayMs?: number;
}

export interface ReadTableOptions {
  /** The project the read session is created in (billed); default: the table's. */
  parent?: string;
  /** Columns to read (default: all). */
  selectedFields?: readonly string[];
  /** At most this many rows per yielded array: larger record batches are cut (default 10,000). */
  rowsPerBatch?: number;
  /** Rows per ReadRows call: the stream is split into pieces of about this size (0: one call; default 100,000). */
  rowsPerRead?: number;
  /** Called before a broken stream is read again (for logs and tests). */
  onRetry?: (info: { attempt: number; offset: number; error: Error }) => void;
}

/** A Storage Read API failure: the gRPC status and the server's message. */
export class StorageReadError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly details: string,
  ) {
    super(message);
    this.name = 'StorageReadError';
  }
}

interface ReadSessionMessage {
  name: string;
  streams: { name: string }[];
  arrow_schema?: { serialized_schema: Buffer } | null;
  estimated_row_count: number;
}

interface ReadRowsResponseMessage {
  row_count: number;
  arrow_record_batch?: { serialized_record_batch: Buffer } | null;
  arrow_schema?: { serialized_schema: Buffer } | null;
}

interface SplitReadStreamResponseMessage {
  primary_stream?: { name: string } | null;
  remainder_stream?: { name: string } | null;
}

/** What the streams of one read share: the schema, the decoder built from it, the batch size. */
interface StreamRead {
  schema: Buffer | undefined;
  decoder?: BatchDecoder;
  rowsPerBatch: number;
}

/** A unary method of the generated client, answering a `Response`. */
type UnaryMethod<Response> = (
  request: unknown,
  metadata: Metadata,
  options: { deadline?: number },
  callback: (error: ServiceError | null, response?: Response) => void,
) => ClientUnaryCall;

interface BigQueryReadStub {
  CreateReadSession: UnaryMethod<ReadSessionMessage>;
  ReadRows(request: unknown, metadata: Metadata): ClientReadableStream<ReadRowsResponseMessage>;
  SplitReadStream: UnaryMethod<SplitReadStreamResponseMessage>;
  close(): void;
}

type StubConstructor = new (
  address: string,
  creds: ChannelCredentials,
  options: Record<string, unknown>,
) => BigQueryReadStub;

let stubConstructor: StubConstructor | undefined;

function bigQueryReadStub(): StubConstructor {
  if (!stubConstructor) {
    const definition = loadSync(path.join(projectRoot, 'stores/offline/bigquery-storage-read.proto'), {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = loadPackageDefinition(definition) as unknown as {
      google: { cloud: { bigquery: { storage: { v1: { BigQueryRead: StubConstructor } } } } };
    };
    stubConstructor = pkg.google.cloud.bigquery.storage.v1.BigQueryRead;
  }
  return stubConstructor;
}

/** Whether a failed call may be retried (the statuses google-cloud-bigquery-storage resumes on). */
function isTransient(error: ServiceError): boolean {
  switch (error.code) {
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.RESOURCE_EXHAUSTED:
      return true;
    case status.INTERNAL:
      return /RST_STREAM|unexpected EOS on DATA frame/i.test(error.details ?? error.message);
    default:
      return false;
  }
}

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as ServiceError).code === 'number' && 'details' in e;
}

/** Routing metadata (`x-goog-request-params`) the real service wants; values URL-encoded but `/`. */
function routing(key: string, value: string): Metadata {
  const md = new Metadata();
  md.set('x-goog-request-params', `${key}=${encodeURIComponent(value).replace(/%2F/g, '/')}`);
  return md;
}

export class BigQueryStorageReadClient {
  private stub: BigQueryReadStub | undefined;
  private closed = false;
  private open = 0;
  private calls = 0;

  constructor(private readonly options: StorageReadClientOptions) {}

  /** ReadRows calls under way (a consumer that stops early leaves none). */
  get openCalls(): number {
    return this.open;
  }

  /** ReadRows calls made so far (a read in pieces makes one per piece, a retry one more). */
  get readCalls(): number {
    return this.calls;
  }

  private client(): BigQueryReadStub {
    if (this.closed) throw new Error('BigQuery Storage Read client is closed');
    if (!this.stub) {
      const { address, secure } = this.options.endpoint;
      const channel = secure
        ? credentials.combineChannelCredentials(
            credentials.createSsl(),
            credentials.createFromMetadataGenerator(googleCredentials()),
          )
        : credentials.createInsecure();
      const Stub = bigQueryReadStub();
      // a response holds one record batch, which may be larger than gRPC's 4 MB default
      this.stub = new Stub(address, channel, {
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
      });
    }
    return this.stub;
  }

  private async retrying<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let failures = 0; ; ) {
      try {
        return await attempt();
      } catch (e) {
        if (!isServiceError(e) || !isTransient(e) || ++failures > this.maxRetries) throw failure(what, e);
        await sleep(this.backoff(failures));
      }
    }
  }

  private get maxRetries(): number {
    return this.options.maxRetries ?? 8;
  }

  private backoff(failures: number): number {
    const base = (this.options.retryDelayMs ?? 100) * 2 ** (failures - 1);
    return Math.min(base, 5000) * (0.75 + Math.random() / 2);
  }

  private createSession(table: string, parent: string, selectedFields: readonly string[]) {
    const request = {
      parent: `projects/${parent}`,
      read_session: {
        table,
        data_format: 'ARROW',
        ...(selectedFields.length ? { read_options: { selected_fields: [...selectedFields] } } : {}),
      },
      max_stream_count: 1,
    };
    return this.unary<ReadSessionMessage>(
      'CreateReadSession',
      `CreateReadSession on ${table}`,
      request,
      routing('read_session.table', table),
      600_000,
    );
  }

  /** One unary call, retried on transient failures (see `retrying`). */
  private unary<T>(
    method: 'CreateReadSession' | 'SplitReadStream',
    what: string,
    request: unknown,
    metadata: Metadata,
    timeoutMs: number,
  ): Promise<T> {
    return this.retrying(
      what,
      () =>
        new Promise<T>((resolve, reject) => {
          const call = this.client()[method] as (
            request: unknown,
            metadata: Metadata,
            options: { deadline?: number },
            callback: (error: ServiceError | null, response?: T) => void,
          ) => ClientUnaryCall;
          call.call(this.client(), request, metadata, { deadline: Date.now() + timeoutMs }, (error, r) =>
            error ? reject(error) : resolve(r!),
          );
        }),
    );
  }

  /** Splits a stream at about `fraction` of its rows; undefined when the service will not split it. */
  private async split(
    stream: string,
    fraction: number,
  ): Promise<{ primary: string; remainder: string } | undefined> {
    const response = await this.unary<SplitReadStreamResponseMessage>(
      'SplitReadStream',
      `SplitReadStream on ${stream}`,
      { name: stream, fraction },
      routing('name', stream),
      60_000,
    );
    const primary = response.primary_stream?.name;
    const remainder = response.remainder_stream?.name;
    return primary && remainder ? { primary, remainder } : undefined;
  }

  /**
   * Every row of the table, in the order of its single read stream, as arrays of at most
   * `rowsPerBatch` rows. Stopping early (break, return) cancels the stream.
   *
   * The stream is read in pieces of about `rowsPerRead` rows: before each piece, SplitReadStream
   * cuts it off the front of what is left (the two halves of a split are back to back in the
   * original stream, so the order holds). One ReadRows call then never holds more than a piece:
   * the emulator answers a whole stream in one record batch (50 MB for a million rows of six
   * columns, held three times over while it is decoded), and gRPC buffers up to 16 responses ahead
   * of a slow reader.
   */
  async *readTable(table: TableReference, options: ReadTableOptions = {}): AsyncGenerator<OfflineRow[]> {
    const path = `projects/${table.projectId}/datasets/${table.datasetId}/tables/${table.tableId}`;
    const rowsPerBatch = options.rowsPerBatch ?? 10_000;
    if (!Number.isInteger(rowsPerBatch) || rowsPerBatch < 1)
      throw new Error(`rowsPerBatch must be a positive integer, got ${rowsPerBatch}`);
    const rowsPerRead = options.rowsPerRead ?? defaultRowsPerRead;
    if (!Number.isInteger(rowsPerRead) || rowsPerRead < 0)
      throw new Error(`rowsPerRead must be a non-negative integer, got ${rowsPerRead}`);
    const session = await this.createSession(
      path,
      options.parent ?? table.projectId,
      options.selectedFields ?? [],
    );
    if (session.streams.length === 0) return; // an empty table has no stream
    if (session.streams.length > 1)
      throw new Error(`read session on ${path} has ${session.streams.length} streams; one was asked for`);
    const read: StreamRead = { schema: session.arrow_schema?.serialized_schema, rowsPerBatch };
    let stream = session.streams[0]!.name;
    let left = Number(session.estimated_row_count) || 0;
    for (;;) {
      let rest: string | undefined;
      if (rowsPerRead > 0 && left > rowsPerRead * 1.5) {
        const parts = await this.split(stream, rowsPerRead / left);
        if (parts) {
          stream = parts.primary;
          rest = parts.remainder;
        }
      }
      let got = 0;
      for await (const rows of this.readStream(stream, path, read, options)) {
        got += rows.length;
        yield rows;
      }
      if (rest === undefined) return;
      stream = rest;
      left = Math.max(0, left - got);
    }
  }

  /** One stream, from its start to its end; a transient failure resumes at the offset reached. */
  private async *readStream(
    stream: string,
    path: string,
    read: StreamRead,
    options: ReadTableOptions,
  ): AsyncGenerator<OfflineRow[]> {
    let offset = 0;
    let failures = 0;
    for (;;) {
      const call = this.client().ReadRows({ read_stream: stream, offset }, routing('read_stream', stream));
      this.open++;
      this.calls++;
      try {
        for await (const response of call as AsyncIterable<ReadRowsResponseMessage>) {
          read.schema ??= response.arrow_schema?.serialized_schema;
          const bytes = response.arrow_record_batch?.serialized_record_batch;
          if (!bytes?.length) continue;
          if (!read.schema)
            throw new Error(`ReadRows on ${stream}: no Arrow schema before the first record batch`);
          const batches = RecordBatchReader.from([read.schema, bytes]).readAll();
          // Arrow copies a body that is not 8-byte aligned in the message: let the message go
          response.arrow_record_batch = null;
          for (const batch of batches) {
            offset += batch.numRows;
            failures = 0;
            read.decoder ??= new BatchDecoder(batch);
            for (let start = 0; start < batch.numRows; start += read.rowsPerBatch)
              yield read.decoder.rows(batch, start, Math.min(batch.numRows, start + read.rowsPerBatch));
          }
        }
        return;
      } catch (e) {
        if (!isServiceError(e)) throw e;
        if (!isTransient(e) || ++failures > this.maxRetries)
          throw failure(`ReadRows on ${stream} (table ${path}) at row ${offset}`, e);
        options.onRetry?.({ attempt: failures, offset, error: e });
        await sleep(this.backoff(failures));
      } finally {
        this.open--;
        call.on('error', () => undefined); // the status of a cancelled call
        call.cancel();
      }
    }
  }

  close(): void {
    this.closed = true;
    this.stub?.close();
    this.stub = undefined;
  }
}

function failure(what: string, e: unknown): Error {
  if (!isServiceError(e)) return e as Error;
  const name = status[e.code] ?? String(e.code);
  return new StorageReadError(
    `BigQuery Storage Read API: ${what} failed: ${name}: ${e.details}`,
    e.code,
    e.details,
  );
}

/** Call credentials from Application Default Credentials (google-auth-library 11 returns Headers). */
function googleCredentials() {
  let auth: Promise<{ getRequestHeaders(url?: string): Promise<Headers> }> | undefined;
  return (
    params: { service_url: string },
    callback: (error: Error | null, metadata?: Metadata) => void,
  ): void => {
    auth ??= import('google-auth-library').then(
      ({ GoogleAuth }) => new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/bigquery'] }),
    );
    auth
      .then((a) => a.getRequestHeaders(params.service_url))
      .then(
        (headers) => {
          const md = new Metadata();
          headers.forEach((value, key) => {
            md.add(key, value);
          });
          callback(null, md);
        },
        (error: Error) => callback(error),
      );
  };
}
