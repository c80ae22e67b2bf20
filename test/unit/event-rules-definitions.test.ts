import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatDefinitionError } from '../../domain/definitions/definition-error.ts';
import { compareDefinitions } from '../../domain/definitions/definition-evolution.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { ferryBin, ferryEnv } from '../ferry-bin.ts';

const file = 'features/live.yaml';
const head = `live::room:
  feature_type: Object
  owner: a
  schema:
    live_room_id:
      type: Text
      is_key_field: true
    has_guest:
      type: Boolean
      default_value: false
    viewers:
      type: Long
      default_value: 0
  from_events:
    topic: live_room_event
    event_time: timestampMillis
    rules:
`;
const errorsOf = (rules: string) =>
  loadDefinitionsFromText(file, head + rules).errors.map(formatDefinitionError);

describe('from_events rules in YAML', () => {
  it('are read into the definition', () => {
    const { definitions, errors } = loadDefinitionsFromText(
      file,
      `${head}      - name: guest-in
        when: participantType = 'GUEST' AND eventType = 'ENTRANCE'
        keys:
          live_room_id: liveRoomId
        values:
          has_guest: true
          viewers: CAST(viewerCount AS BIGINT)
`,
    );
    expect(errors).toEqual([]);
    expect(definitions[0]!.fromEvents).toEqual({
      topic: 'live_room_event',
      eventTime: 'timestampMillis',
      rules: [
        {
          name: 'guest-in',
          when: "participantType = 'GUEST' AND eventType = 'ENTRANCE'",
          method: 'UPDATE',
          keys: { live_room_id: 'liveRoomId' },
          values: { has_guest: true, viewers: 'CAST(viewerCount AS BIGINT)' },
        },
      ],
    });
  });

  // each case: rules and the exact errors (file:line:column path: message)
  const cases: [string, string, string[]][] = [
    [
      'a syntax error, at its column in the YAML',
      `      - name: r
        when: participantType = 'GUEST' AND AND x
        keys: { live_room_id: liveRoomId }
        values: { has_guest: true }
`,
      [
        `features/live.yaml:19:45 live::room.from_events.rules.0.when: syntax error at "AND"; expected "'", "NOT", "-", ".", "TRUE", "FALSE", "NULL", "CASE"`,
      ],
    ],
    [
      'a syntax error in a quoted value and in a block scalar',
      `      - name: r
        keys: { live_room_id: "CONCAT(liveRoomId" }
        when: |
          a = 1
            AND b IN (1, 2 3)
        values: { has_guest: true }
`,
      [
        'features/live.yaml:22:28 live::room.from_events.rules.0.when: syntax error at "3"; expected ")", ",", "||", "<=", ">=", "<>", "!=", "NOT"',
        'features/live.yaml:19:49 live::room.from_events.rules.0.keys.live_room_id: syntax error at the end of the expression; expected ")", ",", "(", ".", "[", "||", "<=", ">="',
      ],
    ],
    [
      'a key field left unset, an unknown field, a key under values and a value of the wrong type',
      `      - name: r
        keys: { room: liveRoomId }
        values: { has_guest: "'yes'", nope: 1, live_room_id: x, viewers: 2.5 }
`,
      [
        'features/live.yaml:19:9 live::room.from_events.rules.0.keys: key field "live_room_id" is not set (every key field must be)',
        'features/live.yaml:19:17 live::room.from_events.rules.0.keys.room: "room" is not a field of this feature (fields: live_room_id, has_guest, viewers)',
        'features/live.yaml:20:19 live::room.from_events.rules.0.values.has_guest: "has_guest" is Boolean; this gives text',
        'features/live.yaml:20:39 live::room.from_events.rules.0.values.nope: "nope" is not a field of this feature (fields: live_room_id, has_guest, viewers)',
        'features/live.yaml:20:48 live::room.from_events.rules.0.values.live_room_id: "live_room_id" is a key field; put it under keys',
        'features/live.yaml:20:65 live::room.from_events.rules.0.values.viewers: "viewers" is Long; this gives a number',
      ],
    ],
    [
      'a filter that is not a condition, a bad method, an unknown function, twice the same name',
      `      - name: r
        when: "'text'"
        method: APPEND
        keys: { live_room_id: nope(x) }
        values: { has_guest: true }
      - name: r
        method: DELETE
        keys: { live_room_id: x }
        values: { has_guest: true }
`,
      [
        'features/live.yaml:20:9 live::room.from_events.rules.0.method: this feature is written with UPDATE (or DELETE), not APPEND',
        'features/live.yaml:19:9 live::room.from_events.rules.0.when: a filter must be true or false, this gives text',
        'features/live.yaml:21:31 live::room.from_events.rules.0.keys.live_room_id: unknown function NOPE; known: COALESCE, IF, CONCAT, LOWER, UPPER, TRIM, LENGTH, ABS, FLOOR, CEIL, ROUND',
        'features/live.yaml:23:9 live::room.from_events.rules.1.name: another rule is named "r"',
        'features/live.yaml:26:9 live::room.from_events.rules.1.values: a DELETE rule sets keys only (it deletes the whole key)',
      ],
    ],
    [
      'setting the event time by hand, and a rule with no value',
      `      - name: r
        keys: { live_room_id: x }
        values: { _last_updated_at_ms: t }
      - name: s
        keys: { live_room_id: x }
`,
      [
        'features/live.yaml:20:19 live::room.from_events.rules.0.values._last_updated_at_ms: _last_updated_at_ms comes from event_time; set event_time instead',
        'features/live.yaml:21:9 live::room.from_events.rules.1: an UPDATE rule sets at least one value',
      ],
    ],
  ];
  it.each(cases)('refuses %s', (_name, rules, expected) => {
    expect(errorsOf(rules)).toEqual(expected);
  });

  it('a backfill table needs a valid name, and a watermark column when event_time is an expression', () => {
    const rules = '      - { name: r, keys: { live_room_id: x }, values: { has_guest: true } }\n';
    const withBackfill = (eventTime: string, backfill: string) =>
      loadDefinitionsFromText(
        file,
        head.replace(
          '    event_time: timestampMillis\n',
          `    event_time: ${eventTime}\n    backfill: ${backfill}\n`,
        ) + rules,
      );
    expect(
      withBackfill('timestampMillis', '{ table: raw_live_room_events }').definitions[0]!.fromEvents!.backfill,
    ).toEqual({
      table: 'raw_live_room_events',
      watermarkColumn: 'timestampMillis',
    });
    expect(
      withBackfill('"CAST(ts AS TIMESTAMP)"', '{ table: "bad name!" }').errors.map(formatDefinitionError),
    ).toEqual([
      'features/live.yaml:17:17 live::room.from_events.backfill.table: a table name holds letters, digits, _ and . (dataset.table), got "bad name!"',
      'features/live.yaml:17:5 live::room.from_events.backfill: watermark_column is needed: event_time is not a column of its own',
    ]);
  });

  it('missing keys and shapes of the block are YAML-shape errors', () => {
    expect(errorsOf('      - name: r\n')).toEqual([
      'features/live.yaml:18:9 live::room.from_events.rules.0.keys: required key is missing',
    ]);
    const noTopic = loadDefinitionsFromText(
      file,
      head.replace('    topic: live_room_event\n', '') +
        '      - { name: r, keys: { live_room_id: x }, values: { has_guest: true } }\n',
    );
    expect(noTopic.errors.map(formatDefinitionError)).toEqual([
      'features/live.yaml:14:3 live::room.from_events.topic: required key is missing',
    ]);
  });

  it('`ferry plan` sees a rule diff rule by rule', () => {
    const load = (when: string, extra = '') =>
      loadDefinitionsFromText(
        file,
        `${head}      - name: r
        when: ${when}
        keys: { live_room_id: x }
        values: { has_guest: true }
${extra}`,
      ).definitions[0]!;
    const changes = compareDefinitions(
      load("a = 'x'"),
      load("a = 'y'", '      - name: s\n        keys: { live_room_id: y }\n        values: { viewers: 1 }\n'),
    );
    expect(changes.map((c) => [c.path, c.incompatible])).toEqual([
      ['from_events.rules.r.when', undefined],
      ['from_events.rules.s', undefined],
    ]);
  });
});

