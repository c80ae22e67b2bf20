import { describe, expect, it } from 'vitest';
import { parsePairs, splitPairs } from '../../cli/send-command.ts';

describe('ferry send: --keys and --values', () => {
  it('splits pairs at commas outside lists, maps and quotes', () => {
    expect(splitPairs('a=1, b=[1,2],c="x,y",d={"p":1,"q":2}')).toEqual([
      'a=1',
      'b=[1,2]',
      'c="x,y"',
      'd={"p":1,"q":2}',
    ]);
    expect(splitPairs('')).toEqual([]);
  });

  it('reads values as JSON when they parse, as text otherwise; repeated options add up', () => {
    expect(
      parsePairs('values', ['level=7,ratio=0.5,on=true', 'tags=["a","b"],name=Ann,quoted="7",empty=']),
    ).toEqual({
      level: 7,
      ratio: 0.5,
      on: true,
      tags: ['a', 'b'],
      name: 'Ann',
      quoted: '7',
      empty: '',
    });
  });

  it('says which pair is malformed', () => {
    expect(() => parsePairs('keys', ['user_id'])).toThrowError('--keys: expected name=value, got "user_id"');
    expect(() => parsePairs('keys', ['=5'])).toThrowError('--keys: expected name=value, got "=5"');
  });
});
