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
  type AggregateEvent,
  addEvent,
  emptyPartial,
  fieldValue,
  mergeInto,
  type PartialAggregate,
} from './partial-aggregate.ts';
import {
  type BucketLevel,
  bucketLevels,
  bucketSize,
  floorTo,
  type PlanPiece,
  planRange,
  planWindow,
} from './window-plan.ts';

/** What became of one event given to `add`. */
export type EventOutcome = { accepted: true } | { duplicate: true } | { late: string };

/**
 * The aggregation state of one key, and the one engine that writes and reads it: the online
 * stores persist exactly these pieces (raw events, minute/hour/day partials, the lifetime
 * partial and the key's watermark), and the offline backfill builds them from the warehouse's
 * events with the same code.
 *
 * Writing an event: refused as late when it is older than the raw horizon (a second delivery of
 * it could not be told apart from a first); a duplicate when its (event time, id) is among the raw
 * events; late when it is older than the key's newest event by more than the lateness; otherwise
 * kept raw and added
 * to its minute, hour and day partials. Days that no accepted event can reach any more (older
 * than the watermark minus the lateness) are folded into the lifetime partial.
 *
 * Reading at t: each field's window is planned (window-plan.ts) and its pieces merged.
 */
export class KeyAggregation {
  watermark = Number.NEGATIVE_INFINITY;
  /** The lifetime partial holds the days before this one (undefined until the first event). */
  through: number | undefined;
  lifetime: PartialAggregate = emptyPartial();
  /** Raw events by minute start, each list sorted by (t, id). */
  readonly raw = new Map<number, AggregateEvent[]>();
  readonly buckets: Record<BucketLevel, Map<number, PartialAggregate>> = {
    minute: new Map(),
    hour: new Map(),
    day: new Map(),
  };
  private readonly needs: Map<string, InputNeeds>;

  constructor(readonly spec: AggregationSpec) {
    this.needs = inputNeeds(spec.fields);
  }

  /** Adds events in arrival order; `nowMs` is the writer's clock. */
  add(events: readonly AggregateEvent[], nowMs: number): EventOutcome[] {
    const out: EventOutcome[] = [];
    for (const e of events) {
      out.push(this.addOne(e, nowMs));
    }
    this.fold();
    return out;
  }

  private addOne(e: AggregateEvent, nowMs: number): EventOutcome {
    const { latenessMs, rawHorizonMs } = this.spec;
    if (e.t < nowMs - rawHorizonMs) {
      return {
        late: `event time ${new Date(e.t).toISOString()} is older than the ${rawHorizonMs} ms an event is remembered for deduplication (backfill history instead)`,
      };
    }
    if (this.findRaw(e) !== undefined) return { duplicate: true };
    if (e.t <= this.watermark - latenessMs) {
      return {
        late: `event time ${new Date(e.t).toISOString()} is more than the allowed lateness (${latenessMs} ms) before the key's newest event (${new Date(this.watermark).toISOString()})`,
      };
    }
    if (this.through === undefined) this.through = floorTo(e.t - latenessMs, DAY);
    const minute = floorTo(e.t, MINUTE);
    const list = this.raw.get(minute);
    if (list === undefined) this.raw.set(minute, [e]);
    else {
      let i = list.length;
      while (i > 0 && (list[i - 1]!.t > e.t || (list[i - 1]!.t === e.t && list[i - 1]!.id > e.id))) i--;
      list.splice(i, 0, e);
    }
    for (const level of bucketLevels) {
      const start = floorTo(e.t, bucketSize[level]);
      let p = this.buckets[level].get(start);
      if (p === undefined) {
        p = emptyPartial();
        this.buckets[level].set(start, p);
      }
      addEvent(p, e, this.needs);
    }
    if (e.t > this.watermark) this.watermark = e.t;
    return { accepted: true };
  }

  private findRaw(e: AggregateEvent): AggregateEvent | undefined {
    return this.raw.get(floorTo(e.t, MINUTE))?.find((x) => x.t === e.t && x.id === e.id);
  }

  /** Folds the days no accepted event can reach any more into the lifetime partial. */
  private fold(): void {
    if (!this.spec.lifetime || this.through === undefined) return;
    // day D is final once its last millisecond is at or before watermark − lateness
    const limit = floorTo(this.watermark - this.spec.latenessMs + 1, DAY);
    if (this.through >= limit) return;
    for (const [start, p] of [...this.buckets.day].sort((a, b) => a[0] - b[0])) {
      if (start >= this.through && start < limit) mergeInto(this.lifetime, p, this.needs);
    }
    this.through = limit;
  }

  /** Drops what no read or deduplication needs at `nowMs` (the stores' TTLs do the same). */
  expire(nowMs: number): void {
    for (const minute of this.raw.keys()) {
      if (minute + MINUTE <= nowMs - this.spec.rawHorizonMs) this.raw.delete(minute);
    }
    for (const level of bucketLevels) {
      for (const start of this.buckets[level].keys()) {
        const unfolded = level === 'day' && this.spec.lifetime && start >= (this.through ?? 0);
        if (!unfolded && start + bucketSize[level] <= nowMs - this.spec.bucketRetentionMs)
          this.buckets[level].delete(start);
      }
    }
  }

  /** The partial of one plan piece. */
  private mergePiece(into: PartialAggregate, piece: PlanPiece): void {
    if (piece.level === 'raw') {
      for (let m = floorTo(piece.from, MINUTE); m < piece.to; m += MINUTE) {
        for (const e of this.raw.get(m) ?? []) {
          if (e.t >= piece.from && e.t < piece.to) addEvent(into, e, this.needs);
        }
      }
      return;
    }
    const size = bucketSize[piece.level];
    const map = this.buckets[piece.level];
    // few buckets in a long range are stored: walk the stored ones when that is shorter
    if ((piece.to - piece.from) / size > map.size) {
      for (const [start, p] of map)
        if (start >= piece.from && start < piece.to) mergeInto(into, p, this.needs);
    } else {
      for (let s = piece.from; s < piece.to; s += size) {
        const p = map.get(s);
        if (p !== undefined) mergeInto(into, p, this.needs);
      }
    }
  }

  /** The pieces a read at `t` needs for each field (exposed for the stores' range reads and for tests). */
  plan(t: number): Map<string, PlanPiece[]> {
    const out = new Map<string, PlanPiece[]>();
    for (const f of this.spec.fields) {
      if (f.window.kind === 'lifetime') {
        out.set(f.name, this.through === undefined ? [] : planRange(this.through, t + 1, true));
      } else {
        out.set(f.name, planWindow(t, f.window.ms, isExactWindow(f.window)));
      }
    }
    return out;
  }

  /** Every field's value as of `t` (count 0, sum 0, others null when the window has no events). */
  read(t: number): Record<string, FieldValue> {
    const values: Record<string, FieldValue> = {};
    const plans = this.plan(t);
    // fields of one window share its partial
    const byWindow = new Map<string, PartialAggregate>();
    for (const f of this.spec.fields) {
      const windowKey = f.window.kind === 'lifetime' ? 'lifetime' : String(f.window.ms);
      let p = byWindow.get(windowKey);
      if (p === undefined) {
        p = emptyPartial();
        if (f.window.kind === 'lifetime') mergeInto(p, this.lifetime, this.needs);
        for (const piece of plans.get(f.name)!) this.mergePiece(p, piece);
        byWindow.set(windowKey, p);
      }
      values[f.name] = fieldValue(p, f);
    }
    return values;
  }
}
