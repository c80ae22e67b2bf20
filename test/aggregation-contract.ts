import { expect } from 'vitest';
import {
  type AggregateField,
  type AggregateFunction,
  type AggregateWindow,
  DAY,
  HOUR,
  isExactWindow,
  MINUTE,
} from '../domain/aggregations/aggregate-field.ts';
import { exactLimit, sketchStandardError } from '../domain/aggregations/distinct-sketch.ts';
import type { AggregateEvent } from '../domain/aggregations/partial-aggregate.ts';
import { windowCoverage } from '../domain/aggregations/window-plan.ts';
import type { FieldValue } from '../domain/values/coerce-value.ts';

// The contract of the aggregations (issue 18), computed the slow way over the raw events: what the
// engine test and the online store conformance suite compare the engine's answers with.

export function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const windows: [string, AggregateWindow][] = [
  ['1m', { kind: 'sliding', ms: MINUTE }],
  ['10m', { kind: 'sliding', ms: 10 * MINUTE }],
  ['1h', { kind: 'sliding', ms: HOUR }],
  ['30d', { kind: 'sliding', ms: 30 * DAY }],
  ['life', { kind: 'lifetime' }],
];

export const fieldsOf = (fns: [AggregateFunction, string | undefined, number?][]): AggregateField[] =>
  windows.flatMap(([w, window]) =>
    fns.map(([fn, of, n]) => ({
      name: `${fn}_${of ?? 'all'}_${w}`,
      fn,
      ...(of ? { of } : {}),
      window,
      ...(n ? { n } : {}),
    })),
  );

export const allFields = fieldsOf([
  ['count', undefined],
  ['sum', 'duration'],
  ['avg', 'duration'],
  ['min', 'duration'],
  ['max', 'duration'],
  ['sum', 'ratio'],
  ['last', 'country'],
  ['approx_distinct', 'peer'],
  ['last_distinct', 'country', 3],
]);

/** What a field should be over exactly these events (the contract, computed the slow way). */
export function bruteForce(f: AggregateField, events: readonly AggregateEvent[]): FieldValue {
  const vals = (name: string) =>
    events.filter((e) => e.values[name] !== null && e.values[name] !== undefined);
  const nums = f.of ? vals(f.of).map((e) => e.values[f.of!] as number) : [];
  const newestFirst = (list: AggregateEvent[]) =>
    [...list].sort((a, b) => b.t - a.t || (b.id > a.id ? 1 : b.id < a.id ? -1 : 0));
  switch (f.fn) {
    case 'count':
      return events.length;
    case 'sum':
      return nums.reduce((s, x) => s + x, 0);
    case 'avg':
      return nums.length ? nums.reduce((s, x) => s + x, 0) / nums.length : null;
    case 'min':
      return nums.length ? Math.min(...nums) : null;
    case 'max':
      return nums.length ? Math.max(...nums) : null;
    case 'last':
      return newestFirst(vals(f.of!))[0]?.values[f.of!] ?? null;
    case 'approx_distinct':
      return new Set(vals(f.of!).map((e) => e.values[f.of!])).size;
    case 'last_distinct': {
      const out: FieldValue[] = [];
      for (const e of newestFirst(vals(f.of!))) {
        const v = e.values[f.of!]!;
        if (!out.includes(v)) out.push(v);
        if (out.length === (f.n ?? 10)) break;
      }
      return out as FieldValue;
    }
  }
}

/** The events a field's window covers at `t`, as the contract says (long windows: old end to the minute). */
export function inWindow(f: AggregateField, events: readonly AggregateEvent[], t: number): AggregateEvent[] {
  if (f.window.kind === 'lifetime') return events.filter((e) => e.t <= t);
  const { lo, hi } = windowCoverage(t, f.window.ms, isExactWindow(f.window));
  return events.filter((e) => e.t >= lo && e.t < hi);
}

export function expectField(f: AggregateField, got: FieldValue, want: FieldValue, where: string): void {
  if (f.fn === 'approx_distinct' && typeof want === 'number' && want > exactLimit) {
    // 3 standard errors
    expect(Math.abs((got as number) - want), where).toBeLessThanOrEqual(
      Math.ceil(3 * sketchStandardError * want),
    );
  } else if (typeof want === 'number' && typeof got === 'number' && !Number.isInteger(want)) {
    // floating-point sums in another order: equal to 1e-12 of the value
    expect(Math.abs(got - want), where).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
  } else {
    expect(got, where).toEqual(want);
  }
}

export interface Scenario {
  name: string;
  events: number;
  spanMs: number;
  reads: number;
  seed: number;
  /** Events given to `add` together (a consumer's batch); 1 by default. */
  batch?: number;
}

