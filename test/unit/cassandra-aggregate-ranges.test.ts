import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import { planRange, planWindow } from '../../domain/aggregations/window-plan.ts';
import { mergeRanges, notWithin } from '../../stores/online/cassandra-aggregates.ts';

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
