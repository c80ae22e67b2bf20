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

type Outcome = { ok: true; rows: CachedRow[] } | { ok: false; reason: unknown };

/**
 * One read under way (shared cache, then store) of the keys one lookup missed. The lookup
 * that started it awaits the read itself; other lookups that miss the same keys meanwhile wait
 * as listeners, so the common case (no overlap) makes no promise beyond the store read's.
 */
interface Flight {
  waiters: ((o: Outcome) => void)[] | null;
}

/** A key being read: the read and the key's place in it. Later misses of the key wait for that read. */
interface KeyInFlight {
  flight: Flight;
  index: number;
}

const waitFor = (f: Flight): Promise<Outcome> =>
  new Promise((resolve) => {
    if (f.waiters === null) f.waiters = [];
    f.waiters.push(resolve);
  });

function settle(flight: Flight, o: Outcome): Outcome {
  if (flight.waiters !== null) for (const w of flight.waiters) w(o);
  return o;
}

/**
 * How the cache is doing for one feature (its cache scope) over the last window of keys looked
 * up in it. A cache that hits under `bypassBelow` of the keys costs more than it saves (a miss
 * through the cache costs the bookkeeping of single-flight and admission on top of the store
 * read); the feature's lookups then go straight to the store, but one in `sampleEvery` still goes
 * through the cache, so that its sketch keeps learning and a load that turns skewed brings the
 * cache back at the end of a window.
 */
interface CacheUse {
  keys: number;
  hits: number;
  bypass: boolean;
  tick: number;
}

