import type { Client, QueryOptions } from 'cassandra-driver';
import { DAY, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import { aggregationEngineOf } from '../../domain/aggregations/aggregation-definition.ts';
import { type KeyMeta, MemoryAggregationState } from '../../domain/aggregations/aggregation-state.ts';
import type { AggregateEvent } from '../../domain/aggregations/partial-aggregate.ts';
import {
  type BucketLevel,
  bucketLevels,
  bucketSize,
  floorTo,
  type PlanPiece,
  type StateLevel,
} from '../../domain/aggregations/window-plan.ts';
import {
  decodeMeta,
  decodePartial,
  decodeRawEvents,
  encodeMeta,
  encodePartial,
  encodeRawEvents,
} from './aggregate-codec.ts';
import { aggregateResult } from './aggregate-results.ts';
import type { CompiledFeature, CompiledField } from './compiled-feature.ts';
import type { KeyLock } from './key-lock.ts';
import { mapLimit } from './map-limit.ts';
import type { AggregateOutcome, ObjectReadResult } from './online-store.ts';
import { eventsByKey, type PreparedAggregateEvent } from './prepare-aggregate-events.ts';
import type { KeyTuple } from './prepare-input.ts';

/** Cassandra refuses batches over 50 KiB by default (batch_size_fail_threshold): stay under it. */
const batchBytes = 40_000;

/**
 * The `_level` column: 0 meta, 1 raw events of a minute, 2–4 minute, hour and day partials of the
 * key's live state; 5–9 the same of its history (a backfill's, before the key's live start).
 */
const liveLevelCode: Record<'meta' | StateLevel, number> = { meta: 0, raw: 1, minute: 2, hour: 3, day: 4 };
const historyLevelCode: Record<'meta' | StateLevel, number> = {
  meta: 5,
  raw: 6,
  minute: 7,
  hour: 8,
  day: 9,
};
const levelCodes = { live: liveLevelCode, history: historyLevelCode } as const;
type Segment = keyof typeof levelCodes;

/**
 * The aggregation state of a feature in its Cassandra table `a_<name>`: partition = the key,
 * clustering (_level, _start), one blob `_value` per piece, each with a TTL from its horizon (raw events:
 * the raw horizon; partials: the longest window; day partials of a lifetime feature stay until
 * folded; meta never expires). A batch reads the pieces its events touch, runs the engine, and
 * writes the pieces that changed; a read reads the pieces its plan names, one range per level.
 *
 * The read-modify-write of a key runs one at a time in this process (KeyLock: the consumer applies
 * several partitions at once, a backfill runs beside it); across processes it assumes one writer
 * per key (one consumer per topic, on one worker).
 */
export class CassandraAggregates {
  private readonly where: string;

  constructor(
    private readonly client: Client,
    private readonly ref: string,
    private readonly feature: CompiledFeature,
    keyWhere: string,
    private readonly options: QueryOptions,
    private readonly toParams: (key: KeyTuple) => unknown[],
    private readonly maxInFlight: number,
    /**
     * One read-modify-write of a key at a time in this process (both states: the history reads
     * the live meta), shared by every view of the feature (definitions reloaded are new objects).
     */
    private readonly keyLock: KeyLock,
    /** The key's column (quoted) when the key is a single column: batch reads use `IN` on it. */
    private readonly inColumn: string | undefined,
    /** Keys per `IN` select of a batch read. */
    private readonly keysPerRead: number,
  ) {
    this.where = keyWhere;
  }

  private get cql() {
    const { ref, where } = this;
    return {
      one: `SELECT "_value" AS value FROM ${ref} WHERE ${where} AND "_level" = ? AND "_start" = ?`,
      range: `SELECT "_start" AS start, "_value" AS value FROM ${ref} WHERE ${where} AND "_level" = ? AND "_start" >= ? AND "_start" < ?`,
      put: `UPDATE ${ref} USING TTL ? SET "_value" = ? WHERE ${where} AND "_level" = ? AND "_start" = ?`,
    };
  }

  private async one(key: KeyTuple, level: number, start: number): Promise<Buffer | undefined> {
    const rs = await this.client.execute(
      this.cql.one,
      [...this.toParams(key), level, BigInt(start)],
      this.options,
    );
    return (rs.first()?.get('value') as Buffer | null) ?? undefined;
  }

  private async range(key: KeyTuple, level: number, from: number, to: number): Promise<[number, Buffer][]> {
    const out: [number, Buffer][] = [];
    const params = [...this.toParams(key), level, BigInt(from), BigInt(to)];
    // pages: a busy key's minutes over a month are many rows
    let pageState: string | undefined;
    do {
      const rs = await this.client.execute(this.cql.range, params, {
        ...this.options,
        fetchSize: 5_000,
        ...(pageState ? { pageState } : {}),
      });
      for (const row of rs.rows) out.push([Number(row.get('start') as bigint), row.get('value') as Buffer]);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return out;
  }

  /** Loads the pieces a plan names into a memory state. */
  private async loadPieces(
    state: MemoryAggregationState,
    key: KeyTuple,
    pieces: PlanPiece[],
    levelCode: Record<'meta' | StateLevel, number> = liveLevelCode,
  ): Promise<void> {
    const ranges = mergeRanges(pieces);
    await Promise.all(
      ranges.map(async ({ level, from, to }) => {
        if (level === 'raw') {
          for (const [start, b] of await this.range(key, levelCode.raw, floorTo(from, MINUTE), to))
            state.raw.set(start, decodeRawEvents(b));
        } else {
          for (const [start, b] of await this.range(key, levelCode[level], from, to))
            state.buckets[level].set(start, decodePartial(b));
        }
      }),
    );
  }

  /**
   * Adds events to the keys' live states (`segment` live) or, for a backfill, to their history
   * states before `cutMs` (AggregationEngine.addHistory).
   */
  async write(
    prepared: readonly PreparedAggregateEvent[],
    nowMs: number,
    segment: Segment = 'live',
    cutMs = 0,
  ): Promise<AggregateOutcome[]> {
    const engine = aggregationEngineOf(this.feature.def);
    const spec = engine.spec;
    const levelCode = levelCodes[segment];
    const out: AggregateOutcome[] = new Array(prepared.length);
    // keys a few at a time, each key's reads and writes a few at a time: the driver refuses more
    // than 2,048 requests in flight on a connection
    await mapLimit(eventsByKey(prepared), Math.max(1, Math.floor(this.maxInFlight / 4)), ({ key, items }) =>
      this.keyLock.run(`${this.feature.name}\u0000${JSON.stringify(key)}`, async () => {
        const events: AggregateEvent[] = items.map((i) => prepared[i]!.event);
        const state = new MemoryAggregationState();
        // the pieces the events touch, read beside the meta (one round trip)
        const loads: (() => Promise<void>)[] = [];
        const seen = new Set<string>();
        const loadOne = (level: 'raw' | BucketLevel, start: number) => {
          const id = `${level}:${start}`;
          if (seen.has(id)) return;
          seen.add(id);
          loads.push(() =>
            this.one(key, levelCode[level], start).then((b) => {
              if (b === undefined) return;
              if (level === 'raw') state.raw.set(start, decodeRawEvents(b));
              else state.buckets[level].set(start, decodePartial(b));
            }),
          );
        };
        let watermark = Number.NEGATIVE_INFINITY;
        for (const e of events) {
          loadOne('raw', floorTo(e.t, MINUTE));
          for (const level of bucketLevels) loadOne(level, floorTo(e.t, bucketSize[level]));
          if (e.t > watermark) watermark = e.t;
        }
        const otherCode = levelCodes[segment === 'history' ? 'live' : 'history'];
        const [metaBytes, historyOther] = await Promise.all([
          this.one(key, levelCode.meta, 0),
          // a history stops where the live state starts
          segment === 'history' ? this.one(key, otherCode.meta, 0) : undefined,
          mapLimit(loads, 8, (load) => load()),
        ]);
        const meta = metaBytes ? decodeMeta(metaBytes) : undefined;
        state.load(meta);
        // a new live state starts where its history stopped
        const otherBytes =
          segment === 'live' && spec.history && meta === undefined
            ? await this.one(key, otherCode.meta, 0)
            : historyOther;
        const otherMeta = otherBytes ? decodeMeta(otherBytes) : undefined;
        // the days a fold may take into the lifetime partial
        if (spec.lifetime && meta !== undefined) {
          const limit = floorTo(Math.max(watermark, meta.watermark) - spec.latenessMs, DAY);
          if (meta.through < limit)
            for (const [start, b] of await this.range(key, levelCode.day, meta.through, limit))
              if (!state.buckets.day.has(start)) state.buckets.day.set(start, decodePartial(b));
        }
        // a history sets the live state's cut on its meta (written with the history's pieces)
        const live = new MemoryAggregationState();
        live.load(otherMeta);
        const outcomes =
          segment === 'history'
            ? engine.addHistory(state, live, events, cutMs)
            : engine.add(state, events, otherMeta);
        items.forEach((i, j) => {
          out[i] = outcomes[j]!;
        });
        await this.flush(
          key,
          state,
          nowMs,
          meta?.through,
          levelCode,
          live.dirty.meta ? live.meta() : undefined,
        );
      }),
    );
    return out;
  }

  /** Writes the pieces the engine changed, each with the TTL of its horizon. */
  private async flush(
    key: KeyTuple,
    state: MemoryAggregationState,
    nowMs: number,
    throughBefore: number | undefined,
    levelCode: Record<'meta' | StateLevel, number>,
    liveMeta?: KeyMeta,
  ): Promise<void> {
    const spec = aggregationEngineOf(this.feature.def).spec;
    const ttl = (expiresAt: number) =>
      Math.max(1, Math.min(Math.ceil((expiresAt - nowMs) / 1000) + 1, 630_720_000));
    const puts: [number, number, Buffer, number][] = [];
    // raw events stay the raw horizon after their minute and after this write: a redelivery
    // within it is recognised, even of an old event
    for (const start of state.dirty.raw)
      puts.push([
        levelCode.raw,
        start,
        encodeRawEvents(state.raw.get(start)!),
        ttl(Math.max(start + MINUTE, nowMs) + spec.rawHorizonMs),
      ]);
    for (const level of bucketLevels) {
      for (const start of state.dirty[level]) {
        // a lifetime feature's day partials stay until folded (then the longest window decides)
        const keep = level === 'day' && spec.lifetime && start >= (state.meta()?.through ?? 0);
        const expiresAt = start + bucketSize[level] + spec.bucketRetentionMs;
        puts.push([
          levelCode[level],
          start,
          encodePartial(state.buckets[level].get(start)!),
          keep ? 0 : ttl(expiresAt),
        ]);
      }
    }
    const meta = state.meta();
    if (spec.lifetime && meta && throughBefore !== undefined && meta.through > throughBefore) {
      // days now folded into the lifetime partial expire like the other partials
      for (const [start, p] of state.buckets.day) {
        if (start < throughBefore || start >= meta.through || state.dirty.day.has(start)) continue;
        const expiresAt = start + DAY + spec.bucketRetentionMs;
        // past its horizon already (a key folding after a long pause): gone in a second, not kept
        puts.push([levelCode.day, start, encodePartial(p), expiresAt > nowMs ? ttl(expiresAt) : 1]);
      }
    }
    if (liveMeta) puts.push([liveLevelCode.meta, 0, encodeMeta(liveMeta), 0]);
    if (state.dirty.meta && meta) puts.push([levelCode.meta, 0, encodeMeta(meta), 0]);
    // a batch of duplicates only changes nothing
    if (puts.length === 0) return;
    const queries = puts.map(([level, start, value, t]) => ({
      query: this.cql.put,
      params: [t, value, ...this.toParams(key), level, BigInt(start)],
    }));
    const bytes = puts.reduce((n, p) => n + p[2].length, 0);
    if (bytes <= batchBytes) {
      // one partition: an unlogged batch is applied whole or not at all, so a failure and its retry
      // never see the raw events without their partials (a duplicate not counted) or the reverse
      await this.client.batch(queries, { ...this.options, logged: false });
      return;
    }
    // past Cassandra's batch size limit (a key with thousands of events in a minute): the pieces,
    // then the meta; a failure between them can miscount that key's batch (ARCHITECTURE.md)
    await mapLimit(queries.slice(0, -1), 8, (q) => this.client.execute(q.query, q.params, this.options));
    const last = queries[queries.length - 1];
    if (last) await this.client.execute(last.query, last.params, this.options);
  }

  async read(
    tuples: readonly KeyTuple[],
    fields: readonly CompiledField[],
    t: number,
  ): Promise<ObjectReadResult[]> {
    const engine = aggregationEngineOf(this.feature.def);
    const lifetimeFields = new Set(
      engine.spec.fields.filter((f) => f.window.kind === 'lifetime').map((f) => f.name),
    );
    const withHistory = engine.spec.history;
    // the sliding windows' pieces do not depend on the key's meta: read beside it
    const sliding = [...engine.plan(undefined, t).values()].flat();
    if (tuples.length > 1 && this.inColumn !== undefined) return this.readGrouped(tuples, fields, t);
    const slidingRanges = mergeRanges(sliding);
    return mapLimit(tuples, this.maxInFlight, async (key) => {
      const state = new MemoryAggregationState();
      const [metaBytes, historyBytes] = await Promise.all([
        this.one(key, liveLevelCode.meta, 0),
        withHistory ? this.one(key, historyLevelCode.meta, 0) : undefined,
        this.loadPieces(state, key, sliding),
      ]);
      let history: MemoryAggregationState | undefined;
      const loads: Promise<void>[] = [];
      if (historyBytes !== undefined) {
        history = new MemoryAggregationState();
        history.load(decodeMeta(historyBytes));
        const pieces = [...engine.planHistory(history.meta(), t).values()].flat();
        loads.push(this.loadPieces(history, key, pieces, historyLevelCode));
      }
      if (metaBytes !== undefined) {
        state.load(decodeMeta(metaBytes));
        if (lifetimeFields.size > 0) {
          // lifetime: the days after those folded into the meta's partial, unless the sliding
          // windows' pieces hold them already (a 30-day window does, for a key active this month)
          const plans = engine.plan(state.meta(), t);
          const missing = notWithin(
            [...lifetimeFields].flatMap((name) => plans.get(name) ?? []),
            slidingRanges,
          );
          if (missing.length > 0) loads.push(this.loadPieces(state, key, missing));
        }
      }
      await Promise.all(loads);
      return aggregateResult(engine, state, fields, t, history);
    });
  }

  /** Rows of a level's range for many keys at once (`key IN ?`), each under its key. */
  private async rangeOfMany(
    values: unknown[],
    level: number,
    from: number,
    to: number,
    into: (k: string, start: number, value: Buffer) => void,
  ): Promise<void> {
    const cql = `SELECT ${this.inColumn} AS k, "_start" AS start, "_value" AS value FROM ${this.ref} WHERE ${this.inColumn} IN ? AND "_level" = ? AND "_start" >= ? AND "_start" < ?`;
    let pageState: string | undefined;
    do {
      const rs = await this.client.execute(cql, [values, level, BigInt(from), BigInt(to)], {
        ...this.options,
        fetchSize: 5_000,
        ...(pageState ? { pageState } : {}),
      });
      for (const row of rs.rows)
        into(String(row.get('k')), Number(row.get('start') as bigint), row.get('value') as Buffer);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
  }

  /** Loads the ranges of a plan for many keys into their states (`key IN ?`, one select per range). */
  private loadPiecesOfMany(
    states: Map<string, MemoryAggregationState>,
    values: unknown[],
    pieces: PlanPiece[],
    levelCode: Record<'meta' | StateLevel, number>,
  ): Promise<void>[] {
    return mergeRanges(pieces).map(({ level, from, to }) =>
      this.rangeOfMany(
        values,
        levelCode[level],
        level === 'raw' ? floorTo(from, MINUTE) : from,
        to,
        (k, start, b) => {
          const state = states.get(k);
          if (state === undefined) return;
          if (level === 'raw') state.raw.set(start, decodeRawEvents(b));
          else state.buckets[level].set(start, decodePartial(b));
        },
      ),
    );
  }

  /**
   * A batch read of single-column keys: a few selects for the whole group (`key IN ?`) instead of
   * a few per key: the metas of both states, each sliding range, and the lifetime ranges of the
   * keys that share a fold day. Histories (a backfill's) are read key by key.
   */
  private async readGrouped(
    tuples: readonly KeyTuple[],
    fields: readonly CompiledField[],
    t: number,
  ): Promise<ObjectReadResult[]> {
    const engine = aggregationEngineOf(this.feature.def);
    const lifetimeFields = engine.spec.fields.filter((f) => f.window.kind === 'lifetime').map((f) => f.name);
    const sliding = [...engine.plan(undefined, t).values()].flat();
    const slidingRanges = mergeRanges(sliding);
    const byKey = new Map<
      string,
      { key: KeyTuple; value: unknown; state: MemoryAggregationState; history?: MemoryAggregationState }
    >();
    for (const key of tuples) {
      const k = String(key[0]);
      if (!byKey.has(k))
        byKey.set(k, { key, value: this.toParams(key)[0], state: new MemoryAggregationState() });
    }
    const groups: string[][] = [];
    const ids = [...byKey.keys()];
    for (let i = 0; i < ids.length; i += this.keysPerRead) groups.push(ids.slice(i, i + this.keysPerRead));
    await mapLimit(groups, Math.max(1, Math.floor(this.maxInFlight / 8)), async (group) => {
      const values = group.map((k) => byKey.get(k)!.value);
      const states = new Map(group.map((k) => [k, byKey.get(k)!.state]));
      const metaCql = `SELECT ${this.inColumn} AS k, "_level" AS level, "_value" AS value FROM ${this.ref} WHERE ${this.inColumn} IN ? AND "_level" IN (${liveLevelCode.meta}, ${historyLevelCode.meta}) AND "_start" = 0`;
      const [metas] = await Promise.all([
        this.client.execute(metaCql, [values], this.options),
        ...this.loadPiecesOfMany(states, values, sliding, liveLevelCode),
      ]);
      const throughs = new Map<number, string[]>();
      const histories: string[] = [];
      for (const row of metas.rows) {
        const k = String(row.get('k'));
        const entry = byKey.get(k)!;
        const meta = decodeMeta(row.get('value') as Buffer);
        if (row.get('level') === historyLevelCode.meta) {
          entry.history = new MemoryAggregationState();
          entry.history.load(meta);
          histories.push(k);
        } else {
          entry.state.load(meta);
          const list = throughs.get(meta.through) ?? [];
          list.push(k);
          throughs.set(meta.through, list);
        }
      }
      const loads: Promise<void>[] = [];
      if (lifetimeFields.length > 0) {
        // lifetime: the days after those folded, for the keys that share a fold day at once
        for (const [, keys] of throughs) {
          const plans = engine.plan(byKey.get(keys[0]!)!.state.meta(), t);
          const pieces = notWithin(
            lifetimeFields.flatMap((name) => plans.get(name) ?? []),
            slidingRanges,
          );
          if (pieces.length === 0) continue;
          loads.push(
            ...this.loadPiecesOfMany(
              states,
              keys.map((k) => byKey.get(k)!.value),
              pieces,
              liveLevelCode,
            ),
          );
        }
      }
      for (const k of histories) {
        const { key, history } = byKey.get(k)!;
        loads.push(
          this.loadPieces(
            history!,
            key,
            [...engine.planHistory(history!.meta(), t).values()].flat(),
            historyLevelCode,
          ),
        );
      }
      await Promise.all(loads);
    });
    return tuples.map((key) => {
      const { state, history } = byKey.get(String(key[0]))!;
      return aggregateResult(engine, state, fields, t, history);
    });
  }
}

/** The pieces not inside one of `loaded` (ranges of the same level already read). */
export function notWithin(pieces: readonly PlanPiece[], loaded: readonly PlanPiece[]): PlanPiece[] {
  return pieces.filter(
    (p) =>
      !loaded.some(
        (r) =>
          r.level === p.level &&
          r.from <= (p.level === 'raw' ? floorTo(p.from, MINUTE) : p.from) &&
          r.to >= p.to,
      ),
  );
}

/** The union of plan pieces, one sorted list of disjoint ranges per level. */
export function mergeRanges(pieces: readonly PlanPiece[]): PlanPiece[] {
  const byLevel = new Map<StateLevel, PlanPiece[]>();
  for (const p of pieces) {
    const list = byLevel.get(p.level) ?? [];
    list.push({ ...p });
    byLevel.set(p.level, list);
  }
  const out: PlanPiece[] = [];
  for (const list of byLevel.values()) {
    list.sort((a, b) => a.from - b.from);
    let cur = list[0]!;
    for (const p of list.slice(1)) {
      if (p.from <= cur.to) cur.to = Math.max(cur.to, p.to);
      else {
        out.push(cur);
        cur = p;
      }
    }
    out.push(cur);
  }
  return out;
}
