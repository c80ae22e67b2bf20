import { type Client, type QueryOptions, types } from 'cassandra-driver';
import { DAY, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import { aggregationEngineOf } from '../../domain/aggregations/aggregation-definition.ts';
import {
  type AggregationStateAccess,
  MemoryAggregationState,
} from '../../domain/aggregations/aggregation-state.ts';
import type { AggregationEngine } from '../../domain/aggregations/key-aggregation.ts';
import type { AggregateEvent } from '../../domain/aggregations/partial-aggregate.ts';
import {
  bucketLevels,
  bucketSize,
  floorTo,
  type PlanPiece,
  type StateLevel,
} from '../../domain/aggregations/window-plan.ts';
import {
  decodeKeyRow,
  decodePartial,
  decodeRawEvents,
  encodeKeyRow,
  encodePartial,
  encodeRawEvents,
} from './aggregate-codec.ts';
import { aggregateResult } from './aggregate-results.ts';
import type { CompiledFeature, CompiledField } from './compiled-feature.ts';
import {
  expireForSpill,
  inlineEntryOf,
  inlineStateForRead,
  inlineStateForWrite,
  isInline,
} from './inline-aggregation.ts';
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

/** A piece of a key's state by its clustering: (`_level` code, `_start`). */
export type PieceName = readonly [level: number, start: number];

/** What a `_level` code holds: which state, which piece. */
const pieceOfCode = new Map<number, { segment: Segment; level: 'meta' | StateLevel }>(
  (Object.keys(levelCodes) as Segment[]).flatMap((segment) =>
    Object.entries(levelCodes[segment]).map(
      ([level, code]) => [code, { segment, level: level as 'meta' | StateLevel }] as const,
    ),
  ),
);

/** A range of a plan with more pieces than this is read as a slice, not by name. */
const maxNamesPerRange = 64;
/** Names per select (Cassandra reads a partition's named rows in one pass). */
const namesPerSelect = 400;

/**
 * The pieces of a plan by name (a key's read then costs one select however many levels and
 * ranges its windows touch), and the ranges too long to name (a lifetime's months of days).
 */
export function namePieces(
  pieces: readonly PlanPiece[],
  levelCode: Record<'meta' | StateLevel, number>,
): { names: PieceName[]; slices: PlanPiece[] } {
  const names: PieceName[] = [];
  const slices: PlanPiece[] = [];
  for (const r of mergeRanges(pieces)) {
    const size = r.level === 'raw' ? MINUTE : bucketSize[r.level];
    const from = floorTo(r.from, size);
    if ((r.to - from) / size > maxNamesPerRange) {
      slices.push(r);
      continue;
    }
    for (let start = from; start < r.to; start += size) names.push([levelCode[r.level], start]);
  }
  return { names, slices };
}

/** Puts a piece read from the table into a memory state. */
function placePiece(state: MemoryAggregationState, level: StateLevel, start: number, b: Buffer): void {
  if (level === 'raw') state.raw.set(start, decodeRawEvents(b));
  else state.buckets[level].set(start, decodePartial(b));
}

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
      range: `SELECT "_start" AS start, "_value" AS value FROM ${ref} WHERE ${where} AND "_level" = ? AND "_start" >= ? AND "_start" < ?`,
      named: `SELECT "_level" AS level, "_start" AS start, "_value" AS value FROM ${ref} WHERE ${where} AND ("_level", "_start") IN ?`,
      namedOfMany: `SELECT ${this.inColumn} AS k, "_level" AS level, "_start" AS start, "_value" AS value FROM ${ref} WHERE ${this.inColumn} IN ? AND ("_level", "_start") IN ?`,
      put: `UPDATE ${ref} USING TTL ? SET "_value" = ? WHERE ${where} AND "_level" = ? AND "_start" = ?`,
    };
  }

  /** Every row of a select, page by page (a busy key's minutes over a month are many rows). */
  private async rows(cql: string, params: unknown[], each: (row: types.Row) => void): Promise<void> {
    let pageState: string | undefined;
    do {
      const rs = await this.client.execute(cql, params, {
        ...this.options,
        fetchSize: 5_000,
        ...(pageState ? { pageState } : {}),
      });
      for (const row of rs.rows) each(row);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
  }

  /** The named pieces of one key that exist, in one select (per `namesPerSelect`). */
  private async named(
    key: KeyTuple,
    names: readonly PieceName[],
    into: (level: number, start: number, value: Buffer) => void,
  ): Promise<void> {
    await Promise.all(
      chunks(names, namesPerSelect).map((part) =>
        this.rows(this.cql.named, [...this.toParams(key), tuplesOf(part)], (row) =>
          into(row.get('level') as number, Number(row.get('start') as bigint), row.get('value') as Buffer),
        ),
      ),
    );
  }

  /** The named pieces of many single-column keys (`key IN ?`), each under its key. */
  private async namedOfMany(
    values: unknown[],
    names: readonly PieceName[],
    into: (k: string, level: number, start: number, value: Buffer) => void,
  ): Promise<void> {
    await Promise.all(
      chunks(names, namesPerSelect).map((part) =>
        this.rows(this.cql.namedOfMany, [values, tuplesOf(part)], (row) =>
          into(
            String(row.get('k')),
            row.get('level') as number,
            Number(row.get('start') as bigint),
            row.get('value') as Buffer,
          ),
        ),
      ),
    );
  }

  private async range(key: KeyTuple, level: number, from: number, to: number): Promise<[number, Buffer][]> {
    const out: [number, Buffer][] = [];
    await this.rows(this.cql.range, [...this.toParams(key), level, BigInt(from), BigInt(to)], (row) =>
      out.push([Number(row.get('start') as bigint), row.get('value') as Buffer]),
    );
    return out;
  }

  /** Loads the pieces a plan names into a memory state: one select by name, slices for long ranges. */
  private async loadPieces(
    state: MemoryAggregationState,
    key: KeyTuple,
    pieces: PlanPiece[],
    levelCode: Record<'meta' | StateLevel, number> = liveLevelCode,
  ): Promise<void> {
    const { names, slices } = namePieces(pieces, levelCode);
    await Promise.all([
      names.length > 0
        ? this.named(key, names, (code, start, b) =>
            placePiece(state, pieceOfCode.get(code)!.level as StateLevel, start, b),
          )
        : undefined,
      ...slices.map(async ({ level, from, to }) => {
        const lo = level === 'raw' ? floorTo(from, MINUTE) : from;
        for (const [start, b] of await this.range(key, levelCode[level], lo, to))
          placePiece(state, level, start, b);
      }),
    ]);
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
    const otherCode = levelCodes[segment === 'history' ? 'live' : 'history'];
    const out: AggregateOutcome[] = new Array(prepared.length);
    // keys a few at a time: the driver refuses more than 2,048 requests in flight on a connection
    await mapLimit(eventsByKey(prepared), Math.max(1, Math.floor(this.maxInFlight / 4)), ({ key, items }) =>
      this.keyLock.run(`${this.feature.name}\u0000${JSON.stringify(key)}`, async () => {
        const events: AggregateEvent[] = items.map((i) => prepared[i]!.event);
        // the key's metas and every piece its events touch, in one select: a history stops where
        // the live state starts, and a new live state starts where its history stopped
        const names: PieceName[] = [[levelCode.meta, 0]];
        if (segment === 'history' || spec.history) names.push([otherCode.meta, 0]);
        const seen = new Set<string>();
        let watermark = Number.NEGATIVE_INFINITY;
        for (const e of events) {
          for (const level of ['raw', ...bucketLevels] as const) {
            const start = floorTo(e.t, level === 'raw' ? MINUTE : bucketSize[level]);
            const id = `${level}:${start}`;
            if (seen.has(id)) continue;
            seen.add(id);
            names.push([levelCode[level], start]);
          }
          if (e.t > watermark) watermark = e.t;
        }
        let metaBytes: Buffer | undefined;
        let otherBytes: Buffer | undefined;
        const pieces: [number, number, Buffer][] = [];
        await this.named(key, names, (code, start, b) => {
          if (code === levelCode.meta) metaBytes = b;
          else if (code === otherCode.meta) otherBytes = b;
          else pieces.push([code, start, b]);
        });
        const row = metaBytes ? decodeKeyRow(metaBytes) : undefined;
        const meta = row?.meta;
        // a key's state is inline in its meta row until it outgrows `inlineBytes` (a new key's is;
        // rows of its pieces then are left from a move that failed half way, and not its state)
        const inline = isInline(row);
        const state = inline ? inlineStateForWrite(engine, row) : new MemoryAggregationState();
        if (!inline) {
          state.load(meta);
          for (const [code, start, b] of pieces)
            placePiece(state, pieceOfCode.get(code)!.level as StateLevel, start, b);
        }
        const otherRow = otherBytes ? decodeKeyRow(otherBytes) : undefined;
        const otherMeta = otherRow?.meta;
        // the days a fold may take into the lifetime partial (an inline state holds them)
        if (spec.lifetime && meta !== undefined && !inline) {
          const limit = floorTo(Math.max(watermark, meta.watermark) - spec.latenessMs, DAY);
          if (meta.through < limit)
            for (const [start, b] of await this.range(key, levelCode.day, meta.through, limit))
              if (!state.buckets.day.has(start)) state.buckets.day.set(start, decodePartial(b));
        }
        const outcomes =
          segment === 'history'
            ? engine.addHistory(state, otherMeta, events, cutMs)
            : engine.add(state, events, otherMeta);
        items.forEach((i, j) => {
          out[i] = outcomes[j]!;
        });
        await this.flush(key, state, nowMs, meta?.through, levelCode, inline);
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
    inline: boolean,
  ): Promise<void> {
    const spec = aggregationEngineOf(this.feature.def).spec;
    const ttl = (expiresAt: number) =>
      Math.max(1, Math.min(Math.ceil((expiresAt - nowMs) / 1000) + 1, 630_720_000));
    const puts: [number, number, Buffer, number][] = [];
    const meta = state.meta();
    const { dirty } = state;
    if (inline && meta && state.changed()) {
      const value = inlineEntryOf(state, meta, spec, nowMs);
      if (value !== undefined) {
        puts.push([levelCode.meta, 0, value, 0]);
        return this.put(key, puts);
      }
      // outgrown: the pieces a store with TTLs keeps, each to its own row (the meta last, without
      // the events), in one batch
      expireForSpill(state, meta, spec, nowMs);
      dirty.meta = true;
      dirty.raw = new Set(state.raw.keys());
      for (const level of bucketLevels) dirty[level] = new Set(state.buckets[level].keys());
    }
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
    if (spec.lifetime && meta && throughBefore !== undefined && meta.through > throughBefore) {
      // days now folded into the lifetime partial expire like the other partials
      for (const [start, p] of state.buckets.day) {
        if (start < throughBefore || start >= meta.through || state.dirty.day.has(start)) continue;
        const expiresAt = start + DAY + spec.bucketRetentionMs;
        // past its horizon already (a key folding after a long pause): gone in a second, not kept
        puts.push([levelCode.day, start, encodePartial(p), expiresAt > nowMs ? ttl(expiresAt) : 1]);
      }
    }
    if (dirty.meta && meta) puts.push([levelCode.meta, 0, encodeKeyRow(meta), 0]);
    return this.put(key, puts);
  }

  /** Writes rows of one key: one unlogged batch (applied whole) when it fits Cassandra's limit. */
  private async put(key: KeyTuple, puts: readonly [number, number, Buffer, number][]): Promise<void> {
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
    if (tuples.length > 1 && this.inColumn !== undefined) return this.readGrouped(tuples, fields, t);
    const engine = aggregationEngineOf(this.feature.def);
    const metaNames: PieceName[] = [[liveLevelCode.meta, 0]];
    if (engine.spec.history) metaNames.push([historyLevelCode.meta, 0]);
    return mapLimit(tuples, this.maxInFlight, async (key) => {
      // the metas first: a small key's whole state is in them
      const states: Partial<Record<Segment, AggregationStateAccess>> = {};
      const spilled: { pieces: MemoryAggregationState; segment: Segment }[] = [];
      await this.named(key, metaNames, (code, _start, b) => {
        const segment = pieceOfCode.get(code)!.segment;
        const { state, pieces } = readStateOf(b);
        states[segment] = state;
        if (pieces) spilled.push({ pieces, segment });
      });
      await Promise.all(
        spilled.map(({ pieces, segment }) =>
          this.loadPieces(pieces, key, this.piecesOf(engine, pieces, segment, t), levelCodes[segment]),
        ),
      );
      return aggregateResult(engine, states.live ?? new MemoryAggregationState(), fields, t, states.history);
    });
  }

  /**
   * The pieces a read at `t` needs of a key's state whose pieces have their own rows: the windows'
   * plans (the history's stop at its cut); the lifetime's days after the fold only when the
   * sliding windows do not hold them (a 30-day window does, for a key active this month).
   */
  private piecesOf(
    engine: AggregationEngine,
    state: MemoryAggregationState,
    segment: Segment,
    t: number,
  ): PlanPiece[] {
    if (segment === 'history') return [...engine.planHistory(state.meta(), t).values()].flat();
    const plans = engine.plan(state.meta(), t);
    const sliding: PlanPiece[] = [];
    const lifetime: PlanPiece[] = [];
    for (const f of engine.spec.fields)
      (f.window.kind === 'lifetime' ? lifetime : sliding).push(...(plans.get(f.name) ?? []));
    return [...sliding, ...notWithin(lifetime, mergeRanges(sliding))];
  }

  /** Loads the pieces of a plan for many keys into their states: by name (`key IN ?`), slices per key. */
  private async loadPiecesOfMany(
    entries: readonly { key: KeyTuple; value: unknown; state: MemoryAggregationState }[],
    pieces: PlanPiece[],
    levelCode: Record<'meta' | StateLevel, number>,
  ): Promise<void> {
    const { names, slices } = namePieces(pieces, levelCode);
    const byValue = new Map(entries.map((e) => [String(e.key[0]), e.state]));
    await Promise.all([
      names.length > 0
        ? this.namedOfMany(
            entries.map((e) => e.value),
            names,
            (k, code, start, b) => {
              const state = byValue.get(k);
              if (state) placePiece(state, pieceOfCode.get(code)!.level as StateLevel, start, b);
            },
          )
        : undefined,
      ...(slices.length > 0 ? entries.map((e) => this.loadPieces(e.state, e.key, slices, levelCode)) : []),
    ]);
  }

  /**
   * A batch read of single-column keys: the metas of the whole group in one select (`key IN ?`;
   * a small key's whole state is in them), then the pieces of the keys whose state has outgrown
   * its meta, by name for the group at once (keys whose plans are the same: those that share a
   * fold day). Histories with their own rows are read key by key.
   */
  private async readGrouped(
    tuples: readonly KeyTuple[],
    fields: readonly CompiledField[],
    t: number,
  ): Promise<ObjectReadResult[]> {
    const engine = aggregationEngineOf(this.feature.def);
    const metaNames: PieceName[] = [[liveLevelCode.meta, 0]];
    if (engine.spec.history) metaNames.push([historyLevelCode.meta, 0]);
    type Entry = {
      key: KeyTuple;
      value: unknown;
      state: AggregationStateAccess;
      history?: AggregationStateAccess;
    };
    type Spilled = { key: KeyTuple; value: unknown; state: MemoryAggregationState };
    const byKey = new Map<string, Entry>();
    for (const key of tuples) {
      const k = String(key[0]);
      if (!byKey.has(k))
        byKey.set(k, { key, value: this.toParams(key)[0], state: new MemoryAggregationState() });
    }
    const groups: Entry[][] = [];
    const entries = [...byKey.values()];
    for (let i = 0; i < entries.length; i += this.keysPerRead)
      groups.push(entries.slice(i, i + this.keysPerRead));
    await mapLimit(groups, Math.max(1, Math.floor(this.maxInFlight / 8)), async (group) => {
      const spilled = new Map<number, Spilled[]>();
      const spilledHistories: Spilled[] = [];
      await this.namedOfMany(
        group.map((e) => e.value),
        metaNames,
        (k, code, _start, b) => {
          const entry = byKey.get(k);
          if (entry === undefined) return;
          const { state, pieces } = readStateOf(b);
          if (code === liveLevelCode.meta) entry.state = state;
          else entry.history = state;
          if (pieces === undefined) return;
          const one = { key: entry.key, value: entry.value, state: pieces };
          if (code !== liveLevelCode.meta) spilledHistories.push(one);
          else spilled.set(pieces.meta()!.through, [...(spilled.get(pieces.meta()!.through) ?? []), one]);
        },
      );
      await Promise.all([
        // the live pieces depend on the key's meta only by its fold day
        ...[...spilled.values()].map((sharing) =>
          this.loadPiecesOfMany(sharing, this.piecesOf(engine, sharing[0]!.state, 'live', t), liveLevelCode),
        ),
        ...spilledHistories.map(({ key, state }) =>
          this.loadPieces(state, key, this.piecesOf(engine, state, 'history', t), historyLevelCode),
        ),
      ]);
    });
    return tuples.map((key) => {
      const { state, history } = byKey.get(String(key[0]))!;
      return aggregateResult(engine, state, fields, t, history);
    });
  }
}

/**
 * A key's state for a read, from its meta row: its events when inline; else a memory state with
 * the meta (`pieces`), into which the read loads the pieces it needs.
 */
function readStateOf(b: Buffer): { state: AggregationStateAccess; pieces?: MemoryAggregationState } {
  const row = decodeKeyRow(b);
  if (row.inline !== undefined) return { state: inlineStateForRead({ ...row, inline: row.inline }) };
  const pieces = new MemoryAggregationState();
  pieces.load(row.meta);
  return { state: pieces, pieces };
}

/** Names as the driver binds them to `("_level", "_start") IN ?`. */
function tuplesOf(names: readonly PieceName[]): types.Tuple[] {
  return names.map(([level, start]) => new types.Tuple(level, BigInt(start)));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
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
