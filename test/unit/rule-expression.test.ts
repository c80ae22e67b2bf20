import { describe, expect, it } from 'vitest';
import {
  evaluate,
  parseRuleExpression,
  RuleEvalError,
  RuleExpressionError,
  staticType,
} from '../../domain/events/rule-expression.ts';

const run = (text: string, event: unknown) => evaluate(parseRuleExpression(text), event);

describe('rule expressions', () => {
  it("read the seed's filters and evaluate them with SQL's three-valued logic", () => {
    const guestIn = "participantType = 'GUEST' AND eventType = 'ENTRANCE'";
    expect(run(guestIn, { participantType: 'GUEST', eventType: 'ENTRANCE' })).toBe(true);
    expect(run(guestIn, { participantType: 'GUEST', eventType: 'LEAVE' })).toBe(false);
    expect(run(guestIn, { participantType: 'HOST' })).toBe(false); // false AND null is false
    expect(run(guestIn, { participantType: 'GUEST' })).toBe(null); // true AND null is null
    expect(run('a = 1 OR b = 2', { b: 2 })).toBe(true);
    expect(run('NOT (a = 1)', {})).toBe(null);
    expect(run('a = 1', { a: '1' })).toBe(null); // text and number do not compare
  });

  it('covers IN, comparisons, presence, nested fields, LIKE and keywords in any case', () => {
    const e = { payload: { user: { id: 7, tags: ['a', 'b'] } }, kind: 'match', score: 2.5, 'odd name': 'x' };
    expect(run("kind in ('match', 'chat')", e)).toBe(true);
    expect(run("kind NOT IN ('match')", e)).toBe(false);
    expect(run('payload.user.id >= 7 and score < 3', e)).toBe(true);
    expect(run('payload.user.tags[1]', e)).toBe('b');
    expect(run('payload.user.missing IS NULL AND payload.user.id IS NOT NULL', e)).toBe(true);
    expect(run('`odd name`', e)).toBe('x');
    expect(run("kind LIKE 'ma%' AND kind NOT LIKE '_x%'", e)).toBe(true);
    expect(run('payload.user.id != 8 AND payload.user.id <> 9', e)).toBe(true);
  });

  it('maps with constants, concatenation, arithmetic, CASE, IF, CAST and functions', () => {
    const e = { a: 3, b: 4, s: 'Room', n: '42', t: '2024-03-10T01:02:03Z', flag: 'TRUE' };
    expect(run("s || '-' || a", e)).toBe('Room-3');
    expect(run('a * b + 1 - 2 / 4', e)).toBe(12.5);
    expect(run('-a % 2', e)).toBe(-1);
    expect(run("CASE WHEN a > 5 THEN 'big' WHEN a > 2 THEN 'mid' ELSE 'small' END", e)).toBe('mid');
    expect(run("IF(a = 3, 'yes', 'no')", e)).toBe('yes');
    expect(run('CAST(n AS BIGINT) + 1', e)).toBe(43);
    expect(run('CAST(t AS TIMESTAMP)', e)).toBe(Date.parse('2024-03-10T01:02:03Z'));
    expect(run('CAST(flag AS BOOLEAN)', e)).toBe(true);
    expect(run("COALESCE(missing, 'XX')", e)).toBe('XX');
    expect(run('LOWER(s) || UPPER(s) || LENGTH(s)', e)).toBe('roomROOM4');
    expect(run('ROUND(2.345, 2) + ABS(-1) + FLOOR(1.5) + CEIL(1.5)', e)).toBe(6.35);
    expect(run("'it''s'", e)).toBe("it's");
  });

  it('knows the type of an expression where no event is needed', () => {
    expect(staticType(parseRuleExpression('true'))).toBe('boolean');
    expect(staticType(parseRuleExpression("'x' || y"))).toBe('string');
    expect(staticType(parseRuleExpression('CAST(x AS INT)'))).toBe('integer');
    expect(staticType(parseRuleExpression('x'))).toBe('unknown');
    expect(staticType(parseRuleExpression("CASE WHEN x THEN 'a' ELSE 'b' END"))).toBe('string');
  });

  it('refuses what is not an expression, with the offset of the fault', () => {
    const fail = (text: string) => {
      try {
        parseRuleExpression(text);
      } catch (e) {
        expect(e).toBeInstanceOf(RuleExpressionError);
        return e as RuleExpressionError;
      }
      throw new Error(`parsed: ${text}`);
    };
    expect(fail("a = 'x' AND AND b").offset).toBe(12);
    expect(fail("a = 'x' AND AND b").message).toMatch(/syntax error at "AND"/);
    expect(fail('a IN (1, 2').message).toMatch(/end of the expression; expected "\)"/);
    expect(fail("a = 'unterminated").message).toMatch(/syntax error/);
    expect(fail('nope(a)').message).toMatch(/unknown function NOPE/);
    expect(fail('LOWER(a, b)').message).toMatch(/LOWER takes 1 argument, got 2/);
    expect(fail('CAST(a AS WIDGET)').message).toMatch(/CAST to unknown type WIDGET/);
    expect(fail(`${'('.repeat(200)}a${')'.repeat(200)}`).message).toMatch(/nested deeper than 64/);
    expect(fail('a = '.repeat(2000)).message).toMatch(/longer than 4000/);
    expect(fail('a; DROP TABLE x').message).toMatch(/syntax error at ";"/);
    // never JavaScript: what eval would run is not an expression here
    expect(fail('process.exit(1)').message).toMatch(/unknown function|syntax error/);
  });

  it('says why a value cannot be computed', () => {
    expect(() => run("a + 'x'", { a: 1 })).toThrow(RuleEvalError);
    expect(() => run("a + 'x'", { a: 1 })).toThrow(/needs a number, got text "x"/);
    expect(() => run('CAST(a AS BIGINT)', { a: 'seven' })).toThrow(/cannot CAST text "seven" AS BIGINT/);
    expect(() => run('a / 0', { a: 1 })).toThrow(/division by zero/);
    expect(() => run('CAST(a AS TIMESTAMP)', { a: 'yesterday' })).toThrow(/expected a time/);
    expect(run('a + 1', {})).toBe(null); // a missing field propagates as null
  });
});
