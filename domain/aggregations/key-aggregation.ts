import type { FieldValue } from '../values/coerce-value.ts';
import {
  type AggregationSpec,
  DAY,
  type InputNeeds,
  inputNeeds,
  isExactWindow,
  MINUTE,
} from './aggregate-field.ts';
import {
  type AggregationStateAccess,
  emptyMeta,
  type KeyMeta,
  MemoryAggregationState,
} from './aggregation-state.ts';
import {
  type AggregateEvent,
  addEvent,
  emptyPartial,
  fieldValue,
  mergeInto,
  type PartialAggregate,
} from './partial-aggregate.ts';
import { bucketLevels, bucketSize, floorTo, type PlanPiece, planRange, planWindow } from './window-plan.ts';

/** What became of one event given to `add`. */
export type EventOutcome = { accepted: true } | { duplicate: true } | { late: string };

const byTimeThenId = (a: AggregateEvent, b: AggregateEvent) =>
  a.t - b.t || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The one aggregation engine: the online stores keep exactly the pieces it reads and writes (raw
 * events, minute/hour/day partials, the key's meta with the lifetime partial), and the offline
 * backfill builds them from the warehouse's events with the same code.
 *
 * Writing an event: a duplicate when its (event time, id) is among the raw events (the stores keep
 * them for the raw horizon after they are written, so a redelivery within it counts once); late
 * when it is older than the key's newest event by more than the lateness; otherwise kept raw and
 * added to its minute, hour and day partials. Days that no accepted event can reach
 * any more (older than the watermark minus the lateness) are folded into the lifetime partial.
 *
 * Reading at t: each field's window is planned (window-plan.ts) and its pieces merged.
 */
export class AggregationEngine {
  private readonly needs: Map<string, InputNeeds>;

  constructor(readonly spec: AggregationSpec) {
    this.needs = inputNeeds(spec.fields);
  }

  /** Adds a key's events in arrival order. */
  add(state: AggregationStateAccess, events: readonly AggregateEvent[]): EventOutcome[] {
    const out: EventOutcome[] = [];
    let meta = state.meta();
    const metaBefore = meta === undefined ? undefined : { watermark: meta.watermark, through: meta.through };
    const rawChanged = new Map<number, AggregateEvent[]>();
    const buckets = new Map<string, PartialAggregate>();
    for (const e of events) {
      const outcome = this.checkOne(state, rawChanged, meta, e);
      out.push(outcome);
      if (!('accepted' in outcome)) continue;
      meta ??= emptyMeta(floorTo(e.t - this.spec.latenessMs, DAY));
      const minute = floorTo(e.t, MINUTE);
      let list = rawChanged.get(minute);
      if (list === undefined) {
        list = [...(state.rawMinute(minute) ?? [])];
        rawChanged.set(minute, list);
      }
      let i = list.length;
      while (i > 0 && byTimeThenId(list[i - 1]!, e) > 0) i--;
      list.splice(i, 0, e);
      for (const level of bucketLevels) {
        const start = floorTo(e.t, bucketSize[level]);
        const id = `${level}:${start}`;
        let p = buckets.get(id);
        if (p === undefined) {
          // the state hands out its own copy (decoded, or the in-memory one): changed in place
          p = state.bucket(level, start) ?? emptyPartial();
          buckets.set(id, p);
        }
        addEvent(p, e, this.needs);
      }
      if (e.t > meta.watermark) meta = { ...meta, watermark: e.t };
    }
    for (const [minute, list] of rawChanged) state.setRawMinute(minute, list);
    for (const [id, p] of buckets) {
      const [level, start] = id.split(':') as [(typeof bucketLevels)[number], string];
      state.setBucket(level, Number(start), p);
    }
    if (meta !== undefined) {
      meta = this.fold(state, meta);
      if (
        metaBefore === undefined ||
        meta.watermark !== metaBefore.watermark ||
        meta.through !== metaBefore.through
      )
        state.setMeta(meta);
    }
    return out;
  }

  private checkOne(
    state: AggregationStateAccess,
    rawChanged: ReadonlyMap<number, AggregateEvent[]>,
    meta: KeyMeta | undefined,
    e: AggregateEvent,
  ): EventOutcome {
    const { latenessMs } = this.spec;
    const minute = floorTo(e.t, MINUTE);
    const raw = rawChanged.get(minute) ?? state.rawMinute(minute);
    if (raw?.some((x) => x.t === e.t && x.id === e.id)) return { duplicate: true };
    if (meta !== undefined && e.t < meta.watermark - latenessMs) {
      return {
        late: `event time ${new Date(e.t).toISOString()} is more than the allowed lateness (${latenessMs} ms) before the key's newest event (${new Date(meta.watermark).toISOString()})`,
      };
    }
    return { accepted: true };
  }

  /** The first day not yet final: accepted events are at or after watermark − lateness. */
  foldLimit(meta: KeyMeta): number {
    return floorTo(meta.watermark - this.spec.latenessMs, DAY);
  }

  /** Folds the days no accepted event can reach any more into the lifetime partial. */
  private fold(state: AggregationStateAccess, meta: KeyMeta): KeyMeta {
    if (!this.spec.lifetime) return meta;
    const limit = this.foldLimit(meta);
    if (meta.through >= limit) return meta;
    const lifetime = emptyPartial();
    mergeInto(lifetime, meta.lifetime, this.needs);
    for (const [, p] of state.bucketRange('day', meta.through, limit)) mergeInto(lifetime, p, this.needs);
    return { ...meta, through: limit, lifetime };
  }

  /** The pieces a read at `t` needs for each field (for the stores' range reads, and tests). */
  plan(meta: KeyMeta | undefined, t: number): Map<string, PlanPiece[]> {
    const out = new Map<string, PlanPiece[]>();
    for (const f of this.spec.fields) {
      if (f.window.kind === 'lifetime') {
        out.set(f.name, meta === undefined ? [] : planRange(meta.through, t + 1, true));
      } else {
        out.set(f.name, planWindow(t, f.window.ms, isExactWindow(f.window)));
      }
    }
    return out;
  }

  private mergePiece(state: AggregationStateAccess, into: PartialAggregate, piece: PlanPiece): void {
    if (piece.level === 'raw') {
      for (const e of state.rawRange(piece.from, piece.to)) addEvent(into, e, this.needs);
    } else {
      for (const [, p] of state.bucketRange(piece.level, piece.from, piece.to))
        mergeInto(into, p, this.needs);
    }
  }

  /** Every field's value as of `t` (count, sum and approx_distinct 0, the others null without events). */
  read(state: AggregationStateAccess, t: number): Record<string, FieldValue> {
    const meta = state.meta();
    const values: Record<string, FieldValue> = {};
    const plans = this.plan(meta, t);
    // fields of one window share its partial
    const byWindow = new Map<string, PartialAggregate>();
    for (const f of this.spec.fields) {
      const windowKey = f.window.kind === 'lifetime' ? 'lifetime' : String(f.window.ms);
      let p = byWindow.get(windowKey);
      if (p === undefined) {
        p = emptyPartial();
        if (f.window.kind === 'lifetime' && meta !== undefined) mergeInto(p, meta.lifetime, this.needs);
        for (const piece of plans.get(f.name)!) this.mergePiece(state, p, piece);
        byWindow.set(windowKey, p);
      }
      values[f.name] = fieldValue(p, f);
    }
    return values;
  }
}

/** One key's state in memory with the engine: the offline backfill and the tests use it. */
export class KeyAggregation {
  readonly engine: AggregationEngine;
  readonly state = new MemoryAggregationState();

  constructor(readonly spec: AggregationSpec) {
    this.engine = new AggregationEngine(spec);
  }

  add(events: readonly AggregateEvent[]): EventOutcome[] {
    return this.engine.add(this.state, events);
  }

  read(t: number): Record<string, FieldValue> {
    return this.engine.read(this.state, t);
  }

  expire(nowMs: number): void {
    const meta = this.state.meta();
    const keepDaysFrom = this.spec.lifetime && meta ? meta.through : Number.POSITIVE_INFINITY;
    this.state.expire(nowMs, this.spec.rawHorizonMs, this.spec.bucketRetentionMs, keepDaysFrom);
  }
}
