import { describe, expect, it } from 'vitest';
import {
  type AggregateField,
  aggregationSpec,
  DAY,
  HOUR,
  MINUTE,
} from '../../domain/aggregations/aggregate-field.ts';
import { MemoryAggregationState } from '../../domain/aggregations/aggregation-state.ts';
import { AggregationEngine, KeyAggregation } from '../../domain/aggregations/key-aggregation.ts';
import { planWindow, windowCoverage } from '../../domain/aggregations/window-plan.ts';
import { allFields, mulberry32, runScenario, type Scenario } from '../aggregation-contract.ts';

// The aggregation engine (issue 18) against a brute-force computation over the raw events: every
// function, windows of 1 minute, 10 minutes, 1 hour, 30 days and lifetime; out-of-order, late and
// repeated events, events exactly on bucket and window edges, reads at arbitrary times.

const at = (hhmm: string) => Date.parse(`2024-03-10T${hhmm}:00Z`);

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
      expect(key.add([{ t, id: `m${i}`, values: {} }])).toEqual([{ accepted: true }]);
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

describe('randomised comparison with a brute force over the raw events', () => {
  it.each<Scenario>([
    { name: 'a key with one event', events: 1, spanMs: MINUTE, reads: 1, seed: 1 },
    { name: 'a key with a hundred events over an hour', events: 100, spanMs: HOUR, reads: 100, seed: 2 },
    { name: 'two thousand events over 45 days', events: 2_000, spanMs: 45 * DAY, reads: 400, seed: 3 },
    {
      name: 'ten thousand events over two days, in batches of 50',
      events: 10_000,
      spanMs: 2 * DAY,
      reads: 300,
      seed: 4,
      batch: 50,
    },
    {
      name: 'a hundred thousand events over 40 days',
      events: 100_000,
      spanMs: 40 * DAY,
      reads: 120,
      seed: 5,
    },
  ])(
    '$name: zero mismatches',
    async (s) => {
      const spec = aggregationSpec(allFields, HOUR);
      const key = new KeyAggregation(spec);
      const r = await runScenario(s, {
        latenessMs: spec.latenessMs,
        rawHorizonMs: spec.rawHorizonMs,
        add: (events) => key.add(events),
        read: (t) => key.read(t),
        tick: (now) => key.expire(now),
      });
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

describe('history from a backfill beside the live state', () => {
  const count: AggregateField = { name: 'count_life', fn: 'count', window: { kind: 'lifetime' } };
  const t0 = at('12:00');
  const withHistory = new AggregationEngine(aggregationSpec([count], HOUR, true));

  it('a backfill configured after the live state began stops at its oldest live event', () => {
    const live = new MemoryAggregationState();
    const history = new MemoryAggregationState();
    // live without a backfill: the start records the oldest live event, a late one too
    const before = new AggregationEngine(aggregationSpec([count], HOUR));
    before.add(live, [{ t: t0, id: 'a', values: {} }]);
    before.add(live, [{ t: t0 - 5 * MINUTE, id: 'b', values: {} }]);
    expect(live.meta()!.start).toBe(t0 - 5 * MINUTE);
    // then a backfill is configured: the warehouse's events before that start are the history's
    const warehouse = [
      { t: t0 - 2 * DAY, id: 'old', values: {} },
      { t: t0 - 6 * MINUTE, id: 'c', values: {} },
      { t: t0 - 5 * MINUTE, id: 'b', values: {} },
      { t: t0, id: 'a', values: {} },
    ];
    expect(
      withHistory.addHistory(history, live.meta(), warehouse, t0 + DAY).map((o) => Object.keys(o)[0]),
    ).toEqual(['accepted', 'accepted', 'skipped', 'skipped']);
    expect(withHistory.read(live, t0 + MINUTE, history)).toEqual({ count_life: 4 });
    // and from now on a live event before the start is late, naming the backfill
    expect(withHistory.add(live, [{ t: t0 - 7 * MINUTE, id: 'd', values: {} }], history.meta())[0]).toEqual({
      late: expect.stringContaining('ferry events backfill'),
    });
  });

  it('a live meta kept before live starts were recorded gets no history: its events are not counted twice', () => {
    const live = new MemoryAggregationState();
    live.setMeta({ ...live.meta(), watermark: t0, through: t0 - DAY, lifetime: { count: 3 } as never });
    withHistory.add(live, [{ t: t0 + MINUTE, id: 'x', values: {} }]);
    expect(live.meta()!.start).toBeUndefined();
    const history = new MemoryAggregationState();
    const got = withHistory.addHistory(
      history,
      live.meta(),
      [{ t: t0 - HOUR, id: 'y', values: {} }],
      t0 + DAY,
    );
    expect(got).toEqual([{ skipped: expect.stringContaining('live') }]);
    expect(history.meta()).toBeUndefined();
  });

  it('a later run continues the history forward; a rerun counts nothing, even after the raw events expired', () => {
    const history = new MemoryAggregationState();
    const rows = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ t: from + i * HOUR, id: `r${from + i * HOUR}`, values: {} }));
    const first = rows(t0 - 3 * DAY, 24);
    const second = rows(t0 - 2 * DAY, 24);
    // no live state: the first run's cut is its end; the second run moves it on
    expect(
      withHistory
        .addHistory(history, undefined, [...first, ...second], t0 - 2 * DAY)
        .filter((o) => 'accepted' in o),
    ).toHaveLength(24);
    expect(
      withHistory.addHistory(history, undefined, second, t0 - DAY).filter((o) => 'accepted' in o),
    ).toHaveLength(24);
    expect(history.meta()!.cut).toBe(t0 - DAY);
    // raw events gone (the store's TTL), then the same rows again: all skipped
    history.expire(t0 + 30 * DAY, HOUR, 40 * DAY, Number.NEGATIVE_INFINITY);
    expect(history.raw.size).toBe(0);
    const again = withHistory.addHistory(history, undefined, [...first, ...second], t0 - DAY);
    expect(again.some((o) => 'accepted' in o)).toBe(false);
    expect(withHistory.read(new MemoryAggregationState(), t0, history)).toEqual({ count_life: 48 });
  });
});
