import type { FieldValue } from '../values/coerce-value.ts';
import type { AggregateField, InputNeeds } from './aggregate-field.ts';
import {
  addHash,
  type DistinctSketch,
  emptySketch,
  mergeSketches,
  sketchCount,
  valueHash,
} from './distinct-sketch.ts';

/** One event as the aggregation keeps it: event time, id (for deduplication), input values. */
export interface AggregateEvent {
  t: number;
  id: string;
  values: Readonly<Record<string, FieldValue>>;
}

/** A value and the newest (time, id) it was seen at. */
export interface SeenValue {
  v: FieldValue;
  t: number;
  id: string;
}

/** What is kept of one input over a set of events; every part merges. */
export interface InputPartial {
  /** Events with a non-null numeric value. */
  n: number;
  sum: number;
  min: number;
  max: number;
  /** The newest non-null value (by event time, then id). */
  last?: SeenValue;
  sketch?: DistinctSketch;
  /** The newest distinct values, newest first, at most `recent` of them. */
  recent?: SeenValue[];
}

/** The partial aggregate of a set of events (a bucket, a window piece, a lifetime). */
export interface PartialAggregate {
  count: number;
  inputs: Record<string, InputPartial>;
}

export function emptyPartial(): PartialAggregate {
  return { count: 0, inputs: {} };
}

const newer = (a: { t: number; id: string }, b: { t: number; id: string }) =>
  a.t > b.t || (a.t === b.t && a.id > b.id);

