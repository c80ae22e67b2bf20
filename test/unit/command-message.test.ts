import { describe, expect, it } from 'vitest';
import {
  commandEnvelopeFingerprint,
  decodeCommandAvro,
  decodeCommandAvroWithAvsc,
  encodeCommandAvro,
} from '../../domain/commands/command-avro.ts';
import {
  avroContentType,
  claimedFeatureName,
  commandMessageKey,
  decodeCommandMessage,
  encodeCommandMessage,
  type MessageHeaders,
  parseDeadLetterPayload,
} from '../../domain/commands/command-message.ts';
import { CommandError, type ValidCommand } from '../../domain/commands/feature-command.ts';
import { parseCommand } from '../../domain/commands/parse-command.ts';
import { validateCommand } from '../../domain/commands/validate-command.ts';
import { loadDefinitions } from '../../domain/definitions/load-definitions.ts';
import { FeatureCatalog } from '../../stores/registry/feature-catalog.ts';
import { seedCommands } from '../fixtures/seed-commands.ts';

const { definitions } = await loadDefinitions(['features']);
const catalog = new FeatureCatalog(definitions);
const def = (name: string) => {
  const r = catalog.resolve(name);
  if ('problem' in r) throw new Error(r.problem);
  return r.definition;
};
const avroHeaders = { 'content-type': avroContentType, 'ferry-schema': commandEnvelopeFingerprint };

/** decode → resolve → validate, as the consumer does. */
function check(value: Buffer, headers: MessageHeaders = {}): ValidCommand {
  const { command, producer } = decodeCommandMessage(value, headers);
  return validateCommand(command, def(command.featureName), producer);
}

