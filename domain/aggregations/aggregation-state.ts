import { MINUTE } from './aggregate-field.ts';
import {
  type AggregateEvent,
  emptyPartial,
  type FlatEvents,
  type PartialAggregate,
} from './partial-aggregate.ts';
import { type BucketLevel, bucketLevels, bucketSize } from './window-plan.ts';

/** What a key keeps besides its events and buckets. */
export interface KeyMeta {
  /** The newest event time accepted. */
  watermark: number;
  /** The lifetime partial holds the days before this one. */
  through: number;
  lifetime: PartialAggregate;
  /** Live state: its oldest event time (a backfill counts what is before it as the key's history). */
  start?: number;
  /** History state: the ids of the events counted at its newest event time (a rerun skips them). */
  atWatermark?: string[];
  /** History (backfilled) state: its events are before this time (those at or after are live). */
  cut?: number;
  /** A store without TTLs (LMDB): the key's clock when its expired pieces were last removed. */
  sweptAt?: number;
}

/**
 * The state of one key as the engine reads and writes it. The in-memory form below, the embedded
 * store (LMDB, read and written in one transaction) and the Cassandra store (the pieces a batch
 * needs read first, the changed ones written after) all give the engine this view.
 */
export interface AggregationStateAccess {
  meta(): KeyMeta | undefined;
  setMeta(meta: KeyMeta): void;
  /** The raw events of the minute starting at `start`, sorted by (t, id). */
  rawMinute(start: number): readonly AggregateEvent[] | undefined;
  setRawMinute(start: number, events: readonly AggregateEvent[]): void;
  bucket(level: BucketLevel, start: number): PartialAggregate | undefined;
  setBucket(level: BucketLevel, start: number, partial: PartialAggregate): void;
  /** The stored buckets of a level with start in [from, to), ascending. */
  bucketRange(level: BucketLevel, from: number, to: number): Iterable<[number, PartialAggregate]>;
  /** The raw events with event time in [from, to), ascending. */
  rawRange(from: number, to: number): Iterable<AggregateEvent>;
  /**
   * A state read as its events whole (a small key's, which a store keeps so): every event of the
   * longest window and since the lifetime's fold. A read then goes over them, not over pieces.
   */
  heldEvents?(): FlatEvents | undefined;
}

/** The state of a key in memory: for tests, the offline backfill, and a batch's pieces. */
export class MemoryAggregationState implements AggregationStateAccess {
  private metaValue: KeyMeta | undefined;
  readonly raw = new Map<number, readonly AggregateEvent[]>();
  readonly buckets: Record<BucketLevel, Map<number, PartialAggregate>> = {
    minute: new Map(),
    hour: new Map(),
    day: new Map(),
  };
  /** What changed since the pieces were loaded (for a store that writes them back). */
  readonly dirty = {
    meta: false,
    raw: new Set<number>(),
    minute: new Set<number>(),
    hour: new Set<number>(),
    day: new Set<number>(),
  };

  meta(): KeyMeta | undefined {
    return this.metaValue;
  }
  setMeta(meta: KeyMeta): void {
    this.metaValue = meta;
    this.dirty.meta = true;
  }
  /** Whether a write changed something since the pieces were loaded. */
  changed(): boolean {
    const d = this.dirty;
    return d.meta || d.raw.size > 0 || d.minute.size > 0 || d.hour.size > 0 || d.day.size > 0;
  }
  /** Sets a piece as loaded from a store (not dirty). */
  load(meta: KeyMeta | undefined): void {
    this.metaValue = meta;
  }
  rawMinute(start: number) {
    return this.raw.get(start);
  }
  setRawMinute(start: number, events: readonly AggregateEvent[]): void {
    this.raw.set(start, events);
    this.dirty.raw.add(start);
  }
  bucket(level: BucketLevel, start: number) {
    return this.buckets[level].get(start);
  }
  setBucket(level: BucketLevel, start: number, partial: PartialAggregate): void {
    this.buckets[level].set(start, partial);
    this.dirty[level].add(start);
  }
  *bucketRange(level: BucketLevel, from: number, to: number): Iterable<[number, PartialAggregate]> {
    const map = this.buckets[level];
    const size = bucketSize[level];
    if ((to - from) / size <= map.size) {
      for (let s = from; s < to; s += size) {
        const p = map.get(s);
        if (p !== undefined) yield [s, p];
      }
    } else {
      yield* [...map].filter(([s]) => s >= from && s < to).sort((a, b) => a[0] - b[0]);
    }
  }
  *rawRange(from: number, to: number): Iterable<AggregateEvent> {
    for (let m = Math.floor(from / MINUTE) * MINUTE; m < to; m += MINUTE) {
      for (const e of this.raw.get(m) ?? []) if (e.t >= from && e.t < to) yield e;
    }
  }

  /**
   * Drops raw minutes and buckets past their horizons at `nowMs` (day buckets not yet folded stay);
   * raw minutes by `rawNowMs` when given (a store that keeps them by the key's own clock).
   */
  expire(
    nowMs: number,
    rawHorizonMs: number,
    bucketRetentionMs: number,
    keepDaysFrom: number,
    rawNowMs = nowMs,
  ): void {
    for (const minute of this.raw.keys())
      if (minute + MINUTE <= rawNowMs - rawHorizonMs) this.raw.delete(minute);
    for (const level of bucketLevels) {
      for (const start of this.buckets[level].keys()) {
        if (level === 'day' && start >= keepDaysFrom) continue;
        if (start + bucketSize[level] <= nowMs - bucketRetentionMs) this.buckets[level].delete(start);
      }
    }
  }
}

export function emptyMeta(through: number): KeyMeta {
  return { watermark: Number.NEGATIVE_INFINITY, through, lifetime: emptyPartial() };
}
