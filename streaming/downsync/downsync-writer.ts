import { eventTimeField, type FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { ColumnSpec, OfflineStore } from '../../stores/offline/offline-store.ts';
import { OfflineStoreInputError } from '../../stores/offline/offline-store.ts';
import { downsyncKeyId, type EmittedRow } from './downsync-sampler.ts';

/**
 * The column downsync adds to a feature's offline table: when the row was written (wall clock).
 * Added with `ensureTable` (additive, nullable) next to what `ensureFeatureTables` creates.
 */
export const ingestionTimeColumn = '_ingested_at';
export const ingestionTimeSpec: ColumnSpec = {
  name: ingestionTimeColumn,
  type: { kind: 'scalar', scalar: 'Timestamp' },
};

export type OfflineRowValues = Record<string, unknown>;

export interface DownsyncWriterOptions {
  /** A table's rows are written once this many wait (default 2,000). */
  maxRows: number;
  /** ...or once the oldest has waited this long (default 1,000 ms). */
  maxAgeMs: number;
  /** Above this many buffered rows, `waitForRoom` holds the consumer back (default 50,000). */
  maxBufferedRows: number;
  /** Backoff of failed writes: first wait and the cap (default 500 ms and 30 s). */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Rows per append request, and how many requests are sent side by side (default 1,000 and 3). */
  chunkRows: number;
  writeConcurrency: number;
}

export const defaultWriterOptions: DownsyncWriterOptions = {
  maxRows: 2_000,
  maxAgeMs: 1_000,
  maxBufferedRows: 50_000,
  retryInitialMs: 500,
  retryMaxMs: 30_000,
  chunkRows: 1_000,
  writeConcurrency: 3,
};

interface Buffered<H> {
  keyId: string;
  eventTimeMs: number;
  row: OfflineRowValues;
  /** What the row keeps from being released (a Kafka offset); none for rows from the journal. */
  hold: H | undefined;
  /** May already be in the table (replayed after a restart, or retried after a failed write). */
  suspect: boolean;
  /** Kept in the downsync journal until written. */
  journaled?: boolean;
  /** Written, deduplicated or dead-lettered. */
  done?: boolean;
}

interface TableBuffer<H> {
  def: FeatureDefinition;
  table: string;
  rows: Buffered<H>[];
  firstAtMs: number;
  failures: number;
  nextAttemptAtMs: number;
  lastError?: string;
  /** While suspect rows are written: the (key, event time) ids in the table from `fromMs` on. */
  known?: { fromMs: number; ids: Set<string> };
  /** Writes of this table under way. */
  writing: Set<Promise<boolean>>;
  /** The rows of those writes. */
  inflight: Set<Buffered<H>>;
}

export interface DownsyncWriterStats {
  written: number;
  /** Rows not written because the same key and event time is in the table or the buffer already. */
  deduplicated: number;
  failedWrites: number;
  /** Rows the table refused (sent to dead letters with origin `downsync`). */
  deadLettered: number;
  lastError?: string;
}

const rowId = (keyId: string, eventTimeMs: number) => `${keyId}@${eventTimeMs}`;

function jsonPayload(row: OfflineRowValues): string {
  return JSON.stringify(row, (_k, v) =>
    v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)
      ? Buffer.from(v.data).toString('base64')
      : v,
  );
}

/**
 * Buffers emitted downsync rows per table and writes them in batches, flushed by size and by
 * age. A failed write is retried with backoff; rows keep their holds (so their Kafka offsets
 * stay uncommitted) until they are written. Rows that may already be in the table are checked
 * against it first, so one event (key + event time) is written once.
 */
export class DownsyncWriter<H> {
  readonly stats: DownsyncWriterStats = { written: 0, deduplicated: 0, failedWrites: 0, deadLettered: 0 };
  private readonly buffers = new Map<string, TableBuffer<H>>();
  private readonly prepared = new Map<string, Promise<string>>();
  /** Rows not written yet per table and key. */
  private readonly unwritten = new Map<string, Map<string, number>>();
  private flushing: Promise<void> | undefined;
  private buffered = 0;
  private roomWaiters: (() => void)[] = [];
  readonly options: DownsyncWriterOptions;

  constructor(
    private readonly offline: OfflineStore,
    private readonly release: (hold: H) => void,
    options: Partial<DownsyncWriterOptions> = {},
    private readonly log: (message: string) => void = () => {},
  ) {
    this.options = { ...defaultWriterOptions, ...options };
  }

  /** Called with each journaled row once it is done (written, deduplicated or dead-lettered). */
  onJournaledDone: ((table: string, row: { keyId: string; eventTimeMs: number }) => void) | undefined;

