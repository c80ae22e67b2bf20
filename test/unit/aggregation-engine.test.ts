import { describe, expect, it } from 'vitest';
import {
  type AggregateField,
  type AggregateFunction,
  type AggregateWindow,
  aggregationSpec,
  DAY,
  HOUR,
  isExactWindow,
  MINUTE,
} from '../../domain/aggregations/aggregate-field.ts';
import { exactLimit, sketchStandardError } from '../../domain/aggregations/distinct-sketch.ts';
import { KeyAggregation } from '../../domain/aggregations/key-aggregation.ts';
import type { AggregateEvent } from '../../domain/aggregations/partial-aggregate.ts';
import { planWindow, windowCoverage } from '../../domain/aggregations/window-plan.ts';
import type { FieldValue } from '../../domain/values/coerce-value.ts';

// The aggregation engine (issue 18) against a brute-force computation over the raw events: every
// function, windows of 1 minute, 10 minutes, 1 hour, 30 days and lifetime; out-of-order, late and
// repeated events, events exactly on bucket and window edges, reads at arbitrary times.

const at = (hhmm: string) => Date.parse(`2024-03-10T${hhmm}:00Z`);

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const windows: [string, AggregateWindow][] = [
  ['1m', { kind: 'sliding', ms: MINUTE }],
  ['10m', { kind: 'sliding', ms: 10 * MINUTE }],
  ['1h', { kind: 'sliding', ms: HOUR }],
  ['30d', { kind: 'sliding', ms: 30 * DAY }],
  ['life', { kind: 'lifetime' }],
];

const fieldsOf = (fns: [AggregateFunction, string | undefined, number?][]): AggregateField[] =>
  windows.flatMap(([w, window]) =>
    fns.map(([fn, of, n]) => ({
      name: `${fn}_${of ?? 'all'}_${w}`,
      fn,
      ...(of ? { of } : {}),
      window,
      ...(n ? { n } : {}),
    })),
  );

