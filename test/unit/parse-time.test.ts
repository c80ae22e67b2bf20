import { describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/parse-options.ts';
import { parseTime } from '../../cli/workflow-cli.ts';

describe('parseTime (--from and --to of backfill, events backfill, replay)', () => {
  it('reads dates, ISO times, epoch milliseconds and now (to the second)', () => {
    expect(parseTime('--from', '2024-03-01')).toBe(Date.UTC(2024, 2, 1));
    expect(parseTime('--from', '2024-03-01T05:00:00Z')).toBe(Date.UTC(2024, 2, 1, 5));
    expect(parseTime('--to', '1700000000123')).toBe(1_700_000_000_123);
    expect(parseTime('--to', 'now', 1_700_000_000_999)).toBe(1_700_000_000_000);
    expect(parseTime('--to', undefined)).toBeUndefined();
  });

  it('refuses anything else, naming the option', () => {
    for (const bad of ['yesterday', 'NOW', '03/01/2024', '2024-13-45', ''])
      expect(() => parseTime('--to', bad)).toThrow(UsageError);
    expect(() => parseTime('--from', 'soon')).toThrow(
      /--from must be a date, an ISO-8601 time, epoch milliseconds or now, got "soon"/,
    );
  });
});