  /** The rows of these keys not written yet (buffered or in a write under way). */
  unwrittenRows(table: string, keyIds: ReadonlySet<string>): Buffered<H>[] {
    const b = this.buffers.get(table);
    if (!b) return [];
    const out = new Set<Buffered<H>>();
    for (const r of b.rows) if (keyIds.has(r.keyId)) out.add(r);
    for (const r of b.inflight) if (keyIds.has(r.keyId) && !r.done) out.add(r);
    return [...out];
  }

  /** Marks rows as kept in the journal; one already done is reported done at once. */
  markJournaled(table: string, rows: readonly Buffered<H>[]): void {
    for (const r of rows) {
      r.journaled = true;
      if (r.done) this.onJournaledDone?.(table, r);
    }
  }

  /** Adds rows read back from the journal after a restart: no hold, checked against the table. */
  addRecovered(
    def: FeatureDefinition,
    table: string,
    rows: readonly { keyId: string; eventTimeMs: number; row: OfflineRowValues }[],
    nowMs: number,
  ): void {
    if (rows.length === 0) return;
    this.add(
      def,
      table,
      rows.map((r) => ({ ...r, hold: undefined as H, bucket: 0 }) as EmittedRow<OfflineRowValues, H>),
      () => true,
      nowMs,
    );
    const b = this.buffers.get(table)!;
    for (let i = b.rows.length - rows.length; i < b.rows.length; i++) b.rows[i]!.journaled = true;
  }

  get bufferedRows(): number {
    return this.buffered;
  }

  /** Creates the feature's offline table (once per definition revision); returns its name. */
  prepare(def: FeatureDefinition): Promise<string> {
    const id = `${def.name}\n${JSON.stringify(def.fields)}`;
    let p = this.prepared.get(id);
    if (!p) {
      p = (async () => {
        const { table } = await this.offline.ensureFeatureTables(def);
        await this.offline.ensureTable(table, [ingestionTimeSpec]);
        return table;
      })();
      this.prepared.set(id, p);
      p.catch(() => this.prepared.delete(id));
    }
    return p;
  }

  add(
    def: FeatureDefinition,
    table: string,
    rows: readonly EmittedRow<OfflineRowValues, H>[],
    suspect: (hold: H) => boolean,
    nowMs: number,
  ): void {
    if (rows.length === 0) return;
    let buf = this.buffers.get(table);
    if (!buf) {
      buf = {
        def,
        table,
        rows: [],
        firstAtMs: nowMs,
        failures: 0,
        nextAttemptAtMs: 0,
        writing: new Set(),
        inflight: new Set(),
      };
      this.buffers.set(table, buf);
    }
    buf.def = def;
    if (buf.rows.length === 0) buf.firstAtMs = nowMs;
    let byKey = this.unwritten.get(table);
    if (!byKey) {
      byKey = new Map();
      this.unwritten.set(table, byKey);
    }
    for (const r of rows) byKey.set(r.keyId, (byKey.get(r.keyId) ?? 0) + 1);
    for (const r of rows)
      buf.rows.push({
        keyId: r.keyId,
        eventTimeMs: r.eventTimeMs,
        row: r.row,
        hold: r.hold,
        suspect: suspect(r.hold),
      });
    this.buffered += rows.length;
  }

