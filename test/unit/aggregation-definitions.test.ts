import { describe, expect, it } from 'vitest';
import { DAY, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import { aggregateFieldsOf } from '../../domain/aggregations/aggregation-definition.ts';
import { CommandError } from '../../domain/commands/feature-command.ts';
import { parseCommand } from '../../domain/commands/parse-command.ts';
import { validateCommand } from '../../domain/commands/validate-command.ts';
import { formatDefinitionError } from '../../domain/definitions/definition-error.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { EventMapper } from '../../domain/events/event-mapper.ts';

// Aggregation features in YAML (issue 18): the seed's example 3 and its hard examples, the types
// Ferry infers, and every mistake answered at file:line:column.

const file = 'features/azar-match.yaml';
const seedExample = `azar-match::match-stats:
  feature_type: Aggregation
  owner: ray.l
  schema:
    user_id: {type: Long, is_key_field: true}
    chat_duration: {type: Long}
    peer_user_id: {type: Long}
    recent_10min_match_count: {aggregate: {function: count, window: 10m}}
    recent_10min_avg_chat_duration: {aggregate: {function: avg, of: chat_duration, window: 10m}}
    avg_chat_duration_30d: {type: Double, aggregate: {function: avg, of: chat_duration, window: 30d}}
    chat_seconds_lifetime: {aggregate: {function: sum, of: chat_duration, window: lifetime}}
    distinct_peers_30d: {aggregate: {function: approx_distinct, of: peer_user_id, window: 30d}}
    recent_peers: {aggregate: {function: last_distinct, of: peer_user_id, window: 1d, n: 5}}
    longest_chat_1h: {aggregate: {function: max, of: chat_duration, window: 1h}, default_value: 0}
  aggregation:
    allowed_lateness: 10m
  from_events:
    topic: azar_match_event
    event_time: timestampMillis
    rules:
      - name: match
        keys: {user_id: userId}
        values: {_event_id: matchId, chat_duration: chat_duration, peer_user_id: peerUserId}
`;

const load = (yaml: string) => loadDefinitionsFromText(file, yaml);
const errorsOf = (yaml: string) => load(yaml).errors.map(formatDefinitionError);

describe('Aggregation features in YAML', () => {
  it("read the seed's example 3 and its hard examples, inferring each aggregate's type", () => {
    const { definitions, errors } = load(seedExample);
    expect(errors).toEqual([]);
    const def = definitions[0]!;
    expect(def.featureType).toBe('Aggregation');
    expect(def.aggregation).toEqual({ latenessMs: 10 * MINUTE });
    expect(
      def.fields.map((f) => [f.name, f.type.kind === 'scalar' ? f.type.scalar : `List<${f.type.item}>`]),
    ).toEqual([
      ['user_id', 'Long'],
      ['chat_duration', 'Long'],
      ['peer_user_id', 'Long'],
      ['recent_10min_match_count', 'Long'],
      ['recent_10min_avg_chat_duration', 'Double'],
      ['avg_chat_duration_30d', 'Double'],
      ['chat_seconds_lifetime', 'Long'],
      ['distinct_peers_30d', 'Long'],
      ['recent_peers', 'List<Long>'],
      ['longest_chat_1h', 'Long'],
    ]);
    expect(aggregateFieldsOf(def)).toEqual([
      { name: 'recent_10min_match_count', fn: 'count', window: { kind: 'sliding', ms: 10 * MINUTE } },
      {
        name: 'recent_10min_avg_chat_duration',
        fn: 'avg',
        of: 'chat_duration',
        window: { kind: 'sliding', ms: 10 * MINUTE },
      },
      {
        name: 'avg_chat_duration_30d',
        fn: 'avg',
        of: 'chat_duration',
        window: { kind: 'sliding', ms: 30 * DAY },
      },
      { name: 'chat_seconds_lifetime', fn: 'sum', of: 'chat_duration', window: { kind: 'lifetime' } },
      {
        name: 'distinct_peers_30d',
        fn: 'approx_distinct',
        of: 'peer_user_id',
        window: { kind: 'sliding', ms: 30 * DAY },
      },
      {
        name: 'recent_peers',
        fn: 'last_distinct',
        of: 'peer_user_id',
        window: { kind: 'sliding', ms: DAY },
        n: 5,
      },
      {
        name: 'longest_chat_1h',
        fn: 'max',
        of: 'chat_duration',
        window: { kind: 'sliding', ms: 60 * MINUTE },
      },
    ]);
    expect(def.fields.find((f) => f.name === 'longest_chat_1h')!.defaultValue).toBe(0);
  });

  it('a match event maps to one APPEND of the inputs, with its id', () => {
    const def = load(seedExample).definitions[0]!;
    const [outcome] = new EventMapper(def).map({
      matchId: 'm-17',
      userId: 1001,
      peerUserId: 2002,
      chat_duration: 95,
      timestampMillis: Date.now() - 1000,
    });
    expect(outcome).toMatchObject({
      rule: 'match',
      command: {
        method: 'APPEND',
        keys: { user_id: 1001 },
        values: { chat_duration: 95, peer_user_id: 2002 },
        eventId: 'm-17',
      },
    });
  });

  it('commands carry the inputs and an optional _event_id; aggregates themselves cannot be written', () => {
    const def = load(seedExample).definitions[0]!;
    const cmd = (values: Record<string, unknown>, method = 'APPEND') =>
      validateCommand(parseCommand({ feature_name: def.name, method, keys: { user_id: 1 }, values }), def);
    expect(
      cmd({ chat_duration: 30, _event_id: 'x-1', _last_updated_at_ms: 1_700_000_000_000 }),
    ).toMatchObject({
      values: { chat_duration: 30 },
      eventId: 'x-1',
    });
    expect(cmd({ chat_duration: 30, _event_id: 7, _last_updated_at_ms: 1_700_000_000_000 }).eventId).toBe(
      '7',
    );
    const refused = (values: Record<string, unknown>, method?: string) => {
      try {
        cmd(values, method);
      } catch (e) {
        if (e instanceof CommandError) return e.message;
        throw e;
      }
      return 'accepted';
    };
    expect(refused({ recent_10min_match_count: 3, _last_updated_at_ms: 1 })).toBe(
      'values.recent_10min_match_count: an aggregate, computed by Ferry from the events; send the inputs (chat_duration, peer_user_id)',
    );
    expect(refused({ chat_duration: 1, _event_id: { a: 1 }, _last_updated_at_ms: 1 })).toMatch(
      /^values._event_id: expected the event's id/,
    );
    expect(refused({ chat_duration: 1, _last_updated_at_ms: 1 }, 'UPDATE')).toMatch(
      /^method UPDATE is for Object features; azar-match::match-stats is an Aggregation feature \(use APPEND\)/,
    );
  });

  it.each([
    [
      'an aggregate on an Object feature',
      seedExample.replace('feature_type: Aggregation', 'feature_type: Object'),
      /azar-match.yaml:8:32 azar-match::match-stats.schema.recent_10min_match_count.aggregate: only Aggregation features have aggregate fields/,
    ],
    [
      'an unknown function',
      seedExample.replace('function: count', 'function: median'),
      /8:44 .*aggregate.function: expected one of count, sum, avg, min, max, last, approx_distinct, last_distinct, got "median"/,
    ],
    [
      'a window that is not a duration',
      seedExample.replace('function: count, window: 10m', 'function: count, window: 10 minutes'),
      /8:61 .*aggregate.window: expected a duration from 1s to 400d \(10m, 1h, 30d\) or lifetime, got "10 minutes"/,
    ],
    [
      'a window longer than 400 days',
      seedExample.replace('window: 30d}}\n    chat', 'window: 500d}}\n    chat'),
      /aggregate.window: expected a duration from 1s to 400d/,
    ],
    [
      'an input that does not exist',
      seedExample.replace('of: chat_duration, window: 10m', 'of: chat_secs, window: 10m'),
      /9:65 .*aggregate.of: "chat_secs" is not an input of this feature \(inputs: chat_duration, peer_user_id\)/,
    ],
    [
      'avg of a Text input',
      seedExample.replace('chat_duration: {type: Long}', 'chat_duration: {type: Text}'),
      /aggregate.of: avg needs a numeric input \(Long, Int, Double, Float\), not Text/,
    ],
    [
      'a declared type that is not the aggregate’s',
      seedExample.replace('avg_chat_duration_30d: {type: Double', 'avg_chat_duration_30d: {type: Long'),
      /10:29 .*avg_chat_duration_30d.type: avg of chat_duration \(Long\) is Double; write type: Double or leave type out/,
    ],
    [
      'count with an input',
      seedExample.replace('function: count, window: 10m', 'function: count, of: chat_duration, window: 10m'),
      /aggregate.of: count counts the events; it takes no input \(remove of:\)/,
    ],
    [
      'n on another function',
      seedExample.replace('function: count, window: 10m', 'function: count, window: 10m, n: 3'),
      /aggregate.n: n is for last_distinct \(how many values\)/,
    ],
    [
      'no aggregate field',
      `x::y:\n  feature_type: Aggregation\n  owner: a\n  schema:\n    user_id: {type: Long, is_key_field: true}\n    v: {type: Long}\n`,
      /x::y.schema: an Aggregation feature needs at least one field with aggregate: \{function, of, window\}/,
    ],
    [
      'a bad allowed_lateness',
      seedExample.replace('allowed_lateness: 10m', 'allowed_lateness: 30d'),
      /aggregation.allowed_lateness: expected a duration up to 7d such as 30s, 10m or 1h, got "30d"/,
    ],
    [
      'an aggregation block on an Object feature',
      `x::y:\n  feature_type: Object\n  owner: a\n  schema:\n    user_id: {type: Long, is_key_field: true}\n    v: {type: Long}\n  aggregation:\n    allowed_lateness: 1m\n`,
      /x::y.aggregation: only Aggregation features aggregate/,
    ],
    [
      'a field without a type',
      seedExample.replace('chat_duration: {type: Long}', 'chat_duration: {description: x}'),
      /6:5 .*schema.chat_duration: type is required/,
    ],
    [
      'a rule that sets an aggregate',
      seedExample.replace('chat_duration: chat_duration,', 'recent_10min_match_count: 1,'),
      /rules.0.values.recent_10min_match_count: "recent_10min_match_count" is an aggregate that Ferry computes from the events; set the inputs it reads/,
    ],
    [
      'an _event_id that is true or false',
      seedExample.replace('_event_id: matchId', '_event_id: userId > 3'),
      /rules.0.values._event_id: _event_id is text or a number; this gives/,
    ],
    [
      'declaring _event_id',
      seedExample.replace(
        '    peer_user_id: {type: Long}\n',
        '    peer_user_id: {type: Long}\n    _event_id: {type: Text}\n',
      ),
      /schema._event_id: (field name must start with a letter|_event_id is kept by Ferry)/,
    ],
  ])('%s is refused at its place', (_name, yaml, message) => {
    const errors = errorsOf(yaml);
    expect(errors.join('\n')).toMatch(message);
  });
});
