import type { FieldValue } from '../values/coerce-value.ts';
import {
  type AggregateWindow,
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
import { NumericHeldRead } from './numeric-held-read.ts';
import {
  type AggregateEvent,
  addEvent,
  addFlatRange,
  emptyPartial,
  type FlatEvents,
  fieldValue,
  type HeldColumns,
  heldColumns,
  mergeInto,
  type PartialAggregate,
} from './partial-aggregate.ts';
import {
  bucketLevels,
  bucketSize,
  ceilTo,
  floorTo,
  type PlanPiece,
  planRange,
  rangeCovered,
  type WindowRange,
  windowCoverage,
} from './window-plan.ts';

/**
 * What became of one event given to `add`: counted, already counted, too late for the live state
 * (a dead letter), or left to the other side of a key's live start (a history event the live
 * state holds, or one a backfill already counted).
 */
export type EventOutcome = { accepted: true } | { duplicate: true } | { late: string } | { skipped: string };

/** Where an `add` may put events: live (from the history's cut, when a history exists) or history (before `cut`). */
interface AddBounds {
  /** Live: events before it are the history's (late here). */
  historyCut?: number | undefined;
  /** History: events at or after it are the live state's (skipped here). */
  cut?: number | undefined;
  history: boolean;
}

const iso = (t: number) => new Date(t).toISOString();

const sameNames = (a: readonly string[], b: readonly string[]) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** The order of a key's events: event time, then id. */
export const byTimeThenId = (a: AggregateEvent, b: AggregateEvent) =>
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

  /** The distinct windows of the fields, and each field's index among them (fields of one window share its partial). */
  private readonly windows: AggregateWindow[] = [];
  private readonly windowOfField: number[] = [];

  constructor(readonly spec: AggregationSpec) {
    this.needs = inputNeeds(spec.fields);
    for (const f of spec.fields) {
      let i = this.windows.findIndex((w) =>
        w.kind === 'lifetime'
          ? f.window.kind === 'lifetime'
          : f.window.kind === 'sliding' && f.window.ms === w.ms,
      );
      if (i < 0) i = this.windows.push(f.window) - 1;
      this.windowOfField.push(i);
    }
    this.numeric = NumericHeldRead.of(spec.fields, this.windowOfField, this.windows.length);
  }

  /** The read of a held key when every field is count, sum, avg, min or max (undefined: the fields need partials). */
  private readonly numeric: NumericHeldRead | undefined;

  /**
   * The event times a window read at `t` covers in a key's live state: (t − W, t] (its old end
   * rounded down to the minute for a window that is not exact), or for lifetime from the fold day
   * (the days before are in the lifetime partial).
   */
  private liveRange(window: AggregateWindow, meta: KeyMeta | undefined, t: number): WindowRange | undefined {
    if (window.kind === 'lifetime')
      return meta === undefined ? undefined : { lo: meta.through, hi: t + 1, exact: true };
    return { lo: t - window.ms + 1, hi: t + 1, exact: isExactWindow(window) };
  }

  /**
   * The same in a key's history state (a backfill's, before its `cut`): ending at the cut (nothing
   * of the history is after it), and none for a window the history's newest event is older than.
   */
  private historyRange(window: AggregateWindow, history: KeyMeta, t: number): WindowRange | undefined {
    const cut = history.cut ?? Number.POSITIVE_INFINITY;
    if (window.kind === 'lifetime') {
      const hi = t + 1 <= cut ? t + 1 : ceilTo(cut, DAY);
      return { lo: history.through, hi, exact: true };
    }
    const exact = isExactWindow(window);
    const { lo } = windowCoverage(t, window.ms, exact);
    if (history.watermark < lo) return undefined;
    const hi = t + 1 <= cut ? t + 1 : ceilTo(cut, MINUTE);
    return { lo: t - window.ms + 1, hi, exact };
  }

  /**
   * The plan of a range read at `t`: the last read time's plans are kept (a batch reads many keys
   * at one `t`, and a sliding window's range does not depend on the key, a lifetime's only on its
   * fold day).
   */
  private planOf(range: WindowRange | undefined, t: number): PlanPiece[] {
    if (range === undefined) return [];
    if (this.plansAt !== t) {
      this.plansAt = t;
      this.plans.clear();
    }
    const id = `${range.lo}:${range.hi}:${range.exact ? 1 : 0}`;
    let pieces = this.plans.get(id);
    if (pieces === undefined) {
      pieces = planRange(range.lo, range.hi, range.exact);
      this.plans.set(id, pieces);
    }
    return pieces;
  }
  private plansAt = Number.NaN;
  private readonly plans = new Map<string, PlanPiece[]>();

  /**
   * Adds a key's live events in arrival order. The live meta keeps the oldest live event time
   * (`start`): a backfill counts the warehouse's events before it as the key's history
   * (`addHistory`). The live state refuses an event before the history's cut (`historyMeta.cut`,
   * read by the store on every write) as late: the history has it.
   */
  add(
    state: AggregationStateAccess,
    events: readonly AggregateEvent[],
    historyMeta?: KeyMeta,
  ): EventOutcome[] {
    return this.addWithin(state, events, { historyCut: historyMeta?.cut, history: false });
  }

  /**
   * Adds events of the warehouse, in time order (the backfill reads the table in its watermark
   * order), to a key's history state, kept apart from its live state. The cut is the key's oldest
   * live event, or `cutMs` while it has no live state, and it only moves forward (a later run
   * continues the history): events at or after it are skipped (the live state has them, or will).
   * Events before the history's newest are skipped as counted by an earlier run (a rerun, a
   * resumed page); at the newest, the ids counted there decide. The live meta is only read.
   */
  addHistory(
    state: AggregationStateAccess,
    liveMeta: KeyMeta | undefined,
    events: readonly AggregateEvent[],
    cutMs: number,
  ): EventOutcome[] {
    const proposed = liveMeta === undefined ? cutMs : (liveMeta.start ?? Number.NEGATIVE_INFINITY);
    const cut = Math.max(state.meta()?.cut ?? Number.NEGATIVE_INFINITY, proposed);
    return this.addWithin(state, events, { cut, history: true });
  }

  private addWithin(
    state: AggregationStateAccess,
    events: readonly AggregateEvent[],
    bounds: AddBounds,
  ): EventOutcome[] {
    const out: EventOutcome[] = [];
    let meta = state.meta();
    const metaBefore =
      meta === undefined
        ? undefined
        : { watermark: meta.watermark, through: meta.through, start: meta.start, cut: meta.cut };
    const rawChanged = new Map<number, AggregateEvent[]>();
    const buckets = new Map<string, PartialAggregate>();
    for (const e of events) {
      const outcome = this.checkOne(state, rawChanged, meta, e, bounds);
      out.push(outcome);
      if (!('accepted' in outcome)) continue;
      if (meta === undefined) {
        meta = emptyMeta(floorTo(e.t - this.spec.latenessMs, DAY));
        if (bounds.history) meta.cut = bounds.cut;
        else meta.start = e.t;
      }
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
      if (bounds.history) {
        // the ids counted at the newest event time: a rerun recognises them without raw events
        if (e.t > meta.watermark) meta = { ...meta, watermark: e.t, atWatermark: [e.id] };
        else if (e.t === meta.watermark) meta = { ...meta, atWatermark: [...(meta.atWatermark ?? []), e.id] };
      } else if (e.t > meta.watermark) meta = { ...meta, watermark: e.t };
      // the oldest live event: where a backfill stops (a meta from before it was kept has none)
      if (!bounds.history && meta.start !== undefined && e.t < meta.start) meta = { ...meta, start: e.t };
    }
    for (const [minute, list] of rawChanged) state.setRawMinute(minute, list);
    for (const [id, p] of buckets) {
      const [level, start] = id.split(':') as [(typeof bucketLevels)[number], string];
      state.setBucket(level, Number(start), p);
    }
    // a history's cut moves forward with a later run
    if (meta !== undefined && bounds.history && bounds.cut !== undefined && meta.cut !== bounds.cut)
      meta = { ...meta, cut: bounds.cut };
    if (meta !== undefined) {
      meta = this.fold(state, meta);
      if (
        metaBefore === undefined ||
        meta.watermark !== metaBefore.watermark ||
        meta.through !== metaBefore.through ||
        meta.start !== metaBefore.start ||
        meta.cut !== metaBefore.cut ||
        bounds.history
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
    bounds: AddBounds,
  ): EventOutcome {
    const { latenessMs } = this.spec;
    const minute = floorTo(e.t, MINUTE);
    const raw = rawChanged.get(minute) ?? state.rawMinute(minute);
    if (raw?.some((x) => x.t === e.t && x.id === e.id)) return { duplicate: true };
    if (bounds.historyCut !== undefined && e.t < bounds.historyCut) {
      return {
        late: `event time ${iso(e.t)} is before the key's live start (${iso(bounds.historyCut)}): the events before it are its history, counted by \`ferry events backfill\` from the warehouse`,
      };
    }
    if (bounds.cut !== undefined && e.t >= bounds.cut) {
      return {
        skipped: Number.isFinite(bounds.cut)
          ? `at or after the key's live start (${iso(bounds.cut)}): the live events count it`
          : "the key's live state is older than the live starts Ferry records: the live events count it",
      };
    }
    if (bounds.history && meta !== undefined) {
      if (e.t < meta.watermark || (e.t === meta.watermark && meta.atWatermark?.includes(e.id)))
        return {
          skipped: `not after the key's backfilled history (${iso(meta.watermark)}): counted by an earlier backfill, or out of the table's order`,
        };
      return { accepted: true };
    }
    if (meta !== undefined && e.t < meta.watermark - latenessMs) {
      return {
        late: `event time ${iso(e.t)} is more than the allowed lateness (${latenessMs} ms) before the key's newest event (${iso(meta.watermark)})`,
      };
    }
    return { accepted: true };
  }

  /**
   * Builds a key's raw minutes and partials from its events (time order), as loaded, not changed:
   * a store that keeps a small key's state as its events (the Cassandra store, inside the key's
   * meta row) hands them to the engine so.
   */
  loadEvents(state: MemoryAggregationState, events: readonly AggregateEvent[]): void {
    for (const e of events) {
      const minute = floorTo(e.t, MINUTE);
      const list = state.raw.get(minute);
      if (list === undefined) state.raw.set(minute, [e]);
      else (list as AggregateEvent[]).push(e);
      for (const level of bucketLevels) {
        const start = floorTo(e.t, bucketSize[level]);
        let p = state.buckets[level].get(start);
        if (p === undefined) {
          p = emptyPartial();
          state.buckets[level].set(start, p);
        }
        addEvent(p, e, this.needs);
      }
    }
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
    for (const f of this.spec.fields) out.set(f.name, this.planOf(this.liveRange(f.window, meta, t), t));
    return out;
  }

  /**
   * The pieces of a key's history state (a backfill's, before its `cut`) a read at `t` needs: the
   * same ranges as `plan`, ending at the cut, and none for a window the history's newest event is
   * older than.
   */
  planHistory(history: KeyMeta | undefined, t: number): Map<string, PlanPiece[]> {
    const out = new Map<string, PlanPiece[]>();
    for (const f of this.spec.fields)
      out.set(f.name, history === undefined ? [] : this.planOf(this.historyRange(f.window, history, t), t));
    return out;
  }

  /**
   * Merges what a window's range covers in a state: of a state held as its events whole, the
   * events in the range; otherwise the pieces of its plan.
   */
  private mergeRange(
    state: AggregationStateAccess,
    held: { events: FlatEvents; columns: HeldColumns } | undefined,
    into: PartialAggregate,
    range: WindowRange | undefined,
    t: number,
  ): void {
    if (range === undefined) return;
    if (held !== undefined) {
      const covered = rangeCovered(range);
      if (covered !== undefined) addFlatRange(into, held.events, held.columns, covered.from, covered.to);
      return;
    }
    for (const piece of this.planOf(range, t)) {
      if (piece.level === 'raw') {
        for (const e of state.rawRange(piece.from, piece.to)) addEvent(into, e, this.needs);
      } else {
        for (const [, p] of state.bucketRange(piece.level, piece.from, piece.to))
          mergeInto(into, p, this.needs);
      }
    }
  }

  /** A state's events held whole, with where the inputs are in them (undefined: a state of pieces). */
  private heldOf(state: AggregationStateAccess): { events: FlatEvents; columns: HeldColumns } | undefined {
    const events = state.heldEvents?.();
    return events === undefined ? undefined : { events, columns: this.columnsOf(events).columns };
  }

  /** Where the inputs are in a key's held events; keys of one feature mostly hold the same inputs, so the last key's serve again. */
  private columnsOf(events: FlatEvents): { columns: HeldColumns; numeric: number[] | undefined } {
    const names = events.names;
    const last = this.lastHeld;
    if (last !== undefined && sameNames(last.names, names)) return last;
    this.lastHeld = {
      names,
      columns: heldColumns(events, this.needs),
      numeric: this.numeric?.columnsOf(events),
    };
    return this.lastHeld;
  }
  private lastHeld:
    | { names: readonly string[]; columns: HeldColumns; numeric: number[] | undefined }
    | undefined;

  /**
   * `readValues` of a key held as its events (and its history, if any, held too) when every field
   * is count, sum, avg, min or max: the same sums in the same order as the partials, in one array.
   */
  private readHeldNumeric(
    numeric: NumericHeldRead,
    meta: KeyMeta | undefined,
    events: FlatEvents,
    t: number,
    historyMeta: KeyMeta | undefined,
    historyEvents: FlatEvents | undefined,
  ): FieldValue[] {
    numeric.clear();
    const columns = this.columnsOf(events).numeric!;
    const historyColumns = historyEvents && this.columnsOf(historyEvents).numeric!;
    for (let i = 0; i < this.windows.length; i++) {
      const w = this.windows[i]!;
      if (w.kind === 'lifetime' && meta !== undefined) numeric.addPartial(i, meta.lifetime);
      const covered = rangeCovered(this.liveRange(w, meta, t));
      if (covered !== undefined) numeric.addEvents(i, events, columns, covered.from, covered.to);
      if (historyMeta === undefined || historyEvents === undefined) continue;
      if (w.kind === 'lifetime') numeric.addPartial(i, historyMeta.lifetime);
      const pastCovered = rangeCovered(this.historyRange(w, historyMeta, t));
      if (pastCovered !== undefined)
        numeric.addEvents(i, historyEvents, historyColumns!, pastCovered.from, pastCovered.to);
    }
    return numeric.values();
  }

  /**
   * Every field's value as of `t` (count, sum and approx_distinct 0, the others null without
   * events), from the key's live state and, when a backfill gave it one, its history state: the
   * two never hold the same event (the history stops where the live state starts).
   */
  read(
    state: AggregationStateAccess,
    t: number,
    history?: AggregationStateAccess,
  ): Record<string, FieldValue> {
    const values = this.readValues(state, t, history);
    const out: Record<string, FieldValue> = {};
    for (const [j, f] of this.spec.fields.entries()) out[f.name] = values[j]!;
    return out;
  }

  /** The same values as `read`, in the order of the spec's fields. */
  readValues(state: AggregationStateAccess, t: number, history?: AggregationStateAccess): FieldValue[] {
    const meta = state.meta();
    const historyMeta = history?.meta();
    if (this.numeric !== undefined) {
      const events = state.heldEvents?.();
      const historyEvents = historyMeta === undefined ? undefined : history?.heldEvents?.();
      if (events !== undefined && (historyMeta === undefined || historyEvents !== undefined))
        return this.readHeldNumeric(this.numeric, meta, events, t, historyMeta, historyEvents);
    }
    const held = this.heldOf(state);
    const historyHeld = history && this.heldOf(history);
    const partials: PartialAggregate[] = new Array(this.windows.length);
    for (let i = 0; i < this.windows.length; i++) {
      const w = this.windows[i]!;
      const p = emptyPartial();
      if (w.kind === 'lifetime' && meta !== undefined) mergeInto(p, meta.lifetime, this.needs);
      this.mergeRange(state, held, p, this.liveRange(w, meta, t), t);
      if (history !== undefined && historyMeta !== undefined) {
        if (w.kind === 'lifetime') mergeInto(p, historyMeta.lifetime, this.needs);
        this.mergeRange(history, historyHeld, p, this.historyRange(w, historyMeta, t), t);
      }
      partials[i] = p;
    }
    const fields = this.spec.fields;
    const values: FieldValue[] = new Array(fields.length);
    for (let j = 0; j < fields.length; j++)
      values[j] = fieldValue(partials[this.windowOfField[j]!]!, fields[j]!);
    return values;
  }

  /**
   * Where the fields named are among the spec's (the order of `readValues`), -1 for another name;
   * the last list asked is kept (a batch asks with one list for all its keys).
   */
  indexesOf(named: readonly { name: string }[]): readonly number[] {
    if (this.lastIndexes?.named !== named) {
      const at = named.map((f) => this.spec.fields.findIndex((x) => x.name === f.name));
      this.lastIndexes = { named, at };
    }
    return this.lastIndexes.at;
  }
  private lastIndexes: { named: readonly { name: string }[]; at: number[] } | undefined;
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
