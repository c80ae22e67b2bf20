import { eventTimeField, type FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { layoutOf } from '../../domain/kinds/feature-kinds.ts';
import { featureTableName } from '../../stores/offline/column-types.ts';
import type { OfflineStore } from '../../stores/offline/offline-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { retrying } from '../commands/command-retry.ts';
import type { DownsyncJournal } from './downsync-journal.ts';
import {
  type DownsyncCandidate,
  type DownsyncPolicy,
  DownsyncSampler,
  type EmittedRow,
  type SamplerStats,
} from './downsync-sampler.ts';
import { DownsyncWriter, type DownsyncWriterOptions, type OfflineRowValues } from './downsync-writer.ts';

export interface DownsyncPipelineOptions extends Partial<DownsyncWriterOptions> {
  /** How long after its interval ends a pending row still takes late states (default 2 s). */
  latenessMs?: number;
  /** Keys per read-back request (default 500). */
  readBackChunk?: number;
  /** Read-back requests under way at once (default 4). */
  readBackConcurrency?: number;
}

interface FeatureSampler<H> {
  policyId: string;
  sampler: DownsyncSampler<OfflineRowValues, H>;
  def: FeatureDefinition;
  table: string;
  /** Keys whose closed row waits for its read-back (not in the writer yet), with its chunk. */
  reading: Map<string, ReadChunk<H>>;
}

/** Closed rows of one feature read back together. */
interface ReadChunk<H> {
  f: FeatureSampler<H>;
  rows: EmittedRow<OfflineRowValues, H>[];
  started: boolean;
  done: Promise<void>;
  resolve(): void;
}

/** Keys waiting to move on to a later interval, gathered for one write. */
interface Barrier {
  def: FeatureDefinition;
  keys: Map<string, number>;
  waiters: (() => void)[];
  scheduled: boolean;
  inflight: number;
}

/** The policy downsync applies to a feature, or undefined when its downsync is off. */
export function downsyncPolicy(def: FeatureDefinition, latenessMs: number): DownsyncPolicy | undefined {
  const d = def.downsync;
  if (!d?.enabled) return undefined;
  return {
    minIntervalMs: d.minIntervalByKeyMs,
    samplingRatio: d.randomSamplingRatio,
    latenessMs,
    phased: true,
  };
}

/**
 * Downsync of every feature a consumer sees: one sampler per feature (sampling and interval)
 * feeding one writer (batched offline writes). Holds travel with the rows and are released when
 * a row is written or will never be.
 *
 * Object features are read back lazily: a pending row is only a key (and the event time and
 * offset of its latest command) until its interval closes; then the merged value is read from
 * the online store, as the reader would return it. That is one read per key and interval, not
 * one per command, and it is exact because a key's next interval is never applied online before
 * the row of its current one is written (closeBeforeAdvance), and an interval closes by the
 * clock only once its partition's stream has passed it.
 */
export class DownsyncPipeline<H> {
  readonly writer: DownsyncWriter<H>;
  private readonly features = new Map<string, FeatureSampler<H>>();
  private readonly latenessMs: number;
  private readonly readBackChunk: number;
  private readonly readBackConcurrency: number;
  private readonly queue: ReadChunk<H>[] = [];
  private readonly barriers = new Map<string, Barrier>();
  /** Tables whose journal this pipeline has read. */
  private readonly recovered = new Set<string>();
  /** Closed rows dropped because the key's online value had moved to a later interval. */
  movedOn = 0;
  private reading = 0;

  constructor(
    offline: OfflineStore,
    private readonly online: OnlineStore,
    private readonly release: (hold: H) => void,
    /** Whether a row from this hold may already be in the offline table (replayed). */
    private readonly suspect: (hold: H) => boolean,
    options: DownsyncPipelineOptions = {},
    private readonly log: (message: string) => void = () => {},
    private readonly signal?: AbortSignal,
    /**
     * Where rows of keys that move on are made durable when the warehouse is slower (see
     * closeBeforeAdvance); without one, those keys wait for the warehouse write.
     */
    private readonly journal?: DownsyncJournal,
  ) {
    this.latenessMs = options.latenessMs ?? 2_000;
    this.readBackChunk = options.readBackChunk ?? 500;
    this.readBackConcurrency = options.readBackConcurrency ?? 4;
    this.writer = new DownsyncWriter(offline, release, options, log);
    if (journal) {
      this.writer.onJournaledDone = (table, row) => {
        const removal: Promise<void> = journal
          .remove(table, [row])
          .catch((e: Error) =>
            this.log(
              `downsync journal: could not remove a written row of ${table} (kept, checked on restart): ${e.message}`,
            ),
          )
          .finally(() => this.journalRemovals.delete(removal));
        this.journalRemovals.add(removal);
      };
    }
  }

  /** Removals of journal entries whose rows are in the warehouse, under way in the background. */
  private readonly journalRemovals = new Set<Promise<void>>();

  /** Resolves once every journal removal under way (and any it started) has ended. */
  async journalRemovalsSettled(): Promise<void> {
    while (this.journalRemovals.size > 0) await Promise.all([...this.journalRemovals]);
  }

  /** Writes what a stopped consumer left in the feature's journal (once per feature and process). */
  private recover(f: FeatureSampler<H>): void {
    const journal = this.journal;
    if (!journal || this.recovered.has(f.table)) return;
    this.recovered.add(f.table);
    const { def, table } = f;
    retrying(`downsync journal of ${table}`, () => journal.load(table), {
      signal: this.signal,
      onRetry: (e, n, wait) => {
        if (n === 1 || n % 10 === 0)
          this.log(`downsync journal of ${table} unreadable (attempt ${n}, retry in ${wait} ms): ${e}`);
      },
    })
      .then((rows) => {
        if (rows.length === 0) return;
        this.log(`downsync journal of ${table}: writing ${rows.length} row(s) a stopped consumer left`);
        this.writer.addRecovered(def, table, rows, Date.now());
      })
      .catch((e: Error) => this.log(`downsync journal of ${table}: ${e.message}`));
  }

  enabled(def: FeatureDefinition): boolean {
    return def.downsync?.enabled === true;
  }

  private feature(def: FeatureDefinition): FeatureSampler<H> {
    const policy = downsyncPolicy(def, this.latenessMs);
    if (!policy) throw new Error(`${def.name} has no downsync`);
    const policyId = JSON.stringify(policy);
    // the offline table is created in the background: rows wait for it in the writer, the
    // consumer does not (a slow warehouse must not hold up the online path at start)
    const table = featureTableName(def);
    this.writer.prepare(def).catch(() => {});
    let f = this.features.get(def.name);
    if (f && f.policyId !== policyId) {
      // the definition changed: what was pending under the old policy is written as it is
      this.materialize(f, f.sampler.drain()).catch((e: Error) =>
        this.log(`downsync of ${def.name}: ${e.message}`),
      );
      f = undefined;
    }
    if (!f) {
      f = {
        policyId,
        sampler: new DownsyncSampler(policy, this.release),
        def,
        table,
        reading: new Map(),
      };
      this.features.set(def.name, f);
    }
    f.def = def;
    f.table = table;
    this.recover(f);
    return f;
  }

  /** The feature's sampler (created on first use). */
  async sampler(def: FeatureDefinition): Promise<DownsyncSampler<OfflineRowValues, H>> {
    return this.feature(def).sampler;
  }

  /**
   * Offers states of one feature: for Object features a candidate's row is just the key values
   * (read back when the row closes); for History features it is the entry itself.
   */
  async offer(
    def: FeatureDefinition,
    candidates: readonly DownsyncCandidate<OfflineRowValues, H>[],
  ): Promise<void> {
    const f = this.feature(def);
    const closed: EmittedRow<OfflineRowValues, H>[] = [];
    for (const c of candidates) closed.push(...f.sampler.offer(c));
    await this.materialize(f, closed);
  }

  /**
   * Turns closed rows into offline rows (reading Object values back, in chunks, a few at once)
   * and hands them to the writer. Resolves when all of them are in the writer.
   */
  private async materialize(f: FeatureSampler<H>, rows: EmittedRow<OfflineRowValues, H>[]): Promise<void> {
    if (rows.length === 0) return;
    if (layoutOf(f.def) === 'entries') {
      this.writer.add(f.def, f.table, rows, this.suspect, Date.now());
      return;
    }
    const chunks: ReadChunk<H>[] = [];
    for (let i = 0; i < rows.length; i += this.readBackChunk) {
      const chunk = this.newChunk(f, rows.slice(i, i + this.readBackChunk));
      chunks.push(chunk);
      this.queue.push(chunk);
    }
    this.pump();
    await Promise.all(chunks.map((c) => c.done));
  }

  private newChunk(f: FeatureSampler<H>, rows: EmittedRow<OfflineRowValues, H>[]): ReadChunk<H> {
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    const chunk: ReadChunk<H> = { f, rows, started: false, done, resolve };
    for (const r of rows) f.reading.set(r.keyId, chunk);
    return chunk;
  }

  private pump(): void {
    while (this.reading < this.readBackConcurrency && this.queue.length > 0) {
      const chunk = this.queue.shift()!;
      if (chunk.started) continue;
      this.reading++;
      void this.readChunk(chunk).finally(() => {
        this.reading--;
        this.pump();
      });
    }
  }

  /** Reads one chunk back (retrying until the online store answers) and hands it to the writer. */
  private async readChunk(chunk: ReadChunk<H>): Promise<void> {
    chunk.started = true;
    const { f } = chunk;
    const def = f.def;
    try {
      if (chunk.rows.length === 0) return;
      const aggregates = layoutOf(def) === 'aggregates';
      const results = await retrying(
        `read-back of ${def.name}`,
        () =>
          aggregates
            ? // the values as served right after the sampled event: each row as of its event time
              Promise.all(
                chunk.rows.map(
                  async (r) => (await this.online.readAggregates(def, [r.row], { atMs: r.eventTimeMs }))[0]!,
                ),
              )
            : this.online.readObjects(
                def,
                chunk.rows.map((r) => r.row),
              ),
        {
          signal: this.signal,
          onRetry: (e, n, wait) => {
            if (n === 1 || n % 10 === 0)
              this.log(`downsync read-back of ${def.name} failed (attempt ${n}, retry in ${wait} ms): ${e}`);
          },
        },
      );
      const ready: EmittedRow<OfflineRowValues, H>[] = [];
      chunk.rows.forEach((r, j) => {
        const v = results[j]!;
        const eventTimeMs = aggregates ? r.eventTimeMs : (v.lastUpdatedAtMs ?? r.eventTimeMs);
        if (!aggregates && f.sampler.bucketOf(r.keyId, eventTimeMs) > r.bucket) {
          // the online value is already in a later interval: commands replayed after a restart
          // (the row of this interval was written before the key moved on), or another writer
          // (an upsync) moved it on. The later interval's row will carry that state.
          this.movedOn++;
          this.release(r.hold);
          return;
        }
        ready.push({ ...r, eventTimeMs, row: { ...r.row, ...v.values, [eventTimeField]: eventTimeMs } });
      });
      this.writer.add(def, f.table, ready, this.suspect, Date.now());
    } catch (e) {
      this.log(`downsync read-back of ${def.name} stopped: ${(e as Error).message}`);
    } finally {
      for (const r of chunk.rows) if (f.reading.get(r.keyId) === chunk) f.reading.delete(r.keyId);
      chunk.resolve();
    }
  }

  /** Reads these keys' closed rows now, ahead of the queue (a command waits for them). */
  private async readNow(f: FeatureSampler<H>, keyIds: readonly string[]): Promise<void> {
    const waiting: Promise<void>[] = [];
    const jump: EmittedRow<OfflineRowValues, H>[] = [];
    for (const k of keyIds) {
      const chunk = f.reading.get(k);
      if (!chunk) continue;
      if (chunk.started) {
        waiting.push(chunk.done);
        continue;
      }
      const i = chunk.rows.findIndex((r) => r.keyId === k);
      if (i >= 0) jump.push(...chunk.rows.splice(i, 1));
      f.reading.delete(k);
    }
    if (jump.length > 0) waiting.push(this.readChunk(this.newChunk(f, jump)));
    await Promise.all(waiting);
  }

  /**
   * Before commands that move these keys into a later interval are applied online: closes the
   * keys' pending rows and reads them back. Once the online value has moved on, a pending row
   * could not be rebuilt after a crash, so it is made durable first: with a journal, in the
   * journal (the online store, milliseconds; the warehouse write follows in the background and
   * removes the entry); without one, by writing it to the warehouse, which holds the caller back
   * while the warehouse is slow and at most `timeoutMs` once a write has failed (then the rows
   * stay buffered and a crash during the outage may lose the rows of keys that moved on).
   */
  async closeBeforeAdvance(
    def: FeatureDefinition,
    keys: ReadonlyMap<string, number>,
    timeoutMs: number,
  ): Promise<boolean> {
    const f = this.features.get(def.name);
    if (!f || keys.size === 0) return true;
    // close only rows of intervals before the one the key's next command is in
    const older = [...keys].filter(([k, bucket]) => {
      const pending = f.sampler.pendingBucket(k);
      return pending !== undefined && pending < bucket;
    });
    const closed = f.sampler.close(older.map(([k]) => k));
    if (layoutOf(f.def) !== 'entries') {
      // read the just-closed rows at once (readChunk marks its chunk started before its first await)
      const direct = closed.length > 0 ? this.readChunk(this.newChunk(f, closed)) : Promise.resolve();
      await Promise.all([direct, this.readNow(f, [...keys.keys()])]);
    } else {
      await this.materialize(f, closed);
    }
    const keyIds = new Set(keys.keys());
    if (this.journal) {
      const journal = this.journal;
      const rows = this.writer.unwrittenRows(f.table, keyIds).filter((r) => !r.journaled);
      if (rows.length === 0) return true;
      await retrying(`downsync journal of ${f.table}`, () => journal.save(f.table, rows), {
        signal: this.signal,
        onRetry: (e, n, wait) => {
          if (n === 1 || n % 10 === 0)
            this.log(`downsync journal write failed (attempt ${n}, retry in ${wait} ms): ${e}`);
        },
      });
      this.writer.markJournaled(f.table, rows);
      return true;
    }
    return this.writer.writeKeysNow(f.table, keyIds, Date.now() + timeoutMs);
  }

  /**
   * Waits until the key may move to `bucket` online: its rows of earlier intervals are written
   * (see closeBeforeAdvance). Requests of many keys are gathered and served together: one
   * read-back and one write for all the keys that arrive while the previous round runs.
   */
  advance(def: FeatureDefinition, keyId: string, bucket: number, timeoutMs: number): Promise<void> {
    let b = this.barriers.get(def.name);
    if (!b) {
      b = { def, keys: new Map(), waiters: [], scheduled: false, inflight: 0 };
      this.barriers.set(def.name, b);
    }
    b.def = def;
    const prev = b.keys.get(keyId);
    if (prev === undefined || bucket > prev) b.keys.set(keyId, bucket);
    const done = new Promise<void>((resolve) => b.waiters.push(resolve));
    this.scheduleBarrier(b, timeoutMs);
    return done;
  }

  /** Starts a round for the gathered keys on the next turn of the event loop (at most 3 rounds at once). */
  private scheduleBarrier(b: Barrier, timeoutMs: number): void {
    if (b.scheduled || b.inflight >= 3 || b.keys.size === 0) return;
    b.scheduled = true;
    setImmediate(() => {
      b.scheduled = false;
      if (b.keys.size === 0) return;
      const keys = b.keys;
      const waiters = b.waiters;
      b.keys = new Map();
      b.waiters = [];
      b.inflight++;
      this.closeBeforeAdvance(b.def, keys, timeoutMs)
        .then((written) => {
          if (!written)
            this.log(
              `${b.def.name}: downsync rows not written in time before their keys moved on; retried in the background`,
            );
        })
        .catch((e: Error) => this.log(`${b.def.name}: downsync barrier: ${e.message}`))
        .finally(() => {
          for (const w of waiters) w();
          b.inflight--;
          this.scheduleBarrier(b, timeoutMs);
        });
    });
  }

  /** Whether the key has a row of an earlier interval not written yet (pending, being read back, or buffered). */
  holdsEarlierRow(def: FeatureDefinition, keyId: string, bucket: number): boolean {
    const f = this.features.get(def.name);
    if (!f) return false;
    const pending = f.sampler.pendingBucket(keyId);
    return (
      (pending !== undefined && bucket > pending) ||
      f.reading.has(keyId) ||
      this.writer.hasUnwritten(f.table, keyId)
    );
  }

  /**
   * Closes the pending rows whose interval ended (see DownsyncSampler.due), starts reading them
   * back, and starts the writes that are due.
   */
  tick(
    clock: (hold: H) => number,
    maxClock: number,
    nowMs = Date.now(),
    skip?: (def: FeatureDefinition, keyId: string) => boolean,
  ): Promise<void> {
    for (const f of this.features.values()) {
      const rows = f.sampler.due(clock, maxClock, skip && ((k) => skip(f.def, k)));
      // read back in the background; the keys count as unwritten from now on
      if (rows.length > 0)
        this.materialize(f, rows).catch((e: Error) => this.log(`downsync of ${f.def.name}: ${e.message}`));
    }
    return this.writer.flushDue(nowMs);
  }

  /** Resolves when no closed row waits for its read-back (rows already closed reach the writer). */
  async settle(): Promise<void> {
    for (;;) {
      const chunks = [...this.features.values()].flatMap((f) => [...new Set(f.reading.values())]);
      if (chunks.length === 0) return;
      await Promise.all(chunks.map((c) => c.done));
    }
  }

  /** Emits every pending row of every feature (finite runs and tests). */
  async drainPending(): Promise<void> {
    await Promise.all([...this.features.values()].map((f) => this.materialize(f, f.sampler.drain())));
  }

  /** Drops pending rows whose hold matches (releasing them); their commands will be delivered again. */
  dropPending(test: (hold: H) => boolean): number {
    let n = 0;
    for (const f of this.features.values()) n += f.sampler.dropWhere(test);
    return n;
  }

  pendingCount(): number {
    let n = 0;
    for (const f of this.features.values()) n += f.sampler.pendingCount;
    return n;
  }

  samplerStats(): Record<string, SamplerStats> {
    const out: Record<string, SamplerStats> = {};
    for (const [name, f] of this.features) out[name] = { ...f.sampler.stats };
    return out;
  }
}