const cacheUseWindow = 20_000;
const bypassBelow = 0.05;
const sampleEvery = 16;

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
  /** Keys being read, per cache scope (feature and revision). */
  private readonly inflight = new Map<string, Map<KeyId, KeyInFlight>>();
  private readonly batches = new Map<string, ReadBatch>();
  private readonly cacheUse = new Map<string, CacheUse>();

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
    let use: CacheUse | undefined;
    if (useCache && !(this.shared !== null && feature.policy.redis)) {
      use = this.cacheUseOf(feature.cachePrefix);
      if (use.bypass && ++use.tick % sampleEvery !== 0) {
        counters.cacheBypassed += keys.length;
        return this.direct(feature, keys, fields, limit, counters);
      }
    }
    const rows: CachedRow[] = new Array(keys.length);
    let misses: number[] | null = null;
    let staleRows: (CachedRow | undefined)[] | null = null;
    if (useCache) {
      const now = this.clock();
      const cache = this.cache!;
      const scope = cache.scopeOf(feature.cachePrefix);
      for (let i = 0; i < keys.length; i++) {
        const hit = cache.getIn(scope, keys[i]!.id, now);
        if (hit !== undefined && now < hit.freshUntil) {
          rows[i] = hit.row;
          continue;
        }
        if (misses === null) misses = [];
        misses.push(i);
        if (hit === undefined) continue;
        if (staleRows === null) staleRows = [];
        staleRows[i] = hit.row;
      }
      const missed = misses === null ? 0 : misses.length;
      counters.cacheMisses += missed;
      counters.cacheHits += keys.length - missed;
      if (use !== undefined) {
        use.keys += keys.length;
        use.hits += keys.length - missed;
        if (use.keys >= cacheUseWindow) {
          // judged once the cache is full: while it fills, a low hit ratio says nothing
          const cache = this.cache!;
          use.bypass = use.hits < bypassBelow * use.keys && cache.bytes >= 0.9 * cache.maxBytes;
          use.keys = 0;
          use.hits = 0;
        }
      }
      if (misses === null) return { rows, stale: null };
    } else {
      misses = keys.map((_, i) => i);
    }
    return this.fill(feature, keys, rows, misses, staleRows, counters);
  }

  /** Reads the missed keys: those no other lookup is reading in one read of their own, waiting for the others. */
  private fill(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    rows: CachedRow[],
    misses: readonly number[],
    staleRows: (CachedRow | undefined)[] | null,
    counters: FeatureCounters,
  ): Promise<ReadRows> {
    const pending = this.pendingIn(feature.cachePrefix);
    let mine: KeyRef[] | null = null;
    let flight: Flight | null = null;
    let others: Flight[] | null = null;
    const from: KeyInFlight[] = new Array(misses.length);
    for (let j = 0; j < misses.length; j++) {
      const key = keys[misses[j]!]!;
      let at = pending.get(key.id);
      if (at === undefined) {
        if (flight === null) {
          flight = { waiters: null };
          mine = [];
        }
        at = { flight, index: mine!.length };
        mine!.push(key);
        pending.set(key.id, at);
      } else if (at.flight !== flight) {
        if (others === null) others = [];
        if (!others.includes(at.flight)) others.push(at.flight);
      }
      from[j] = at;
    }
    const own = flight === null ? null : this.fetch(feature, mine!, flight, pending, counters);
    const done = (flights: readonly (Flight | null)[], outcomes: readonly Outcome[]) =>
      this.assemble(feature, keys, rows, misses, from, flights, outcomes, staleRows, counters);
    // the common case: every missed key is this lookup's own read
    if (others === null) return own!.then((o) => done([flight], [o]));
    const flights: (Flight | null)[] = own === null ? others : [flight, ...others];
    return Promise.all(flights.map((f) => (f === flight ? own! : waitFor(f!)))).then((o) => done(flights, o));
  }

  /** Puts each missed row in its place, or its stale row when the read failed and the feature allows it. */
  private assemble(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    rows: CachedRow[],
    misses: readonly number[],
    from: readonly KeyInFlight[],
    flights: readonly (Flight | null)[],
    outcomes: readonly Outcome[],
    staleRows: (CachedRow | undefined)[] | null,
    counters: FeatureCounters,
  ): ReadRows {
    let stale: boolean[] | null = null;
    for (let j = 0; j < misses.length; j++) {
      const i = misses[j]!;
      const { flight: f, index } = from[j]!;
      const o = outcomes.length === 1 ? outcomes[0]! : outcomes[flights.indexOf(f)]!;
      if (o.ok) {
        rows[i] = o.rows[index]!;
        continue;
      }
      const old = staleRows?.[i];
      if (
        old !== undefined &&
        feature.policy.staleIfErrorMs > 0 &&
        o.reason instanceof StoreUnavailableError
      ) {
        rows[i] = old;
        if (stale === null) stale = new Array(keys.length).fill(false);
        stale[i] = true;
        counters.staleServed++;
        continue;
      }
      throw o.reason;
    }
    return { rows, stale };
  }

  private cacheUseOf(cachePrefix: string): CacheUse {
    let use = this.cacheUse.get(cachePrefix);
    if (use === undefined) {
      use = { keys: 0, hits: 0, bypass: false, tick: 0 };
      this.cacheUse.set(cachePrefix, use);
    }
    return use;
  }

  private pendingIn(cachePrefix: string): Map<KeyId, KeyInFlight> {
    let pending = this.inflight.get(cachePrefix);
    if (pending === undefined) {
      pending = new Map();
      this.inflight.set(cachePrefix, pending);
    }
    return pending;
  }

  /** Reads `keys` (shared cache first, when the feature uses it), caches each row and tells the flight's waiters; never rejects. */
  private fetch(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    flight: Flight,
    pending: Map<KeyId, KeyInFlight>,
    counters: FeatureCounters,
  ): Promise<Outcome> {
    const read =
      this.shared !== null && feature.policy.redis
        ? this.readShared(feature, keys, counters)
        : this.readStore(
            feature,
            keys.map((k) => k.values),
            undefined,
            feature.isHistory ? feature.maxEntries : undefined,
            counters,
          ).then((rows) => ({ rows, fetchedAt: null }));
    return read.then(
      ({ rows, fetchedAt }) => {
        this.keep(feature, keys, rows, fetchedAt, flight, pending);
        return settle(flight, { ok: true, rows });
      },
      (reason: unknown) => {
        for (const k of keys) if (pending.get(k.id)?.flight === flight) pending.delete(k.id);
        return settle(flight, { ok: false, reason });
      },
    );
  }

  /** Rows from the shared cache, the rest from the store (which then go to the shared cache too). */
  private async readShared(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    counters: FeatureCounters,
  ): Promise<{ rows: CachedRow[]; fetchedAt: number[] | null }> {
    const results: CachedRow[] = new Array(keys.length);
    let fetchedAt: number[] | null = null;
    let todo: number[] | null = null;
    try {
      const got = await withTimeout(
        this.shared!.get(
          feature,
          keys.map((k) => k.id),
        ),
        this.timeoutMs,
        'redis',
      );
      todo = [];
      fetchedAt = new Array(keys.length).fill(this.clock());
      for (let j = 0; j < got.length; j++) {
        const g = got[j];
        if (g === undefined) {
          todo.push(j);
          continue;
        }
        results[j] = g.row;
        fetchedAt[j] = g.fetchedAtMs;
      }
      counters.redisHits += keys.length - todo.length;
      counters.redisMisses += todo.length;
    } catch {
      todo = null;
      counters.redisErrors++;
    }
    if (todo === null || todo.length > 0) {
      const asked = todo === null ? keys : todo.map((j) => keys[j]!);
      const fromStore = await this.readStore(
        feature,
        asked.map((k) => k.values),
        undefined,
        feature.isHistory ? feature.maxEntries : undefined,
        counters,
      );
      const now = this.clock();
      if (todo === null) for (let j = 0; j < keys.length; j++) results[j] = fromStore[j]!;
      else
        for (let n = 0; n < todo.length; n++) {
          results[todo[n]!] = fromStore[n]!;
          fetchedAt![todo[n]!] = now;
        }
      this.shared!.set(
        feature,
        asked.map((k, n) => ({ id: k.id, row: fromStore[n]! })),
        now,
      );
    }
    return { rows: results, fetchedAt };
  }

  /** Caches the rows read for `keys`, except keys invalidated (pushed) while they were read. */
  private keep(
    feature: ServedFeature,
    keys: readonly KeyRef[],
    rows: readonly CachedRow[],
    fetchedAt: readonly number[] | null,
    flight: Flight,
    pending: Map<KeyId, KeyInFlight>,
  ): void {
    const policy = feature.policy;
    const cache = this.cache !== null && policy.ttlMs > 0 ? this.cache : null;
    const scope = cache?.scopeOf(feature.cachePrefix);
    const now = this.clock();
    for (let j = 0; j < keys.length; j++) {
      const id = keys[j]!.id;
      if (pending.get(id)?.flight !== flight) continue;
      pending.delete(id);
      if (cache === null) continue;
      const row = rows[j]!;
      // never fresh past the row's own expiry, nor (from Redis) past the shared TTL
      const expiry =
        row.found && feature.retentionMs !== undefined && row.lastUpdatedAtMs !== null
          ? row.lastUpdatedAtMs + feature.retentionMs
          : Number.POSITIVE_INFINITY;
      const freshUntil = Math.min(
        now + policy.ttlMs,
        (fetchedAt === null ? now : fetchedAt[j]!) + Math.max(policy.ttlMs, policy.redisTtlMs),
        expiry,
      );
      cache.setIn(scope!, id, row, freshUntil, Math.min(freshUntil + policy.staleIfErrorMs, expiry));
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
      const r = await this.readRowsCoalesced(feature, keys, fields);
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

  /** Joins the Object or Aggregation read of this turn for the feature and projection (one store call for all; an Aggregation read then has one read time). */
  private readRowsCoalesced(
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
    this.readRowsNow(batch.feature, keys, batch.fields).then(
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
            this.readRowsNow(batch.feature, p.keys, batch.fields).then(p.resolve, p.reject);
          return;
        }
        for (const p of parts) p.reject(e);
      },
    );
  }

  private async readRowsNow(
    feature: ServedFeature,
    keys: KeyValues[],
    fields: readonly string[] | undefined,
  ): Promise<ObjectReadResult[]> {
    const options = fields === undefined ? undefined : { fields };
    const { result, waitedMs } = await this.gate.run(keys.length, this.timeoutMs, () =>
      feature.isAggregation
        ? this.store.readAggregates(feature.def, keys, options)
        : this.store.readObjects(feature.def, keys, options),
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
    const pending = this.inflight.get(cachePrefix);
    for (const id of ids) {
      this.cache?.delete(cachePrefix, id);
      pending?.delete(id);
    }
  }
}
