import { DAY, HOUR, MINUTE } from './aggregate-field.ts';

/**
 * How a window is read: as a few ranges of stored state that together cover it exactly once.
 * State is kept at four resolutions: raw events, and partial aggregates of minute, hour and day
 * buckets (bucket k of size s holds the event times [k·s, (k+1)·s), UTC). A range of event times
 * [lo, hi) is covered by raw events at its ragged ends and by the coarsest whole buckets in between:
 * at most 59 minutes, 23 hours, the days, 23 hours and 59 minutes, so a 30-day window reads about
 * 200 buckets however busy the key, never 43,200 minutes.
 */

export const bucketLevels = ['minute', 'hour', 'day'] as const;
export type BucketLevel = (typeof bucketLevels)[number];
export type StateLevel = 'raw' | BucketLevel;

export const bucketSize: Record<BucketLevel, number> = { minute: MINUTE, hour: HOUR, day: DAY };

/** A range [from, to) of event times read from one level (bucket starts, for bucket levels). */
export interface PlanPiece {
  level: StateLevel;
  from: number;
  to: number;
}

export const floorTo = (t: number, size: number) => Math.floor(t / size) * size;
export const ceilTo = (t: number, size: number) => Math.ceil(t / size) * size;

/** Covers the minute-aligned range [a, b) with the coarsest aligned buckets, joined into ranges per level. */
export function planBuckets(a: number, b: number): PlanPiece[] {
  const out: PlanPiece[] = [];
  const push = (level: BucketLevel, from: number, to: number) => {
    const last = out[out.length - 1];
    if (last && last.level === level && last.to === from) last.to = to;
    else out.push({ level, from, to });
  };
  let x = a;
  while (x < b) {
    let level: BucketLevel = 'minute';
    for (const l of ['day', 'hour'] as const) {
      if (x % bucketSize[l] === 0 && x + bucketSize[l] <= b) {
        level = l;
        break;
      }
    }
    push(level, x, x + bucketSize[level]);
    x += bucketSize[level];
  }
  return out;
}

/**
 * The plan of the event-time range [lo, hi). With `exactStart` the old end is exact (raw events
 * for its ragged minute); without, it is rounded down to the minute (the range starts at most
 * 59,999 ms early). The new end is always exact: raw events from its minute's start to `hi`.
 */
export function planRange(lo: number, hi: number, exactStart: boolean): PlanPiece[] {
  if (hi <= lo) return [];
  const start = exactStart ? lo : floorTo(lo, MINUTE);
  const a = ceilTo(start, MINUTE);
  const b = floorTo(hi, MINUTE);
  if (a >= b) return [{ level: 'raw', from: start, to: hi }];
  return [
    ...(start < a ? [{ level: 'raw' as const, from: start, to: a }] : []),
    ...planBuckets(a, b),
    ...(b < hi ? [{ level: 'raw' as const, from: b, to: hi }] : []),
  ];
}

/**
 * The plan of a sliding window of `windowMs` read at `t`: the events with event time in
 * (t − windowMs, t], i.e. [t − windowMs + 1, t + 1).
 */
export function planWindow(t: number, windowMs: number, exactStart: boolean): PlanPiece[] {
  return planRange(t - windowMs + 1, t + 1, exactStart);
}

/** The event times [lo, hi) a window reads (`exact`: its old end to the millisecond, else to the minute). */
export interface WindowRange {
  lo: number;
  hi: number;
  exact: boolean;
}

/**
 * The event times [from, to) the plan of a range (`planRange(lo, hi, exact)`) covers (undefined:
 * none): a read over a key's events whole takes those, and needs no plan.
 */
export function rangeCovered(range: WindowRange | undefined): { from: number; to: number } | undefined {
  if (range === undefined || range.hi <= range.lo) return undefined;
  return { from: range.exact ? range.lo : floorTo(range.lo, MINUTE), to: range.hi };
}

/** The event-time range a window read at `t` actually covers (the old end rounded when not exact). */
export function windowCoverage(t: number, windowMs: number, exactStart: boolean): { lo: number; hi: number } {
  const lo = t - windowMs + 1;
  return { lo: exactStart ? lo : floorTo(lo, MINUTE), hi: t + 1 };
}
