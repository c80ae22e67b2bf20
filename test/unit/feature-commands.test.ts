import { describe, expect, it } from 'vitest';
import { CommandError } from '../../domain/commands/feature-command.ts';
import { parseCommand } from '../../domain/commands/parse-command.ts';
import { validateCommand } from '../../domain/commands/validate-command.ts';
import { loadDefinitions } from '../../domain/definitions/load-definitions.ts';
import { FeatureCatalog } from '../../stores/registry/feature-catalog.ts';
import { seedCommands } from '../fixtures/seed-commands.ts';

const { definitions } = await loadDefinitions(['features']);
const catalog = new FeatureCatalog(definitions);

function check(message: string | object, producer?: string) {
  const raw = parseCommand(typeof message === 'string' ? Buffer.from(message) : message);
  const resolved = catalog.resolve(raw.featureName);
  if ('problem' in resolved) throw new CommandError(resolved.problem);
  return validateCommand(raw, resolved.definition, producer);
}

describe('feature commands', () => {
  it('accepts the seed examples byte for byte, resolving their short feature names', () => {
    expect(check(seedCommands.userProfileLevel)).toEqual({
      feature: 'azar::user-profile',
      method: 'UPDATE',
      keys: { user_id: 1001 },
      values: { level: 7 },
      eventTimeMs: 1_700_000_000_000,
    });
    expect(check(seedCommands.guestEntrance)).toMatchObject({
      feature: 'live::live-room-context',
      values: { has_guest: true },
    });
    expect(check(seedCommands.guestLeave)).toMatchObject({
      values: { has_guest: false },
      eventTimeMs: 1_700_000_120_000,
    });
    expect(check(seedCommands.matchWindow)).toMatchObject({
      feature: 'azar-match::match-feature',
      values: { recent_10min_match_count: 5, recent_10min_avg_chat_duration: 71.4 },
    });
  });

  it('reads the upper-case names ksqlDB emits without back-quotes, and its single-column wrapping', () => {
    const expected = check(seedCommands.userProfileLevel);
    expect(check(seedCommands.userProfileLevelUpperCase)).toEqual(expected);
    expect(check(seedCommands.userProfileLevelWrapped)).toEqual(expected);
  });

  const ok = {
    feature_name: 'azar::user-profile',
    method: 'UPDATE',
    keys: { user_id: 1 },
    values: { level: 2, _last_updated_at_ms: 5 },
  };
  it.each<[string, string | object, string]>([
    ['bytes that are not JSON', '{"feature_name": "x",', 'not valid JSON'],
    ['a JSON array', '[1,2]', 'expected a JSON object, got a list'],
    ['no feature name', { ...ok, feature_name: undefined }, 'feature_name: expected text, got null'],
    [
      'an unknown method',
      { ...ok, method: 'UPSERT' },
      'method: expected UPDATE, DELETE or APPEND, got "UPSERT"',
    ],
    ['an unknown feature', { ...ok, feature_name: 'azar::nope' }, 'unknown feature "azar::nope"'],
    ['keys that are not a map', { ...ok, keys: 5 }, 'keys: expected a map of key fields, got 5'],
    ['a missing key field', { ...ok, keys: {} }, 'keys.user_id: missing key field'],
    [
      'a key of the wrong type',
      { ...ok, keys: { user_id: 'abc' } },
      'keys.user_id: expected Long, got "abc"',
    ],
    [
      'a key that is not a key field',
      { ...ok, keys: { user_id: 1, shard: 2 } },
      'keys.shard: not a key field of azar::user-profile (key fields: user_id)',
    ],
    [
      'an unknown value field',
      { ...ok, values: { levle: 2, _last_updated_at_ms: 5 } },
      'values.levle: unknown field of azar::user-profile',
    ],
    [
      'a value of the wrong type',
      { ...ok, values: { level: 'high', _last_updated_at_ms: 5 } },
      'values.level: expected Long, got "high"',
    ],
    ['no event time', { ...ok, values: { level: 2 } }, 'values._last_updated_at_ms: missing event time'],
    [
      'an event time that is not a number',
      { ...ok, values: { level: 2, _last_updated_at_ms: 'now' } },
      'values._last_updated_at_ms: expected epoch milliseconds, got "now"',
    ],
    [
      'an UPDATE with no field',
      { ...ok, values: { _last_updated_at_ms: 5 } },
      'values: an UPDATE must set at least one field',
    ],
    [
      'APPEND to an Object feature',
      { ...ok, method: 'APPEND' },
      'method APPEND is for History and Aggregation features; azar::user-profile is an Object feature (use UPDATE)',
    ],
    [
      'UPDATE to a History feature',
      {
        ...ok,
        feature_name: 'azar-match::recent-matches',
        values: { peer_user_id: 2, _last_updated_at_ms: 5 },
      },
      'method UPDATE is for Object features; azar-match::recent-matches is a History feature (use APPEND)',
    ],
  ])('refuses %s', (_name, message, reason) => {
    expect(() => check(message)).toThrowError(reason);
  });

  it('refuses a producer that the feature does not let write', () => {
    const msg = {
      ...ok,
      feature_name: 'live::live-room-context',
      keys: { live_room_id: 'r' },
      values: { has_guest: true, _last_updated_at_ms: 5 },
    };
    expect(() => check(msg, 'rogue-service')).toThrowError(
      'producer "rogue-service" may not write live::live-room-context',
    );
    expect(check(msg, 'ksqldb').feature).toBe('live::live-room-context');
  });

  it('says when a short name is ambiguous', () => {
    const twice = new FeatureCatalog([
      { ...definitions[0]!, name: 'a::same' },
      { ...definitions[0]!, name: 'b::same' },
    ]);
    expect(twice.resolve('same')).toEqual({
      problem: 'feature name "same" is ambiguous: give its namespace',
    });
    expect('definition' in twice.resolve('a::same')).toBe(true);
  });
});