  /** Resolves when fewer rows than `maxBufferedRows` wait (or at once). */
  waitForRoom(signal?: AbortSignal): Promise<void> {
    if (this.buffered < this.options.maxBufferedRows || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => resolve();
      this.roomWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Starts writing the tables that are due (by size or age), unless a flush is running. */
  flushDue(nowMs: number): Promise<void> {
    if (this.flushing) return this.flushing;
    const due = [...this.buffers.values()].filter(
      (b) =>
        b.rows.length > 0 &&
        nowMs >= b.nextAttemptAtMs &&
        (b.rows.length >= this.options.maxRows || nowMs - b.firstAtMs >= this.options.maxAgeMs),
    );
    if (due.length === 0) return Promise.resolve();
    return this.runFlush(due);
  }

  /** Writes every buffered row now, retrying until written or `deadlineMs` passes; true when nothing is left. */
  async flushAll(deadlineMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    for (;;) {
      while (this.flushing) await this.flushing;
      const left = [...this.buffers.values()].filter((b) => b.rows.length > 0);
      if (left.length === 0) {
        const writing = [...this.buffers.values()].flatMap((b) => [...b.writing]);
        if (writing.length === 0) return true;
        await Promise.all(writing);
        continue;
      }
      const now = Date.now();
      if (now >= deadlineMs) return false;
      const ready = left.filter((b) => now >= b.nextAttemptAtMs);
      if (ready.length === 0) {
        const wait = Math.min(...left.map((b) => b.nextAttemptAtMs)) - now;
        await new Promise((r) => setTimeout(r, Math.max(10, Math.min(wait, deadlineMs - now))));
        continue;
      }
      if (!this.flushing) await this.runFlush(ready);
    }
  }

  private runFlush(buffers: TableBuffer<H>[]): Promise<void> {
    const run = (async () => {
      try {
        for (const b of buffers) await this.flushTable(b);
      } finally {
        this.flushing = undefined;
        if (this.buffered < this.options.maxBufferedRows) {
          const waiters = this.roomWaiters;
          this.roomWaiters = [];
          for (const w of waiters) w();
        }
      }
    })();
    this.flushing = run;
    return run;
  }

  /** A row is done (written, or never to be): its hold goes, its key has one row fewer waiting. */
  private finish(table: string, r: Buffered<H>): void {
    r.done = true;
    if (r.hold !== undefined) this.release(r.hold);
    if (r.journaled) this.onJournaledDone?.(table, r);
    const byKey = this.unwritten.get(table);
    const n = byKey?.get(r.keyId) ?? 0;
    if (n <= 1) byKey?.delete(r.keyId);
    else byKey!.set(r.keyId, n - 1);
  }

  private releaseRows(table: string, rows: readonly Buffered<H>[]): void {
    for (const r of rows) this.finish(table, r);
  }

  /** Whether a row of this key waits to be written (buffered or being written). */
  hasUnwritten(table: string, keyId: string): boolean {
    return (this.unwritten.get(table)?.get(keyId) ?? 0) > 0;
  }

  /** The ids (key + event time) of the table's rows from `fromMs` on. */
  private async existingIds(b: TableBuffer<H>, fromMs: number): Promise<Set<string>> {
    const ids = new Set<string>();
    const pages = this.offline.readIncremental(b.table, {
      watermarkColumn: eventTimeField,
      after: { watermark: fromMs - 1 },
      pageSize: 20_000,
      columns: [...b.def.keyFields, eventTimeField],
    });
    for await (const page of pages)
      for (const row of page.rows) ids.add(rowId(downsyncKeyId(b.def, row), Number(row[eventTimeField])));
    return ids;
  }

  /**
   * Writes the table's buffer in batches of at most `maxRows` (so that a command waiting for one
   * key's row waits for one small batch, not for the whole buffer); stops at a failed batch.
   */
  private async flushTable(b: TableBuffer<H>): Promise<void> {
    while (b.rows.length > 0) {
      const batch = b.rows.splice(0, this.options.maxRows);
      this.buffered -= batch.length;
      if (!(await this.writeBatch(b, batch))) return;
    }
  }

  /**
   * Writes rows taken out of the table's buffer, in chunks written side by side; the rows of a
   * chunk that fails go back to the buffer (their holds kept) for a retry with backoff. Never
   * rejects; true when every row is written (or deduplicated, or dead-lettered).
   */
  private writeBatch(b: TableBuffer<H>, batch: Buffered<H>[]): Promise<boolean> {
    for (const r of batch) b.inflight.add(r);
    const run = this.writeRows(b, batch);
    b.writing.add(run);
    void run.finally(() => {
      b.writing.delete(run);
      for (const r of batch) b.inflight.delete(r);
    });
    return run;
  }

  private async writeRows(b: TableBuffer<H>, batch: Buffered<H>[]): Promise<boolean> {
    try {
      await this.prepare(b.def);
    } catch (e) {
      return this.failed(b, batch, e);
    }
    // one row per (key, event time) within the batch: the last one wins
    const unique = new Map<string, Buffered<H>>();
    for (const r of batch) {
      const id = rowId(r.keyId, r.eventTimeMs);
      const prev = unique.get(id);
      if (prev) {
        // the same journal entry (table, key, event time) now waits for r
        r.journaled ||= prev.journaled;
        prev.journaled = false;
        this.finish(b.table, prev);
        this.stats.deduplicated++;
        unique.delete(id);
        r.suspect ||= prev.suspect;
      }
      unique.set(id, r);
    }
    let rows = [...unique.values()];
    const failed: Buffered<H>[] = [];
    let error: unknown;
    try {
      if (rows.some((r) => r.suspect)) {
        const fromMs = Math.min(...rows.map((r) => r.eventTimeMs));
        if (!b.known || fromMs < b.known.fromMs) b.known = { fromMs, ids: await this.existingIds(b, fromMs) };
        const known = b.known.ids;
        const fresh = rows.filter((r) => !known.has(rowId(r.keyId, r.eventTimeMs)));
        if (fresh.length < rows.length) {
          this.stats.deduplicated += rows.length - fresh.length;
          this.releaseRows(
            b.table,
            rows.filter((r) => known.has(rowId(r.keyId, r.eventTimeMs))),
          );
        }
        rows = fresh;
      } else if (b.writing.size <= 1) {
        b.known = undefined;
      }
    } catch (e) {
      failed.push(...rows);
      rows = [];
      error = e;
    }
    const chunks: Buffered<H>[][] = [];
    for (let i = 0; i < rows.length; i += this.options.chunkRows)
      chunks.push(rows.slice(i, i + this.options.chunkRows));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        try {
          const written = await this.appendChunk(b, chunk);
          if (b.known) for (const r of written) b.known.ids.add(rowId(r.keyId, r.eventTimeMs));
          this.stats.written += written.length;
          this.releaseRows(b.table, written);
        } catch (e) {
          failed.push(...chunk);
          error = e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.writeConcurrency, chunks.length) }, worker));
    if (failed.length === 0) {
      b.failures = 0;
      b.nextAttemptAtMs = 0;
      return true;
    }
    return this.failed(b, failed, error);
  }

  /** Puts rows that were not written back in the buffer and schedules the retry; returns false. */
  private failed(b: TableBuffer<H>, failed: Buffered<H>[], error: unknown): false {
    // keep the rows (and their holds); a partial write may have happened: check before the retry
    for (const r of failed) r.suspect = true;
    b.known = undefined;
    b.rows = [...failed, ...b.rows];
    this.buffered += failed.length;
    b.failures++;
    this.stats.failedWrites++;
    const wait = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** (b.failures - 1));
    b.nextAttemptAtMs = Date.now() + wait;
    const message = (error as Error)?.message ?? String(error);
    b.lastError = this.stats.lastError = `${b.table}: ${message}`;
    this.log(`downsync write to ${b.table} failed (attempt ${b.failures}, retry in ${wait} ms): ${message}`);
    return false;
  }

  /** Appends one chunk; a row the table refuses goes to dead letters. Returns the rows written. */
  private async appendChunk(b: TableBuffer<H>, chunk: Buffered<H>[]): Promise<Buffered<H>[]> {
    let rows = chunk;
    const nowMs = Date.now();
    while (rows.length > 0) {
      try {
        await this.offline.appendRows(
          b.table,
          rows.map((r) => ({ ...r.row, [ingestionTimeColumn]: nowMs })),
        );
        return rows;
      } catch (e) {
        if (!(e instanceof OfflineStoreInputError)) throw e;
        // the table refuses one row: nothing was written; that row goes to dead letters
        const bad = rows[e.rowIndex];
        if (!bad) throw e;
        await this.offline.writeDeadLetters([
          {
            feature: b.def.name,
            origin: 'downsync',
            reason: e.message,
            payload: jsonPayload(bad.row),
            occurredAtMs: nowMs,
          },
        ]);
        this.stats.deadLettered++;
        this.finish(b.table, bad);
        rows = rows.filter((r) => r !== bad);
      }
    }
    return rows;
  }

  /**
   * Writes the rows of these keys now (ahead of the rest of the buffer), or waits for the write
   * already carrying them; true once none of them is unwritten. While writes succeed it waits as
   * long as they take (back-pressure); once a write of the table has failed it gives up at
   * `deadlineMs` and leaves the rows buffered (retried in the background).
   */
  async writeKeysNow(table: string, keyIds: ReadonlySet<string>, deadlineMs: number): Promise<boolean> {
    for (;;) {
      const b = this.buffers.get(table);
      if (!b || ![...keyIds].some((k) => this.hasUnwritten(table, k))) return true;
      const now = Date.now();
      if (b.failures > 0 && now >= deadlineMs) return false;
      const mine = b.rows.filter((r) => keyIds.has(r.keyId));
      if (mine.length > 0) {
        if (now < b.nextAttemptAtMs) {
          await new Promise((r) => setTimeout(r, Math.max(5, Math.min(b.nextAttemptAtMs, deadlineMs) - now)));
          continue;
        }
        b.rows = b.rows.filter((r) => !keyIds.has(r.keyId));
        this.buffered -= mine.length;
        await this.writeBatch(b, mine);
        continue;
      }
      // the rows are in a write under way
      if (b.writing.size === 0) return true;
      await Promise.race(b.writing);
    }
  }
}