const allFields = fieldsOf([
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
function bruteForce(f: AggregateField, events: readonly AggregateEvent[]): FieldValue {
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
function inWindow(f: AggregateField, events: readonly AggregateEvent[], t: number): AggregateEvent[] {
  if (f.window.kind === 'lifetime') return events.filter((e) => e.t <= t);
  const { lo, hi } = windowCoverage(t, f.window.ms, isExactWindow(f.window));
  return events.filter((e) => e.t >= lo && e.t < hi);
}

function expectField(f: AggregateField, got: FieldValue, want: FieldValue, where: string): void {
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

describe('the seed’s scenario table: a 10-minute window read when each message arrives', () => {
  const times = ['17:00', '17:02', '17:04', '17:06', '17:08', '17:10', '17:12'].map(at);
  const tenMinutes = 10 * MINUTE;

  it('Ferry answers the “what we want” column; a tumbling window and a hopping window do not', () => {
    const count: AggregateField = {
      name: 'count_10m',
      fn: 'count',
      window: { kind: 'sliding', ms: tenMinutes },
    };
    const key = new KeyAggregation(aggregationSpec([count], HOUR));
    const ferry: number[] = [];
    times.forEach((t, i) => {
      expect(key.add([{ t, id: `m${i}`, values: {} }], t)).toEqual([{ accepted: true }]);
      ferry.push(key.read(t).count_10m as number);
    });
    expect(ferry).toEqual([1, 2, 3, 4, 5, 5, 5]);

    // ksqlDB's tumbling window (10 minutes): the count of the window the message falls in
    const tumbling = times.map(
      (t) => times.filter((x) => x <= t && Math.floor(x / tenMinutes) === Math.floor(t / tenMinutes)).length,
    );
    expect(tumbling).toEqual([1, 2, 3, 4, 5, 1, 2]);
    // hopping (SIZE 10 MINUTES, ADVANCE BY 1 MINUTE) with EMIT FINAL: at t the newest window that has
    // closed, [floor(t) − 10 min, floor(t)): a message shows only a hop later
    const hopping = times.map((t) => {
      const end = Math.floor(t / MINUTE) * MINUTE;
      return times.filter((x) => x >= end - tenMinutes && x < end).length;
    });
    expect(hopping).toEqual([0, 1, 2, 3, 4, 5, 5]);
    expect(ferry).not.toEqual(tumbling);
    expect(ferry).not.toEqual(hopping);
    // and between messages, at the millisecond the first one leaves the window
    expect(key.read(at('17:10') + 0).count_10m).toBe(5);
    expect(key.read(at('17:12') - 1).count_10m).toBe(5);
    expect(key.read(at('17:14') - 1).count_10m).toBe(5);
    expect(key.read(at('17:14')).count_10m).toBe(4);
    expect(key.read(at('17:22')).count_10m).toBe(0);
  });
});

describe('window plans', () => {
  it('a 30-day window reads about 200 buckets, never thousands; the pieces cover it exactly once', () => {
    const rnd = mulberry32(7);
    for (let i = 0; i < 2_000; i++) {
      const t = Math.floor(Date.parse('2024-01-01') + rnd() * 400 * DAY);
      for (const [ms, exact] of [
        [30 * DAY, false],
        [HOUR, true],
        [10 * MINUTE, true],
        [MINUTE, true],
        [DAY, true],
      ] as const) {
        const pieces = planWindow(t, ms, exact);
        const { lo, hi } = windowCoverage(t, ms, exact);
        // contiguous, in order, from lo to hi
        expect(pieces[0]!.from).toBe(lo);
        expect(pieces[pieces.length - 1]!.to).toBe(hi);
        for (let p = 1; p < pieces.length; p++) expect(pieces[p]!.from).toBe(pieces[p - 1]!.to);
        const buckets = pieces.reduce(
          (n, p) =>
            n + (p.level === 'raw' ? 0 : (p.to - p.from) / { minute: MINUTE, hour: HOUR, day: DAY }[p.level]),
          0,
        );
        expect(buckets).toBeLessThanOrEqual(59 + 23 + 30 + 23 + 59);
        // raw events only at the ragged ends, each within one minute
        for (const p of pieces.filter((x) => x.level === 'raw'))
          expect(p.to - p.from).toBeLessThanOrEqual(MINUTE);
        if (!exact) expect(lo).toBeGreaterThan(t - ms - MINUTE);
      }
    }
  });
});

interface Scenario {
  name: string;
  events: number;
  spanMs: number;
  reads: number;
  seed: number;
}

/**
 * Events arrive in time order of a simulated clock; each has an event time a little (sometimes an hour
 * or two) before its arrival, some exactly on minute, hour and day edges, some delivered twice. Reads
 * happen at arbitrary moments between arrivals; state expires as the clock moves.
 */
function runScenario(s: Scenario) {
  const rnd = mulberry32(s.seed);
  const lateness = HOUR;
  const spec = aggregationSpec(allFields, lateness);
  const key = new KeyAggregation(spec);
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
  for (let i = 0; i < s.events; i++) {
    now += Math.floor(rnd() * 2 * step);
    let e: AggregateEvent;
    const r = rnd();
    if (r < 0.03 && delivered.length > 0) {
      // the same event again (a redelivery), usually recent
      e = delivered[delivered.length - 1 - Math.floor(rnd() * Math.min(50, delivered.length))]!;
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
    const [outcome] = key.add([e], now);
    // the contract: once per (time, id); late when older than the key's newest event − lateness,
    // or than the raw horizon
    const id = `${e.t}/${e.id}`;
    if (e.t < now - spec.rawHorizonMs) {
      expect(outcome).toHaveProperty('late');
      late++;
    } else if (seen.has(id)) {
      expect(outcome).toEqual({ duplicate: true });
      duplicates++;
    } else if (e.t <= watermark - lateness) {
      expect(outcome).toHaveProperty('late');
      late++;
    } else {
      expect(outcome).toEqual({ accepted: true });
      seen.add(id);
      accepted.push(e);
      watermark = Math.max(watermark, e.t);
    }
    if (i % 97 === 0) key.expire(now);
    if (i % readEvery === 0 || i === s.events - 1) {
      // a read at an arbitrary moment after this arrival
      const t = now + Math.floor(rnd() * step);
      const got = key.read(t);
      const covered = new Map<AggregateWindow, AggregateEvent[]>();
      for (const f of allFields) {
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

describe('randomised comparison with a brute force over the raw events', () => {
  it.each<Scenario>([
    { name: 'a key with one event', events: 1, spanMs: MINUTE, reads: 1, seed: 1 },
    { name: 'a key with a hundred events over an hour', events: 100, spanMs: HOUR, reads: 100, seed: 2 },
    { name: 'two thousand events over 45 days', events: 2_000, spanMs: 45 * DAY, reads: 400, seed: 3 },
    { name: 'ten thousand events over two days', events: 10_000, spanMs: 2 * DAY, reads: 300, seed: 4 },
    {
      name: 'a hundred thousand events over 40 days',
      events: 100_000,
      spanMs: 40 * DAY,
      reads: 120,
      seed: 5,
    },
  ])(
    '$name: zero mismatches',
    (s) => {
      const r = runScenario(s);
      expect(r.mismatches).toBe(0);
      if (s.events >= 2_000) {
        // the scenario did exercise the hard cases
        expect(r.late).toBeGreaterThan(0);
        expect(r.duplicates).toBeGreaterThan(0);
      }
    },
    120_000,
  );
});