describe('ferry events test', () => {
  const run = promisify(execFile);
  const ferry = async (cwd: string, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run(ferryBin, args, { cwd, env: ferryEnv({ ...process.env }) });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it('shows what the seed’s rules write for sample events, before any apply; bad input is exit 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ferry-events-'));
    cpSync(path.join(process.cwd(), 'features'), path.join(dir, 'features'), { recursive: true });
    const events = path.join(dir, 'events.json');
    writeFileSync(
      events,
      JSON.stringify([
        {
          liveRoomId: 'room-9',
          participantType: 'GUEST',
          eventType: 'ENTRANCE',
          timestampMillis: 1_795_296_210_780,
        },
        {
          liveRoomId: 'room-9',
          participantType: 'HOST',
          eventType: 'LEAVE',
          timestampMillis: 1_795_296_210_781,
        },
        { liveRoomId: 'room-9', participantType: 'GUEST', eventType: 'LEAVE' },
      ]),
    );
    const text = await ferry(dir, 'events', 'test', 'live::live-room-context', '--event', events);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      'guest-entrance: UPDATE keys {"live_room_id":"room-9"} values {"has_guest":true} at 2026-11-21T21:23:30.780Z',
    );
    expect(text.stdout).toContain(
      'guest-leave: matched, cannot map: event_time: the event has none (field timestampMillis) (a dead letter)',
    );
    const json = await ferry(dir, 'events', 'test', 'live-room-context', '--event', events, '--json');
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { outcomes: { rule: string; matched: boolean }[] }[];
    expect(out.map((e) => e.outcomes.map((o) => `${o.rule}:${o.matched}`))).toEqual([
      ['guest-entrance:true', 'guest-leave:false'],
      ['guest-entrance:false', 'guest-leave:false'],
      ['guest-entrance:false', 'guest-leave:true'],
    ]);
    writeFileSync(path.join(dir, 'bad.json'), '{"not json');
    for (const [args, message] of [
      [
        ['events', 'test', 'live::live-room-context', '--event', path.join(dir, 'bad.json')],
        /--event: not JSON/,
      ],
      [['events', 'test', 'live::nope', '--event', events], /live::nope: no such feature/],
      [['events', 'test', 'live::hakuna-host-stat-v1', '--event', events], /has no from_events block/],
      [['events', 'test', 'live::live-room-context'], /--event: the sample event file is required/],
      [['events', 'run'], /expected: ferry events test/],
    ] as [string[], RegExp][]) {
      const r = await ferry(dir, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(readFileSync(events, 'utf8')).toContain('room-9'); // the sample file is only read
  });
});
