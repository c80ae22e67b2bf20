import { eventTimeField, type FeatureDefinition } from '../definitions/feature-definition.ts';
import { valueToJson } from '../values/coerce-value.ts';
import {
  type CommandEnvelope,
  commandEnvelopeFingerprint,
  decodeCommandAvro,
  encodeCommandAvro,
  peekAvroFeatureName,
} from './command-avro.ts';
import { CommandError, type RawCommand, type ValidCommand } from './feature-command.ts';
import { parseCommand } from './parse-command.ts';

/**
 * Commands as Kafka messages. The value is the JSON envelope (the default, what ksqlDB writes)
 * or its Avro form; headers say which and who sent it:
 *
 * | header           | value                                   |
 * |------------------|-----------------------------------------|
 * | `content-type`   | `application/json` (default) or `avro/binary` |
 * | `ferry-schema`   | Avro only: fingerprint of the envelope schema |
 * | `ferry-producer` | optional: the sending service, checked against the feature's writers |
 *
 * The key is the feature's full name and the key values (`["azar::user-profile",1001]`), so
 * every command of one key lands on one partition, in order.
 */
export const commandHeader = {
  contentType: 'content-type',
  schema: 'ferry-schema',
  producer: 'ferry-producer',
  /** Dead-letter copies: why the command was refused. */
  reason: 'ferry-reason',
  /** Dead-letter copies: `topic/partition/offset` of the original. */
  source: 'ferry-source',
  /** Dead-letter copies: the feature, when it could be read. */
  feature: 'ferry-feature',
} as const;

export const jsonContentType = 'application/json';
export const avroContentType = 'avro/binary';
export type CommandFormat = 'json' | 'avro';

/** Commands larger than this go to dead letters unread (the broker's default limit is about 1 MB). */
export const defaultMaxCommandBytes = 1_048_576;

export type MessageHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** A header's value as text (the last one when repeated). */
export function headerText(headers: MessageHeaders | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  let v = headers[name];
  if (v === undefined) {
    const lower = name.toLowerCase();
    const found = Object.keys(headers).find((k) => k.toLowerCase() === lower);
    v = found === undefined ? undefined : headers[found];
  }
  if (Array.isArray(v)) v = v[v.length - 1];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/** The message key of a command: one key's commands share a partition. */
export function commandMessageKey(def: FeatureDefinition, keys: Record<string, unknown>): string {
  return JSON.stringify([def.name, ...def.keyFields.map((k) => keys[k] ?? null)]);
}

/** The envelope of a validated command, with the feature's full name and the event time in `values`. */
export function commandEnvelope(
  def: FeatureDefinition,
  cmd: ValidCommand,
  form: 'json' | 'native',
): CommandEnvelope {
  const conv = (name: string, v: unknown) => {
    const f = def.fields.find((x) => x.name === name);
    return form === 'json' && f ? valueToJson(f.type, v as never) : v;
  };
  const keys: Record<string, unknown> = {};
  for (const k of def.keyFields) keys[k] = conv(k, cmd.keys[k]);
  const values: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(cmd.values)) values[name] = conv(name, v);
  values[eventTimeField] = cmd.eventTimeMs;
  return { feature_name: def.name, method: cmd.method, keys, values };
}

export interface CommandMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** The Kafka message of a validated command. */
export function encodeCommandMessage(
  def: FeatureDefinition,
  cmd: ValidCommand,
  options: { format?: CommandFormat; producer?: string } = {},
): CommandMessage {
  const headers: Record<string, string> = {};
  let value: Buffer;
  if (options.format === 'avro') {
    value = encodeCommandAvro(commandEnvelope(def, cmd, 'native'));
    headers[commandHeader.contentType] = avroContentType;
    headers[commandHeader.schema] = commandEnvelopeFingerprint;
  } else {
    value = Buffer.from(JSON.stringify(commandEnvelope(def, cmd, 'json')));
    headers[commandHeader.contentType] = jsonContentType;
  }
  if (options.producer) headers[commandHeader.producer] = options.producer;
  return { key: commandMessageKey(def, cmd.keys), value, headers };
}

export interface DecodedCommandMessage {
  command: RawCommand;
  /** The `ferry-producer` header, when present. */
  producer?: string;
}

/**
 * Reads a Kafka message into a parsed command, by its headers: JSON unless `content-type`
 * says `avro/binary`. Throws CommandError with the reason (it goes to dead letters).
 */
export function decodeCommandMessage(
  value: Buffer | null | undefined,
  headers: MessageHeaders | undefined,
  options: { maxBytes?: number } = {},
): DecodedCommandMessage {
  const maxBytes = options.maxBytes ?? defaultMaxCommandBytes;
  if (value === null || value === undefined || value.length === 0)
    throw new CommandError('empty message: no command in the value');
  if (value.length > maxBytes)
    throw new CommandError(`message of ${value.length} bytes is over the ${maxBytes}-byte limit`);
  const contentType = headerText(headers, commandHeader.contentType)?.trim().toLowerCase();
  const producerHeader = headerText(headers, commandHeader.producer);
  const producer = producerHeader === undefined ? undefined : producerHeader.trim();
  if (producer === '') throw new CommandError(`header ${commandHeader.producer} is empty`);
  let command: RawCommand;
  if (
    contentType === undefined ||
    contentType === jsonContentType ||
    contentType.startsWith('application/json;')
  ) {
    command = parseCommand(value);
  } else if (contentType === avroContentType) {
    const fp = headerText(headers, commandHeader.schema)?.trim();
    if (!fp) throw new CommandError(`avro/binary message without a ${commandHeader.schema} header`);
    if (fp !== commandEnvelopeFingerprint)
      throw new CommandError(
        `unknown command schema fingerprint "${fp.slice(0, 64)}" (known: ${commandEnvelopeFingerprint})`,
      );
    command = parseCommand(decodeCommandAvro(value));
  } else {
    throw new CommandError(
      `unsupported content-type "${contentType.slice(0, 64)}" (use ${jsonContentType} or ${avroContentType})`,
    );
  }
  return producer === undefined ? { command } : { command, producer };
}

/** The feature name a message claims, when it can be read (for dead letters); never throws. */
export function claimedFeatureName(
  value: Buffer | null | undefined,
  headers: MessageHeaders | undefined,
  maxBytes = defaultMaxCommandBytes,
): string {
  try {
    return decodeCommandMessage(value, headers, { maxBytes }).command.featureName;
  } catch {
    // damaged further on: the name may still be readable at its start
  }
  if (!value || value.length > maxBytes) return '';
  const contentType = headerText(headers, commandHeader.contentType)?.trim().toLowerCase();
  if (contentType === avroContentType) return (peekAvroFeatureName(value) ?? '').slice(0, 200);
  const m = /"feature_name"\s*:\s*"((?:[^"\\]|\\.){1,200})"/i.exec(
    value.subarray(0, 65_536).toString('utf8'),
  );
  return m ? m[1]! : '';
}

/**
 * The command of a dead letter's payload (origin `command`): the original JSON text, or
 * `base64:` and the original bytes when they were Avro or not text. For `ferry replay`.
 */
export function parseDeadLetterPayload(payload: string): RawCommand {
  if (!payload.startsWith('base64:')) return parseCommand(payload);
  const bytes = Buffer.from(payload.slice('base64:'.length), 'base64');
  try {
    return parseCommand(decodeCommandAvro(bytes));
  } catch (e) {
    // not Avro after all: maybe JSON that was not valid UTF-8
    try {
      return parseCommand(bytes);
    } catch {
      throw e;
    }
  }
}
