import { describe, expect, it } from 'vitest';
import { afterCursor, deadLettersQuery, type SqlDialect } from '../../stores/offline/offline-sql.ts';

const duck: SqlDialect = { quote: (n) => `"${n}"`, param: (n) => `$${n}` };
const bq: SqlDialect = { quote: (n) => `\`${n}\``, param: (n) => `@${n}` };

describe('the SQL both offline stores share (stores/offline/offline-sql.ts)', () => {
  it('resumes after a cursor: watermark, then each tie-breaker in turn, in each dialect', () => {
    const ties = [
      { name: 'user_id', text: false },
      { name: 'nick', text: true },
    ];
    const after = { watermark: 1700, tie: [42, 'bo'] as (number | string)[] };
    expect(afterCursor(duck, '"wm"', ties, after)).toEqual({
      sql: '"wm" > $w OR ("wm" = $w AND ("user_id" > $t0 OR ("user_id" = $t0 AND ("nick" > $t1))))',
      params: {
        w: { type: 'int64', value: 1700n },
        t0: { type: 'int64', value: 42n },
        t1: { type: 'string', value: 'bo' },
      },
    });
    expect(afterCursor(bq, 'UNIX_MILLIS(`ts`)', ties, after).sql).toBe(
      'UNIX_MILLIS(`ts`) > @w OR (UNIX_MILLIS(`ts`) = @w AND (`user_id` > @t0 OR (`user_id` = @t0 AND (`nick` > @t1))))',
    );
    expect(afterCursor(duck, '"wm"', ties, { watermark: 5 })).toEqual({
      sql: '"wm" > $w',
      params: { w: { type: 'int64', value: 5n } },
    });
  });

  it('reads dead letters of a feature in a time range, oldest first', () => {
    expect(deadLettersQuery(bq, '`d`.`_dead_letters`', 'a::b', { fromMs: 1, toMs: 2, limit: 10 })).toEqual({
      sql: 'SELECT id, feature, origin, reason, payload, occurred_at FROM `d`.`_dead_letters` WHERE feature = @f AND occurred_at >= @from AND occurred_at < @to ORDER BY occurred_at, id LIMIT 10',
      params: {
        f: { type: 'string', value: 'a::b' },
        from: { type: 'timestamp', ms: 1 },
        to: { type: 'timestamp', ms: 2 },
      },
    });
  });
});
