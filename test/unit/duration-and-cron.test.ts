import { describe, expect, it } from 'vitest';
import { cronProblem } from '../../domain/definitions/cron.ts';
import { formatDuration, parseDuration } from '../../domain/definitions/duration.ts';

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['1m', 60_000],
    ['6h', 21_600_000],
    ['30d', 2_592_000_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2w', 1_209_600_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '1', 'm', '1 m', '1y', '-1s', '1.5h', 'forever'])('"%s" is refused', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
  it('formats back to the largest exact unit', () => {
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(250)).toBe('250ms');
  });
});

describe('cron schedules', () => {
  it.each(['0 * * * *', '*/15 2-4 * * MON-FRI', '30 3 1,15 JAN,JUL *', '@daily', '@hourly', '0 0 * * 7'])(
    '%s is valid',
    (c) => {
      expect(cronProblem(c)).toBeUndefined();
    },
  );
  it.each([
    ['60 * * * *', 'minute "60" is outside 0-59'],
    ['* * 0 * *', 'day of month "0" is outside 1-31'],
    ['* * * 13 *', 'month "13" is outside 1-12'],
    ['* * * * FUNDAY', 'day of week "FUNDAY" is outside 0-7'],
    ['*/0 * * * *', 'bad step in minute "*/0"'],
    ['5-1 * * * *', 'range 5-1 in minute runs backwards'],
    ['@sometimes', 'a cron expression has 5 fields (minute hour day-of-month month day-of-week), got 1'],
  ])('%s: %s', (c, why) => {
    expect(cronProblem(c)).toBe(why);
  });
});