function emptyInput(): InputPartial {
  return { n: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
}

const distinctKey = (v: FieldValue) => `${typeof v}:${typeof v === 'string' ? v : JSON.stringify(v)}`;

/** Puts a value into a newest-first distinct list bounded to `limit` (in place). */
function addRecent(list: SeenValue[], seen: SeenValue, limit: number): void {
  const key = distinctKey(seen.v);
  const at = list.findIndex((x) => distinctKey(x.v) === key);
  if (at >= 0) {
    if (!newer(seen, list[at]!)) return;
    list.splice(at, 1);
  }
  let i = 0;
  while (i < list.length && newer(list[i]!, seen)) i++;
  if (i >= limit) return;
  list.splice(i, 0, seen);
  if (list.length > limit) list.length = limit;
}

/** Adds one event to a partial (in place). */
export function addEvent(
  p: PartialAggregate,
  e: AggregateEvent,
  needs: ReadonlyMap<string, InputNeeds>,
): void {
  p.count++;
  for (const [name, need] of needs) addValue(p, name, need, e.values[name], e.t, e.id);
}

/**
 * A key's events held whole, in (time, id) order, as one flat array: per event its time, its id,
 * then its values in the order of `names` (null where it has none), `2 + names.length` entries
 * an event. A read goes over them without an object per event.
 */
export interface FlatEvents {
  names: readonly string[];
  flat: readonly unknown[];
}

/** Entries of one event in a flat array: its time, its id, its values. */
export const flatStride = (held: FlatEvents): number => 2 + held.names.length;

/**
 * Where the first event at or after `from` starts in a flat array (its length: none), found from
 * the newest event back: a short window holds the last few.
 */
export function firstFlatEventFrom(held: FlatEvents, from: number): number {
  const { flat } = held;
  const stride = flatStride(held);
  let i = flat.length - stride;
  while (i >= 0 && (flat[i] as number) >= from) i -= stride;
  return i + stride;
}

/** The events of a flat array as objects (null values included). */
export function eventsOfFlat(held: FlatEvents): AggregateEvent[] {
  const { names, flat } = held;
  const stride = flatStride(held);
  const out: AggregateEvent[] = [];
  for (let i = 0; i < flat.length; i += stride) {
    const values: Record<string, FieldValue> = {};
    for (let j = 0; j < names.length; j++) values[names[j]!] = flat[i + 2 + j] as FieldValue;
    out.push({ t: flat[i] as number, id: flat[i + 1] as string, values });
  }
  return out;
}

/** Where the inputs the fields read are in a key's held events (only those its events have). */
export interface HeldColumns {
  inputs: string[];
  needs: InputNeeds[];
  /** Each input's offset in an event's stretch of the flat array. */
  at: number[];
}

export function heldColumns(held: FlatEvents, needs: ReadonlyMap<string, InputNeeds>): HeldColumns {
  const out: HeldColumns = { inputs: [], needs: [], at: [] };
  for (const [name, need] of needs) {
    const j = held.names.indexOf(name);
    if (j < 0) continue;
    out.inputs.push(name);
    out.needs.push(need);
    out.at.push(2 + j);
  }
  return out;
}

/** Adds the events of `held` with event time in [from, to) to a partial (in place); `held` is in time order. */
export function addFlatRange(
  p: PartialAggregate,
  held: FlatEvents,
  columns: HeldColumns,
  from: number,
  to: number,
): void {
  const { flat } = held;
  const stride = flatStride(held);
  const { inputs, needs, at } = columns;
  for (let i = firstFlatEventFrom(held, from); i < flat.length; i += stride) {
    const t = flat[i] as number;
    if (t >= to) break;
    p.count++;
    for (let k = 0; k < inputs.length; k++)
      addValue(p, inputs[k]!, needs[k]!, flat[i + at[k]!] as FieldValue, t, flat[i + 1] as string);
  }
}

/** Adds one event's value of one input to a partial (in place); the event itself is counted by the caller. */
function addValue(
  p: PartialAggregate,
  name: string,
  need: InputNeeds,
  v: FieldValue | undefined,
  t: number,
  id: string,
): void {
  if (v === null || v === undefined) return;
  let ip = p.inputs[name];
  if (ip === undefined) {
    ip = emptyInput();
    p.inputs[name] = ip;
  }
  if (need.numeric && typeof v === 'number') {
    ip.n++;
    ip.sum += v;
    if (v < ip.min) ip.min = v;
    if (v > ip.max) ip.max = v;
  }
  if (need.last || need.recent > 0) {
    const seen = { v, t, id };
    if (need.last && (ip.last === undefined || newer(seen, ip.last))) ip.last = seen;
    if (need.recent > 0) {
      ip.recent ??= [];
      addRecent(ip.recent, seen, need.recent);
    }
  }
  if (need.distinct) ip.sketch = addHash(ip.sketch ?? emptySketch(), valueHash(v));
}

/** Adds `source` into `target` (in place; `source` is left as it is). */
export function mergeInto(
  target: PartialAggregate,
  source: PartialAggregate,
  needs: ReadonlyMap<string, InputNeeds>,
): void {
  target.count += source.count;
  for (const [name, need] of needs) {
    const s = source.inputs[name];
    if (s === undefined) continue;
    let t = target.inputs[name];
    if (t === undefined) {
      t = emptyInput();
      target.inputs[name] = t;
    }
    t.n += s.n;
    t.sum += s.sum;
    if (s.min < t.min) t.min = s.min;
    if (s.max > t.max) t.max = s.max;
    if (s.last !== undefined && (t.last === undefined || newer(s.last, t.last))) t.last = s.last;
    if (s.sketch !== undefined)
      t.sketch =
        t.sketch === undefined ? mergeSketches(emptySketch(), s.sketch) : mergeSketches(t.sketch, s.sketch);
    if (s.recent !== undefined && need.recent > 0) {
      t.recent ??= [];
      for (const seen of s.recent) addRecent(t.recent, seen, need.recent);
    }
  }
}

/** The value of one aggregation field from the partial of its window (null: no events for it). */
export function fieldValue(p: PartialAggregate, f: AggregateField): FieldValue {
  if (f.fn === 'count') return p.count;
  const ip = f.of === undefined ? undefined : p.inputs[f.of];
  switch (f.fn) {
    case 'sum':
      return ip?.n ? ip.sum : 0;
    case 'avg':
      return ip?.n ? ip.sum / ip.n : null;
    case 'min':
      return ip?.n ? ip.min : null;
    case 'max':
      return ip?.n ? ip.max : null;
    case 'last':
      return ip?.last?.v ?? null;
    case 'approx_distinct':
      return ip?.sketch ? sketchCount(ip.sketch) : 0;
    case 'last_distinct':
      return (ip?.recent ?? []).slice(0, f.n ?? 10).map((s) => s.v) as FieldValue;
  }
}
