import type { KeyValues, ObjectReadResult, OnlineStore } from '../stores/online/online-store.ts';
import { OnlineStoreInputError } from '../stores/online/online-store.ts';
import { StoreUnavailableError } from './api-error.ts';
import type { FeatureCounters, ReaderMetrics } from './metrics.ts';
import type { KeyId, RowCache } from './row-cache.ts';
import { type CachedRow, historyRow, objectRow } from './row-json.ts';
import type { ServedFeature } from './served-features.ts';
import type { SharedCache } from './shared-cache.ts';
import type { StoreGate } from './store-gate.ts';
import { TimeoutError, withTimeout } from './with-timeout.ts';

/** One requested key: its values (coerced to the key fields' types) and its id within the feature. */
export interface KeyRef {
  values: KeyValues;
  id: KeyId;
}

/** Rows in request order; `stale[i]` is true when row i was served past its freshness. */
export interface ReadRows {
  rows: CachedRow[];
  stale: boolean[] | null;
}

interface Flight {
  promise: Promise<CachedRow>;
  resolve(row: CachedRow): void;
  reject(e: unknown): void;
}

function newFlight(): Flight {
  let resolve!: (row: CachedRow) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<CachedRow>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // waiters attach their own handlers; this keeps an unwaited rejection from being reported
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** One caller's share of a coalesced Object read. */
interface PendingPart {
  keys: KeyValues[];
  resolve(results: ObjectReadResult[]): void;
  reject(e: unknown): void;
}

/** Object reads of one feature and projection that arrived in the same turn of the event loop. */
interface ReadBatch {
  feature: ServedFeature;
  fields: readonly string[] | undefined;
  parts: PendingPart[];
  keyCount: number;
}

/**
 * The read path of the reader: the in-process cache, then (for features that use it) the
 * shared Redis cache, then the online store, with a timeout on every store call and a bound
 * on the keys in flight (StoreGate). Concurrent
 * misses of one key share one read (single-flight): the first miss starts a read of all
 * the keys it lacks, later ones wait for it. Store results are converted to JSON form
 * once, as they arrive, and cached in that form. Object reads of one feature (and projection)
 * that arrive in the same turn of the event loop go to the store as one call (for Cassandra:
 * `IN` selects instead of one select per key), so many concurrent single-key lookups cost the
 * store what one batch does.
 */
export class FeatureReader {
  private readonly inflight = new Map<string, Flight>();
  private readonly batches = new Map<string, ReadBatch>();

  constructor(
    private readonly store: OnlineStore,
    private readonly cache: RowCache | null,
    private readonly shared: SharedCache | null,
    private readonly metrics: ReaderMetrics,
    private readonly timeoutMs: number,
    private readonly gate: StoreGate,
    /** The time cached rows are fresh against (tests pass a clock they move). */
    private readonly clock: () => number = Date.now,
  ) {}

  /** Rows of `keys`, synchronously when every key is fresh in the cache. */
  read(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    fields: readonly string[] | undefined,
    limit: number | undefined,
  ): ReadRows | Promise<ReadRows> {
    const counters = this.metrics.feature(feature.name);
    const useCache = this.cache !== null && feature.policy.ttlMs > 0;
    if (!useCache && !(this.shared !== null && feature.policy.redis))
      return this.direct(feature, keys, fields, limit, counters);
    const rows: CachedRow[] = new Array(keys.length);
    let misses: number[] | null = null;
    let staleRows: (CachedRow | undefined)[] | null = null;
    if (useCache) {
      const now = this.clock();
      const cache = this.cache!;
      const prefix = feature.cachePrefix;
      for (let i = 0; i < keys.length; i++) {
        const hit = cache.get(prefix, keys[i]!.id, now);
        if (hit?.fresh) {
          rows[i] = hit.row;
          continue;
        }
        if (misses === null) misses = [];
        misses.push(i);
        if (hit === undefined) continue;
        if (staleRows === null) staleRows = [];
        staleRows[i] = hit.row;
      }
      counters.cacheMisses += misses === null ? 0 : misses.length;
      counters.cacheHits += keys.length - (misses === null ? 0 : misses.length);
      if (misses === null) return { rows, stale: null };
    } else {
      misses = keys.map((_, i) => i);
    }
    return this.fill(feature, keys, rows, misses, staleRows, counters);
  }

  private async fill(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    rows: CachedRow[],
    misses: readonly number[],
    staleRows: (CachedRow | undefined)[] | null,
    counters: FeatureCounters,
  ): Promise<ReadRows> {
    const waits: Promise<CachedRow>[] = [];
    const mine: { key: KeyRef; flight: Flight }[] = [];
    for (const i of misses) {
      const ck = feature.cachePrefix + keys[i]!.id;
      let flight = this.inflight.get(ck);
      if (flight === undefined) {
        flight = newFlight();
        this.inflight.set(ck, flight);
        mine.push({ key: keys[i]!, flight });
      }
      waits.push(flight.promise);
    }
    if (mine.length > 0) void this.fetch(feature, mine, counters);
    const settled = await Promise.allSettled(waits);
    let stale: boolean[] | null = null;
    for (let j = 0; j < misses.length; j++) {
      const i = misses[j]!;
      const s = settled[j]!;
      if (s.status === 'fulfilled') {
        rows[i] = s.value;
        continue;
      }
      const old = staleRows?.[i];
      if (
        old !== undefined &&
        feature.policy.staleIfErrorMs > 0 &&
        s.reason instanceof StoreUnavailableError
      ) {
        rows[i] = old;
        if (stale === null) stale = new Array(keys.length).fill(false);
        stale[i] = true;
        counters.staleServed++;
        continue;
      }
      throw s.reason;
    }
    return { rows, stale };
  }

  /** Reads the keys of `flights` (shared cache first), caches and settles each flight. */
  private async fetch(
    feature: ServedFeature,
    flights: { key: KeyRef; flight: Flight }[],
    counters: FeatureCounters,
  ): Promise<void> {
    const results: (CachedRow | undefined)[] = new Array(flights.length);
    const fetchedAt: number[] = new Array(flights.length).fill(this.clock());
    const policy = feature.policy;
    try {
      let todo = flights.map((_, j) => j);
      if (this.shared !== null && policy.redis) {
        try {
          const got = await withTimeout(
            this.shared.get(
              feature,
              flights.map((f) => f.key.id),
            ),
            this.timeoutMs,
            'redis',
          );
          todo = [];
          got.forEach((g, j) => {
            if (g === undefined) {
              todo.push(j);
              return;
            }
            results[j] = g.row;
            fetchedAt[j] = g.fetchedAtMs;
          });
          counters.redisHits += flights.length - todo.length;
          counters.redisMisses += todo.length;
        } catch {
          counters.redisErrors++;
        }
      }
      if (todo.length > 0) {
        const fromStore = await this.readStore(
          feature,
          todo.map((j) => flights[j]!.key.values),
          undefined,
          feature.isHistory ? feature.maxEntries : undefined,
          counters,
        );
        const now = this.clock();
        todo.forEach((j, n) => {
          results[j] = fromStore[n]!;
          fetchedAt[j] = now;
        });
        if (this.shared !== null && policy.redis) {
          this.shared.set(
            feature,
            todo.map((j) => ({ id: flights[j]!.key.id, row: results[j]! })),
            now,
          );
        }
      }
      const now = this.clock();
      flights.forEach(({ key, flight }, j) => {
        const row = results[j]!;
        const ck = feature.cachePrefix + key.id;
        if (this.inflight.get(ck) === flight) {
          this.inflight.delete(ck);
          if (this.cache !== null && policy.ttlMs > 0) {
            // never fresh past the row's own expiry, nor (from Redis) past the shared TTL
            const expiry =
              row.found && feature.retentionMs !== undefined && row.lastUpdatedAtMs !== null
                ? row.lastUpdatedAtMs + feature.retentionMs
                : Number.POSITIVE_INFINITY;
            const freshUntil = Math.min(
              now + policy.ttlMs,
              fetchedAt[j]! + Math.max(policy.ttlMs, policy.redisTtlMs),
              expiry,
            );
            this.cache.set(
              feature.cachePrefix,
              key.id,
              row,
              freshUntil,
              Math.min(freshUntil + policy.staleIfErrorMs, expiry),
            );
          }
        }
        flight.resolve(row);
      });
    } catch (e) {
      for (const { key, flight } of flights) {
        const ck = feature.cachePrefix + key.id;
        if (this.inflight.get(ck) === flight) this.inflight.delete(ck);
        flight.reject(e);
      }
    }
  }

  /** Without cache: one store read with the projection and limit pushed down. */
  private async direct(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    fields: readonly string[] | undefined,
    limit: number | undefined,
    counters: FeatureCounters,
  ): Promise<ReadRows> {
    const rows = await this.readStore(
      feature,
      keys.map((k) => k.values),
      fields,
      limit,
      counters,
    );
    return { rows, stale: null };
  }

  private async readStore(
    feature: ServedFeature,
    keys: KeyValues[],
    fields: readonly string[] | undefined,
    limit: number | undefined,
    counters: FeatureCounters,
  ): Promise<CachedRow[]> {
    counters.storeReads++;
    counters.storeKeys += keys.length;
    const options = fields === undefined ? {} : { fields };
    try {
      if (feature.isHistory) {
        const { result, waitedMs } = await this.gate.run(keys.length, this.timeoutMs, () =>
          this.store.readHistory(feature.def, keys, limit === undefined ? options : { ...options, limit }),
        );
        const r = await withTimeout(result, Math.max(1, this.timeoutMs - waitedMs), 'the online store');
        return r.map((x) => historyRow(feature, x));
      }
      const r = await this.readObjectsCoalesced(feature, keys, fields);
      return r.map((x) => objectRow(feature, x));
    } catch (e) {
      if (e instanceof OnlineStoreInputError) throw e;
      if (e instanceof TimeoutError) {
        counters.storeTimeouts++;
        throw new StoreUnavailableError(feature.name, 'timeout');
      }
      counters.storeErrors++;
      throw new StoreUnavailableError(feature.name, 'error', e);
    }
  }

  /** Joins the Object read of this turn for the feature and projection (one store call for all). */
  private readObjectsCoalesced(
    feature: ServedFeature,
    keys: KeyValues[],
    fields: readonly string[] | undefined,
  ): Promise<ObjectReadResult[]> {
    const id = fields === undefined ? feature.name : `${feature.name}\u0000${fields.join('\u0000')}`;
    let batch = this.batches.get(id);
    if (batch === undefined || batch.keyCount + keys.length > this.gate.maxKeys) {
      const created: ReadBatch = { feature, fields, parts: [], keyCount: 0 };
      batch = created;
      this.batches.set(id, created);
      setImmediate(() => this.flushBatch(id, created));
    }
    batch.keyCount += keys.length;
    const parts = batch.parts;
    return new Promise((resolve, reject) => parts.push({ keys, resolve, reject }));
  }

  private flushBatch(id: string, batch: ReadBatch): void {
    if (this.batches.get(id) === batch) this.batches.delete(id);
    const { parts } = batch;
    const keys = parts.length === 1 ? parts[0]!.keys : parts.flatMap((p) => p.keys);
    this.readObjectsNow(batch.feature, keys, batch.fields).then(
      (results) => {
        let at = 0;
        for (const p of parts) {
          p.resolve(parts.length === 1 ? results : results.slice(at, at + p.keys.length));
          at += p.keys.length;
        }
      },
      (e: unknown) => {
        // a key the store refuses must not fail the other callers: each asks alone again
        if (e instanceof OnlineStoreInputError && parts.length > 1) {
          for (const p of parts)
            this.readObjectsNow(batch.feature, p.keys, batch.fields).then(p.resolve, p.reject);
          return;
        }
        for (const p of parts) p.reject(e);
      },
    );
  }

  private async readObjectsNow(
    feature: ServedFeature,
    keys: KeyValues[],
    fields: readonly string[] | undefined,
  ): Promise<ObjectReadResult[]> {
    const { result, waitedMs } = await this.gate.run(keys.length, this.timeoutMs, () =>
      this.store.readObjects(feature.def, keys, fields === undefined ? undefined : { fields }),
    );
    return withTimeout(result, Math.max(1, this.timeoutMs - waitedMs), 'the online store');
  }

  /** Forgets cached rows of these keys here and in the shared cache (after a push changed them). */
  async invalidate(feature: ServedFeature, ids: readonly KeyId[]): Promise<void> {
    this.invalidateLocal(feature.cachePrefix, ids);
    if (this.shared !== null && feature.policy.redis) {
      try {
        await this.shared.delete(feature, ids);
      } catch {
        this.metrics.feature(feature.name).redisErrors++;
      }
    }
  }

  /** Forgets cached rows in this thread only; reads already under way for them are not cached. */
  invalidateLocal(cachePrefix: string, ids: readonly KeyId[]): void {
    for (const id of ids) {
      this.cache?.delete(cachePrefix, id);
      this.inflight.delete(cachePrefix + id);
    }
  }
}
