/** The functions an aggregation field may apply to the events of its window. */
export const aggregateFunctions = [
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'last',
  'approx_distinct',
  'last_distinct',
] as const;
export type AggregateFunction = (typeof aggregateFunctions)[number];

/** Functions that read a numeric input. */
export const numericFunctions: ReadonlySet<AggregateFunction> = new Set(['sum', 'avg', 'min', 'max']);

/** A window: a length in milliseconds, or every event ever. */
export type AggregateWindow = { kind: 'sliding'; ms: number } | { kind: 'lifetime' };

/** One aggregation field of a feature: `function` of input `of` (none for count) over `window`. */
export interface AggregateField {
  name: string;
  fn: AggregateFunction;
  /** The input field (an event value the rules or commands set); absent for count. */
  of?: string;
  window: AggregateWindow;
  /** last_distinct: how many values (newest first). */
  n?: number;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Windows up to this long are exact to the millisecond; longer ones round their old edge to a minute. */
export const exactWindowLimitMs = DAY;

/** The longest sliding window Ferry keeps. */
export const maxWindowMs = 400 * DAY;

export function isExactWindow(w: AggregateWindow): boolean {
  return w.kind === 'sliding' && w.ms <= exactWindowLimitMs;
}

/**
 * The settings of a feature's aggregation: its fields and how long each kind of state is kept.
 * `lateness`: an event older than the key's newest event by more than this is late (a dead letter).
 * `rawHorizonMs`: raw events are kept this long after their event time and after they were
 * written (exact edges, and the deduplication of an event delivered again within it).
 */
export interface AggregationSpec {
  fields: readonly AggregateField[];
  latenessMs: number;
  rawHorizonMs: number;
  /** Minute, hour and day partials are kept this long after their bucket ends (the longest window). */
  bucketRetentionMs: number;
  /** Whether some field is a lifetime aggregate (a cumulative partial is kept). */
  lifetime: boolean;
  /**
   * Whether the feature's history comes from a backfill of the warehouse's events: each key's live
   * state then starts at a time (its first live event, or where the backfill stopped) and the
   * backfill keeps the events before it apart (`AggregationEngine.addHistory`).
   */
  history: boolean;
}

/** The spec of a set of fields: the horizons follow from the windows and the lateness. */
export function aggregationSpec(
  fields: readonly AggregateField[],
  latenessMs: number,
  history = false,
): AggregationSpec {
  let exact = 0;
  let longest = 0;
  for (const f of fields) {
    if (f.window.kind !== 'sliding') continue;
    longest = Math.max(longest, f.window.ms);
    if (isExactWindow(f.window)) exact = Math.max(exact, f.window.ms);
  }
  const roundUp = (ms: number) => Math.ceil(ms / MINUTE) * MINUTE;
  return {
    fields,
    latenessMs,
    // at least an hour of raw events for deduplication, and never less than the lateness
    rawHorizonMs: roundUp(Math.max(exact, HOUR) + latenessMs + MINUTE),
    bucketRetentionMs: roundUp(longest + latenessMs + DAY),
    lifetime: fields.some((f) => f.window.kind === 'lifetime'),
    history,
  };
}

/** The inputs the fields read, with what each needs kept. */
export interface InputNeeds {
  numeric: boolean;
  last: boolean;
  distinct: boolean;
  /** last_distinct: the largest n asked. */
  recent: number;
}

export function inputNeeds(fields: readonly AggregateField[]): Map<string, InputNeeds> {
  const out = new Map<string, InputNeeds>();
  for (const f of fields) {
    if (f.of === undefined) continue;
    const need = out.get(f.of) ?? { numeric: false, last: false, distinct: false, recent: 0 };
    if (numericFunctions.has(f.fn)) need.numeric = true;
    if (f.fn === 'last') need.last = true;
    if (f.fn === 'approx_distinct') need.distinct = true;
    if (f.fn === 'last_distinct') need.recent = Math.max(need.recent, f.n ?? 10);
    out.set(f.of, need);
  }
  return out;
}