function reason(value: Buffer | null, headers: MessageHeaders = {}, maxBytes?: number): string {
  try {
    const { command, producer } = decodeCommandMessage(value, headers, { maxBytes });
    validateCommand(command, def(command.featureName), producer);
  } catch (e) {
    expect(e).toBeInstanceOf(CommandError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

const room = {
  feature: 'live::realtime-room-context',
  method: 'UPDATE' as const,
  keys: { live_room_id: 'room-7' },
  values: {
    host_user_id: 'host-é✓',
    has_guest: true,
    viewer_count: 9_007_199_254_740_991,
    recent_10min_gift_count: -3,
    vision_tags: ['guitar', '', 'night'],
  },
  eventTimeMs: 1_763_700_000_123,
};

describe('command messages (JSON and Avro)', () => {
  it('reads the seed JSON messages without headers, as the shared parser does', () => {
    for (const text of Object.values(seedCommands)) {
      expect(decodeCommandMessage(Buffer.from(text), {}).command).toEqual(parseCommand(Buffer.from(text)));
      expect(decodeCommandMessage(Buffer.from(text), { 'content-type': 'application/json' }).command).toEqual(
        parseCommand(text),
      );
    }
  });

  it('round-trips every seed command and a rich one through the Avro envelope', () => {
    const seeds = Object.values(seedCommands).map((t) => check(Buffer.from(t)));
    for (const cmd of [...seeds, room]) {
      const d = def(cmd.feature);
      const msg = encodeCommandMessage(d, cmd, { format: 'avro', producer: 'sample-app' });
      expect(msg.headers).toEqual({ ...avroHeaders, 'ferry-producer': 'sample-app' });
      expect(check(msg.value, msg.headers)).toEqual(cmd);
      // and the JSON form gives the same command
      const json = encodeCommandMessage(d, cmd, { format: 'json' });
      expect(check(json.value, json.headers)).toEqual(cmd);
    }
  });

  it('decodes like avsc does (cross-check of the hand-written decoder)', () => {
    const envelope = {
      feature_name: 'x::y',
      method: 'APPEND' as const,
      keys: { a: 1, b: 'two', c: -(2 ** 40) },
      values: {
        d: 1.5,
        e: null,
        f: Buffer.from([0, 255]),
        g: [1, 'x', null, false],
        h: true,
        _last_updated_at_ms: 7,
      },
    };
    const bytes = encodeCommandAvro(envelope);
    expect(decodeCommandAvro(bytes)).toEqual(envelope);
    const viaAvsc = decodeCommandAvroWithAvsc(bytes) as { keys: Record<string, Record<string, unknown>> };
    expect(Object.values(viaAvsc.keys.a!)[0]).toBe(1);
    // a map with many blocks (as other Avro writers may write) decodes too
    expect(
      decodeCommandAvro(
        Buffer.from([2, 0x78, 0x00, 0x02, 0x02, 0x61, 0x00, 0x02, 0x02, 0x62, 0x00, 0x00, 0x00]),
      ),
    ).toEqual({
      feature_name: 'x',
      method: 'UPDATE',
      keys: { a: null, b: null },
      values: {},
    });
  });

  it('keys messages by feature and key values so one key stays on one partition', () => {
    const d = def('azar::user-profile');
    expect(commandMessageKey(d, { user_id: 1001 })).toBe('["azar::user-profile",1001]');
    const seed = check(Buffer.from(seedCommands.userProfileLevel));
    expect(encodeCommandMessage(d, seed).key).toBe(
      encodeCommandMessage(d, { ...seed, values: { age: 3 } }).key,
    );
  });

  it('checks the producer header against the writers', () => {
    const msg = encodeCommandMessage(
      def('live::live-room-context'),
      check(Buffer.from(seedCommands.guestEntrance)),
      {
        producer: 'rogue',
      },
    );
    expect(reason(msg.value, msg.headers)).toBe('producer "rogue" may not write live::live-room-context');
    expect(reason(msg.value, { ...msg.headers, 'ferry-producer': ' ' })).toBe(
      'header ferry-producer is empty',
    );
    expect(check(msg.value, { ...msg.headers, 'ferry-producer': Buffer.from('ksqldb') }).feature).toBe(
      'live::live-room-context',
    );
  });
});

describe('dead-letter payloads', () => {
  it('reads back the JSON text and the base64 form of an Avro message', () => {
    expect(parseDeadLetterPayload(seedCommands.userProfileLevel)).toEqual(
      parseCommand(seedCommands.userProfileLevel),
    );
    const avro = encodeCommandMessage(
      def('azar::user-profile'),
      check(Buffer.from(seedCommands.userProfileLevel)),
      {
        format: 'avro',
      },
    );
    expect(parseDeadLetterPayload(`base64:${avro.value.toString('base64')}`)).toEqual(
      parseCommand(seedCommands.userProfileLevel.replace('"user-profile"', '"azar::user-profile"')),
    );
    expect(() => parseDeadLetterPayload('base64:AAAA')).toThrowError(CommandError);
  });

  it('names the feature of a damaged message from its start', () => {
    const avro = encodeCommandMessage(
      def('azar::user-profile'),
      check(Buffer.from(seedCommands.userProfileLevel)),
      {
        format: 'avro',
      },
    );
    expect(claimedFeatureName(avro.value.subarray(0, 30), avroHeaders)).toBe('azar::user-profile');
    expect(claimedFeatureName(Buffer.from('{"feature_name":"user-profile","method":'), {})).toBe(
      'user-profile',
    );
    expect(claimedFeatureName(Buffer.from([0xff]), {})).toBe('');
  });
});

describe('hostile command messages → dead-letter reasons', () => {
  const good = encodeCommandMessage(def('live::realtime-room-context'), room, { format: 'avro' }).value;

  it('every truncation of an Avro command is refused with a reason', () => {
    const reasons = new Set<string>();
    for (let n = 0; n < good.length; n++) {
      const r = reason(good.subarray(0, n), avroHeaders);
      expect(r).toMatch(
        n === 0 ? /^empty message/ : /^not a valid Avro command: .*(truncated|runs past|cannot fit)/,
      );
      reasons.add(r.replace(/\d+/g, 'N'));
    }
    expect(reasons.size).toBeGreaterThan(3);
  });

  it.each<[string, Buffer, MessageHeaders, string | RegExp]>([
    ['trailing bytes', Buffer.concat([good, Buffer.from([0])]), avroHeaders, /1 trailing bytes at byte/],
    [
      'Avro without a fingerprint',
      good,
      { 'content-type': avroContentType },
      'avro/binary message without a ferry-schema header',
    ],
    [
      'an unknown fingerprint',
      good,
      { ...avroHeaders, 'ferry-schema': 'deadbeefdeadbeef' },
      `unknown command schema fingerprint "deadbeefdeadbeef" (known: ${commandEnvelopeFingerprint})`,
    ],
    [
      'an unknown content type',
      good,
      { 'content-type': 'application/x-protobuf' },
      /^unsupported content-type "application\/x-protobuf"/,
    ],
    ['Avro bytes sent as JSON', good, {}, /^not valid JSON/],
    [
      'JSON bytes sent as Avro',
      Buffer.from(seedCommands.userProfileLevel),
      avroHeaders,
      /^not a valid Avro command/,
    ],
    [
      'a block count of 2^50 (would make avsc spin)',
      Buffer.concat([
        Buffer.from([2, 0x78, 0x00]),
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x04]),
        Buffer.from([2, 0x61, 0]),
      ]),
      avroHeaders,
      /keys block of 1125899906842624 items cannot fit in the 3 bytes left/,
    ],
    [
      'a string length past the end',
      Buffer.from([0xfe, 0xff, 0xff, 0x7f, 0x61]),
      avroHeaders,
      /feature_name of 134217727 bytes runs past the end/,
    ],
    [
      'a method index out of range',
      Buffer.from([2, 0x78, 0x0a, 0, 0]),
      avroHeaders,
      /method enum index 5 out of range/,
    ],
    [
      'a union branch out of range',
      Buffer.from([2, 0x78, 0, 2, 2, 0x61, 0x10, 0, 0]),
      avroHeaders,
      /keys\.a: union branch 8 out of range/,
    ],
    [
      'a long beyond 2^53',
      Buffer.from([
        2, 0x78, 0, 2, 2, 0x61, 4, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0,
      ]),
      avroHeaders,
      /keys\.a 9223372036854775807 outside ±2\^53/,
    ],
    [
      'text that is not UTF-8',
      Buffer.from([4, 0xc3, 0x28, 0, 0, 0]),
      avroHeaders,
      /feature_name is not UTF-8/,
    ],
    [
      'a varint of 11 bytes',
      Buffer.from([2, 0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      avroHeaders,
      /varint longer than 10 bytes/,
    ],
  ])('refuses %s', (_name, value, headers, why) => {
    const r = reason(value, headers);
    if (typeof why === 'string') expect(r).toBe(why);
    else expect(r).toMatch(why);
  });

  it('refuses empty and oversized messages before reading them', () => {
    expect(reason(null)).toBe('empty message: no command in the value');
    expect(reason(Buffer.alloc(0))).toBe('empty message: no command in the value');
    const huge = Buffer.from(
      JSON.stringify({
        feature_name: 'azar::user-profile',
        method: 'UPDATE',
        keys: { user_id: 1 },
        values: { gender: 'x'.repeat(2_000_000), _last_updated_at_ms: 5 },
      }),
    );
    expect(reason(huge)).toBe(`message of ${huge.length} bytes is over the 1048576-byte limit`);
    // with a larger limit it is read (the online store then decides whether it takes the value)
    expect(decodeCommandMessage(huge, {}, { maxBytes: 4_000_000 }).command.values.gender).toHaveLength(
      2_000_000,
    );
  });

  it('refuses a huge value inside the size limit by the definition (wrong type, unknown field)', () => {
    const msg = (values: Record<string, unknown>) =>
      Buffer.from(
        JSON.stringify({
          feature_name: 'azar::user-profile',
          method: 'UPDATE',
          keys: { user_id: 1 },
          values: { ...values, _last_updated_at_ms: 5 },
        }),
      );
    expect(reason(msg({ level: 1e300 }))).toMatch(/^values\.level: expected Long/);
    expect(reason(msg({ level: 'x'.repeat(500_000) }))).toMatch(/^values\.level: expected Long, got "x{10,}/);
    expect(reason(msg({ ['f'.repeat(100_000)]: 1 }))).toMatch(
      /^values\.f+: unknown field of azar::user-profile$/,
    );
  });
});
