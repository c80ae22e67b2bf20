import { setTimeout as sleep } from 'node:timers/promises';
import { BigQueryReadClient, type protos } from '@google-cloud/bigquery-storage';
import { credentials, status } from '@grpc/grpc-js';
import { RecordBatchReader } from 'apache-arrow';
import { BatchDecoder } from './arrow-rows.ts';
import type { OfflineRow } from './offline-store.ts';

/**
 * Reads a whole table, in Ferry the result table of a query job, through the BigQuery Storage Read
 * API, with Google's own client (@google-cloud/bigquery-storage: its generated BigQueryReadClient
 * keeps the API's messages, routing headers, authentication and the retries of its unary calls),
 * and decodes the Arrow record batches into rows of the same value forms the REST path gives
 * (OfflineRow, arrow-rows.ts). Against the emulator it uses an insecure channel and no credentials.
 *
 * The read asks for one stream (`max_stream_count: 1`): a single stream returns the rows of a
 * query's result table in the query's ORDER BY order, which is what google-cloud-bigquery's Python
 * client relies on for `to_arrow`/`to_dataframe`. The stream is read in pieces (SplitReadStream).
 * A ReadRows call that breaks with a transient status (UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, INTERNAL with RST_STREAM) is resumed here at the offset of the rows received
 * so far: the library's own resuming reader (reader/ReadClient) reads whole streams only, not the
 * pieces this read needs to bound its memory. Any other status throws with the server's message.
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

/** What the streams of one read share: the schema, the decoder built from it, the batch size. */
interface StreamRead {
  schema: Buffer | undefined;
  decoder?: BatchDecoder;
  rowsPerBatch: number;
}

/** Whether a failed call may be retried (the statuses google-cloud-bigquery-storage resumes on). */
/** What a failed gRPC call throws (grpc-js's ServiceError, gax's GoogleError). */
interface CallError extends Error {
  code: number;
  details: string;
}

function isTransient(error: CallError): boolean {
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

function isServiceError(e: unknown): e is CallError {
  return e instanceof Error && typeof (e as CallError).code === 'number' && 'details' in e;
}

export class BigQueryStorageReadClient {
  private gapic: BigQueryReadClient | undefined;
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

  private client(): BigQueryReadClient {
    if (this.closed) throw new Error('BigQuery Storage Read client is closed');
    if (!this.gapic) {
      const { address, secure } = this.options.endpoint;
      const colon = address.lastIndexOf(':');
      this.gapic = new BigQueryReadClient({
        apiEndpoint: colon > 0 ? address.slice(0, colon) : address,
        port: colon > 0 ? Number(address.slice(colon + 1)) : 443,
        // the emulator: no TLS, no credentials (a given universe keeps the library from looking for them)
        ...(secure ? {} : { sslCreds: credentials.createInsecure(), universeDomain: 'googleapis.com' }),
        // a response holds one record batch, which may be larger than gRPC's 4 MB default
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
      });
    }
    return this.gapic;
  }

  private get maxRetries(): number {
    return this.options.maxRetries ?? 8;
  }

  private backoff(failures: number): number {
    const base = (this.options.retryDelayMs ?? 100) * 2 ** (failures - 1);
    return Math.min(base, 5000) * (0.75 + Math.random() / 2);
  }

  private async createSession(
    table: string,
    parent: string,
    selectedFields: readonly string[],
  ): Promise<protos.google.cloud.bigquery.storage.v1.IReadSession> {
    try {
      const [session] = await this.client().createReadSession(
        {
          parent: `projects/${parent}`,
          readSession: {
            table,
            dataFormat: 'ARROW',
            ...(selectedFields.length ? { readOptions: { selectedFields: [...selectedFields] } } : {}),
          },
          maxStreamCount: 1,
        },
        { timeout: 600_000 },
      );
      return session;
    } catch (e) {
      throw failure(`CreateReadSession on ${table}`, e);
    }
  }

  /** Splits a stream at about `fraction` of its rows; undefined when the service will not split it. */
  private async split(
    stream: string,
    fraction: number,
  ): Promise<{ primary: string; remainder: string } | undefined> {
    try {
      const [response] = await this.client().splitReadStream({ name: stream, fraction }, { timeout: 60_000 });
      const primary = response.primaryStream?.name;
      const remainder = response.remainderStream?.name;
      return primary && remainder ? { primary, remainder } : undefined;
    } catch (e) {
      throw failure(`SplitReadStream on ${stream}`, e);
    }
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
    const streams = session.streams ?? [];
    if (streams.length === 0) return; // an empty table has no stream
    if (streams.length > 1)
      throw new Error(`read session on ${path} has ${streams.length} streams; one was asked for`);
    const schema = session.arrowSchema?.serializedSchema;
    const read: StreamRead = { schema: schema ? Buffer.from(schema) : undefined, rowsPerBatch };
    let stream = streams[0]!.name!;
    let left = Number(session.estimatedRowCount ?? 0) || 0;
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
      const call = this.client().readRows({ readStream: stream, offset });
      this.open++;
      this.calls++;
      try {
        for await (const response of call as AsyncIterable<protos.google.cloud.bigquery.storage.v1.IReadRowsResponse>) {
          const schema = response.arrowSchema?.serializedSchema;
          if (!read.schema && schema) read.schema = Buffer.from(schema);
          const bytes = response.arrowRecordBatch?.serializedRecordBatch;
          if (!bytes?.length) continue;
          if (!read.schema)
            throw new Error(`ReadRows on ${stream}: no Arrow schema before the first record batch`);
          const batches = RecordBatchReader.from([read.schema, bytes]).readAll();
          // Arrow copies a body that is not 8-byte aligned in the message: let the message go
          response.arrowRecordBatch = null;
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
    this.gapic?.close().catch(() => undefined);
    this.gapic = undefined;
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
