import type { Database } from 'lmdb';
import { type AggregationSpec, DAY, HOUR, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import type {
  AggregationStateAccess,
  KeyMeta,
  MemoryAggregationState,
} from '../../domain/aggregations/aggregation-state.ts';
import type { AggregateEvent, PartialAggregate } from '../../domain/aggregations/partial-aggregate.ts';
import { type BucketLevel, bucketLevels } from '../../domain/aggregations/window-plan.ts';
import {
  decodeKeyRow,
  decodePartial,
  decodeRawEvents,
  encodeMeta,
  encodePartial,
  encodeRawEvents,
} from './aggregate-codec.ts';
import { expireForSpill, inlineEntryOf, inlineStateForRead, type KeyRow } from './inline-aggregation.ts';
import type { KeyTuple } from './prepare-input.ts';

type LmdbKey = (string | number)[];

/**
 * Where a key's aggregation state lives in the feature's LMDB database, after the key's values:
 * `[...key, 0]` meta, `[...key, 1, minute]` the raw events of a minute, `[...key, 2|3|4, start]`
 * minute, hour and day partials; its history state (a backfill's) the same at 5 to 9. Keys sort
 * so that each level of a key is one range.
 */
export const aggregateLevelCode = { meta: 0, raw: 1, minute: 2, hour: 3, day: 4 } as const;

/** Which of a key's two states: live (events from its live start) or history (a backfill's, before it). */
export type AggregateSegment = 'live' | 'history';
export const historyLevelOffset = 5;

/**
 * The engine's view of one key on LMDB: reads go to the database (inside a write transaction
 * they see that transaction's writes), writes are synchronous puts (call inside `transactionSync`
 * or `childTransaction`). Values expire by `expiresAtOf` (LMDB has no TTL: reads skip what has
 * expired, the retention sweep deletes it).
 */
export class EmbeddedAggregationState implements AggregationStateAccess {
  private readonly code: Record<keyof typeof aggregateLevelCode, number>;

  constructor(
    private readonly db: Database<Buffer, LmdbKey>,
    private readonly key: KeyTuple,
    segment: AggregateSegment = 'live',
  ) {
    const offset = segment === 'history' ? historyLevelOffset : 0;
    this.code = {
      meta: aggregateLevelCode.meta + offset,
      raw: aggregateLevelCode.raw + offset,
      minute: aggregateLevelCode.minute + offset,
      hour: aggregateLevelCode.hour + offset,
      day: aggregateLevelCode.day + offset,
    };
  }

  meta(): KeyMeta | undefined {
    const b = this.db.getBinaryFast([...this.key, this.code.meta]);
    // an inline key's entry holds its events too: a key read here is not inline
    return b ? decodeKeyRow(b).meta : undefined;
  }
  setMeta(meta: KeyMeta): void {
    this.db.putSync([...this.key, this.code.meta], encodeMeta(meta));
  }
  rawMinute(start: number): readonly AggregateEvent[] | undefined {
    const b = this.db.get([...this.key, this.code.raw, start]);
    return b ? decodeRawEvents(b) : undefined;
  }
  setRawMinute(start: number, events: readonly AggregateEvent[]): void {
    this.db.putSync([...this.key, this.code.raw, start], encodeRawEvents(events));
  }
  bucket(level: BucketLevel, start: number): PartialAggregate | undefined {
    const b = this.db.get([...this.key, this.code[level], start]);
    return b ? decodePartial(b) : undefined;
  }
  setBucket(level: BucketLevel, start: number, partial: PartialAggregate): void {
    this.db.putSync([...this.key, this.code[level], start], encodePartial(partial));
  }
  *bucketRange(level: BucketLevel, from: number, to: number): Iterable<[number, PartialAggregate]> {
    const code = this.code[level];
    for (const { key, value } of this.db.getRange({
      start: [...this.key, code, from],
      end: [...this.key, code, to],
    }))
      yield [key[this.key.length + 1] as number, decodePartial(value)];
  }
  *rawRange(from: number, to: number): Iterable<AggregateEvent> {
    const code = this.code.raw;
    const start = Math.floor(from / MINUTE) * MINUTE;
    for (const { value } of this.db.getRange({
      start: [...this.key, code, start],
      end: [...this.key, code, to],
    }))
      for (const e of decodeRawEvents(value)) if (e.t >= from && e.t < to) yield e;
  }

  /**
   * Deletes what no read or deduplication needs any more at `nowMs` (LMDB has no TTL): raw minutes
   * past the raw horizon, partials past the longest window, day partials once folded and past it.
   * Called after each write of the key, it looks (a range scan per level) once per `sweepEveryMs`
   * of the key's clock, so a key's state stays the size of its windows plus that much.
   */
  expire(nowMs: number, spec: AggregationSpec): number {
    const meta = this.meta();
    if (meta === undefined) return 0;
    // raw events by the key's own clock: a consumer that lags keeps them until the key has moved on
    // by the raw horizon, when a second delivery of them is late anyway
    const clock = Math.min(nowMs, meta.watermark);
    if (meta.sweptAt !== undefined && clock >= meta.sweptAt && clock - meta.sweptAt < sweepEveryMs) return 0;
    let removed = 0;
    const drop = (code: number, before: number) => {
      if (!(before > Number.NEGATIVE_INFINITY)) return;
      for (const k of this.db.getKeys({ start: [...this.key, code], end: [...this.key, code, before] })) {
        this.db.removeSync(k as LmdbKey);
        removed++;
      }
    };
    drop(this.code.raw, clock - spec.rawHorizonMs - MINUTE);
    const cut = nowMs - spec.bucketRetentionMs;
    drop(this.code.minute, cut - MINUTE);
    drop(this.code.hour, cut - HOUR);
    drop(this.code.day, Math.min(cut - DAY, spec.lifetime ? meta.through : Number.POSITIVE_INFINITY));
    this.setMeta({ ...meta, sweptAt: clock });
    return removed;
  }
}

/** How often (in a key's own time) the embedded store looks for a key's expired pieces. */
export const sweepEveryMs = 10 * MINUTE;

/** The meta entry of a key's state in LMDB, decoded (undefined without one). */
export function readKeyRow(
  db: Database<Buffer, LmdbKey>,
  key: KeyTuple,
  segment: AggregateSegment,
): KeyRow | undefined {
  // decoded at once, before any other read reuses the buffer
  const b = db.getBinaryFast([...key, metaCodeOf(segment)]);
  return b ? decodeKeyRow(b) : undefined;
}

const metaCodeOf = (segment: AggregateSegment) =>
  aggregateLevelCode.meta + (segment === 'history' ? historyLevelOffset : 0);

/** The state a read goes over: an inline key's events, or its entries. */
export function stateForRead(
  db: Database<Buffer, LmdbKey>,
  key: KeyTuple,
  segment: AggregateSegment,
): AggregationStateAccess {
  const row = readKeyRow(db, key, segment);
  return row?.inline
    ? inlineStateForRead({ ...row, inline: row.inline })
    : new EmbeddedAggregationState(db, key, segment);
}

/**
 * After a write of an inline key's state (a memory state): its entry with its events, or, when
 * that outgrows the inline size, every piece in an entry of its own (in the write's transaction).
 */
export function flushInline(
  db: Database<Buffer, LmdbKey>,
  key: KeyTuple,
  segment: AggregateSegment,
  state: MemoryAggregationState,
  spec: AggregationSpec,
  nowMs: number,
): void {
  const meta = state.meta();
  if (meta === undefined || !state.changed()) return;
  const value = inlineEntryOf(state, meta, spec, nowMs);
  if (value !== undefined) {
    db.putSync([...key, metaCodeOf(segment)], value);
    return;
  }
  expireForSpill(state, meta, spec, nowMs);
  const entries = new EmbeddedAggregationState(db, key, segment);
  for (const [start, events] of state.raw) entries.setRawMinute(start, events);
  for (const level of bucketLevels)
    for (const [start, p] of state.buckets[level]) entries.setBucket(level, start, p);
  entries.setMeta(meta);
}