/** What the simulation drives: the engine in memory, or an online store. */
export interface AggregationUnderTest {
  /** The lateness and raw horizon of the spec under test. */
  latenessMs: number;
  rawHorizonMs: number;
  add(events: AggregateEvent[], nowMs: number): Promise<EventOutcomeLike[]> | EventOutcomeLike[];
  read(t: number): Promise<Record<string, FieldValue>> | Record<string, FieldValue>;
  /** Called now and then with the clock (state expiry). */
  tick?(nowMs: number): void;
}

type EventOutcomeLike = { accepted: true } | { duplicate: true } | { late: string } | { skipped: string };

/**
 * Events arrive in time order of a simulated clock; each has an event time a little (sometimes an hour
 * or two) before its arrival, some exactly on minute, hour and day edges, some delivered twice. Reads
 * happen at arbitrary moments between arrivals. Every outcome and every read is checked against the
 * contract; returns the counts (and throws at the first mismatches).
 */
export async function runScenario(s: Scenario, under: AggregationUnderTest, fields = allFields) {
  const rnd = mulberry32(s.seed);
  const { latenessMs } = under;
  const accepted: AggregateEvent[] = [];
  const seen = new Set<string>();
  const delivered: AggregateEvent[] = [];
  let watermark = Number.NEGATIVE_INFINITY;
  let now = Date.parse('2024-01-01T00:00:00Z');
  const step = s.spanMs / s.events;
  const readEvery = Math.max(1, Math.floor(s.events / s.reads));
  let mismatches = 0;
  let late = 0;
  let duplicates = 0;
  const countries = ['KR', 'JP', 'US', 'DE', 'BR', 'IN'];
  const batch: AggregateEvent[] = [];
  const batchSize = s.batch ?? 1;
  for (let i = 0; i < s.events; i++) {
    now += Math.floor(rnd() * 2 * step);
    let e: AggregateEvent;
    if (rnd() < 0.03 && delivered.length > 0) {
      // the same event again (a redelivery): one of those delivered in about the last hour
      const recent = Math.max(1, Math.min(50, Math.floor(HOUR / step), delivered.length));
      e = delivered[delivered.length - 1 - Math.floor(rnd() * recent)]!;
    } else {
      let t = now - Math.floor(rnd() < 0.9 ? rnd() * 30_000 : rnd() * 2 * HOUR);
      const edge = rnd();
      if (edge < 0.05) t = Math.floor(t / MINUTE) * MINUTE;
      else if (edge < 0.07) t = Math.floor(t / HOUR) * HOUR;
      else if (edge < 0.08) t = Math.floor(t / DAY) * DAY - (rnd() < 0.5 ? 1 : 0);
      e = {
        t,
        id: `e${i}`,
        values: {
          duration: rnd() < 0.05 ? null : Math.floor(rnd() * 600),
          ratio: Math.round(rnd() * 1e6) / 1e3,
          peer: Math.floor(rnd() * (s.events > 1000 ? 5_000 : 40)),
          country: rnd() < 0.02 ? null : countries[Math.floor(rnd() * countries.length)]!,
        },
      };
    }
    delivered.push(e);
    batch.push(e);
    const last = i === s.events - 1;
    const readNow = i % readEvery === 0 || last;
    if (batch.length < batchSize && !readNow) continue;
    const outcomes = await under.add(batch.splice(0), now);
    const given = delivered.slice(delivered.length - outcomes.length);
    given.forEach((g, j) => {
      const outcome = outcomes[j];
      // the contract: once per (time, id) (redeliveries here come within the raw horizon); late
      // when older than the key's newest event − lateness
      const id = `${g.t}/${g.id}`;
      if (seen.has(id)) {
        expect(outcome).toEqual({ duplicate: true });
        duplicates++;
      } else if (g.t < watermark - latenessMs) {
        expect(outcome).toHaveProperty('late');
        late++;
      } else {
        expect(outcome).toEqual({ accepted: true });
        seen.add(id);
        accepted.push(g);
        watermark = Math.max(watermark, g.t);
      }
    });
    if (i % 97 === 0) under.tick?.(now);
    if (readNow) {
      // a read at an arbitrary moment after this arrival
      const t = now + Math.floor(rnd() * step);
      const got = await under.read(t);
      const covered = new Map<AggregateWindow, AggregateEvent[]>();
      for (const f of fields) {
        let events = covered.get(f.window);
        if (events === undefined) {
          events = inWindow(f, accepted, t);
          covered.set(f.window, events);
        }
        const want = bruteForce(f, events);
        try {
          expectField(f, got[f.name]!, want, `${f.name} at ${new Date(t).toISOString()}`);
        } catch (err) {
          mismatches++;
          if (mismatches < 5) throw err;
        }
      }
    }
  }
  return { mismatches, late, duplicates, accepted: accepted.length };
}
