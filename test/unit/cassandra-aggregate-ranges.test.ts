import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import { planRange, planWindow } from '../../domain/aggregations/window-plan.ts';
import { mergeRanges, namePieces, notWithin } from '../../stores/online/cassandra-aggregates.ts';

describe('the ranges a Cassandra aggregation read asks for', () => {
  const t = Date.parse('2024-03-10T17:23:45.678Z');
  const sliding = mergeRanges([
    ...planWindow(t, 10 * MINUTE, true),
    ...planWindow(t, HOUR, true),
    ...planWindow(t, 30 * DAY, false),
  ]);

  it('a lifetime folded up to a day of the last 30 needs nothing the 30-day window did not read', () => {
    for (const through of [Date.parse('2024-03-10T00:00:00Z'), Date.parse('2024-02-20T00:00:00Z')])
      expect(notWithin(planRange(through, t + 1, true), sliding)).toEqual([]);
  });

  it('a lifetime folded longer ago than the window reads its older days', () => {
    const through = Date.parse('2024-01-01T00:00:00Z');
    const missing = notWithin(planRange(through, t + 1, true), sliding);
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.every((p) => p.level === 'day')).toBe(true);
  });
});

describe('the pieces a Cassandra aggregation read names', () => {
  const t = Date.parse('2024-03-10T17:23:45.678Z');
  const code = { meta: 0, raw: 1, minute: 2, hour: 3, day: 4 };

  it('names every piece of the sliding windows (one select per key), each once', () => {
    const pieces = [
      ...planWindow(t, 10 * MINUTE, true),
      ...planWindow(t, HOUR, true),
      ...planWindow(t, 30 * DAY, false),
    ];
    const { names, slices } = namePieces(pieces, code);
    expect(slices).toEqual([]);
    expect(new Set(names.map((n) => n.join())).size).toBe(names.length);
    // every bucket start a plan covers is named, at its level's code
    for (const r of mergeRanges(pieces)) {
      const size =
        r.level === 'raw' ? MINUTE : r.level === 'minute' ? MINUTE : r.level === 'hour' ? HOUR : DAY;
      for (let s = Math.floor(r.from / size) * size; s < r.to; s += size)
        expect(names).toContainEqual([code[r.level], s]);
    }
    // bounded: the ragged minutes and hours at both ends, the days between
    expect(names.length).toBeLessThan(220);
  });

  it('reads a long range (a lifetime folded months ago) as a slice, not by name', () => {
    const { names, slices } = namePieces(planRange(Date.parse('2023-01-01T00:00:00Z'), t + 1, true), code);
    expect(slices).toEqual([
      { level: 'day', from: Date.parse('2023-01-01T00:00:00Z'), to: Date.parse('2024-03-10T00:00:00Z') },
    ]);
    expect(names.every(([level]) => level !== code.day)).toBe(true);
  });
});
