import { readSettings } from '../config/settings.ts';
import { type CommandFormat, commandMessageKey } from '../domain/commands/command-message.ts';
import { CommandError, type CommandMethod } from '../domain/commands/feature-command.ts';
import { validateCommand } from '../domain/commands/validate-command.ts';
import { eventTimeField } from '../domain/definitions/feature-definition.ts';
import { kindOf } from '../domain/kinds/feature-kinds.ts';
import { FeatureCatalog } from '../stores/registry/feature-catalog.ts';
import { kafkaBrokersOf } from '../streaming/commands/command-kafka.ts';
import { CommandProducer } from '../streaming/commands/command-producer.ts';
import { loadLocalDefinitions } from './apply-context.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry send <feature> --keys k=v[,k=v...] [--values f=v[,f=v...]] [options]

Publishes one feature command to the commands topic, for testing by hand. The command is checked
against the feature's definition in the features folder first; the command consumer applies it
(and downsyncs it when the feature has downsync on).

Options:
  --keys k=v,...       every key field; repeat the option or separate pairs with commas
  --values f=v,...     value fields; a value is read as JSON when it parses (7, 0.5, true,
                       ["a","b"], "text"), otherwise as text
  --method M           UPDATE (Object features' default), APPEND (History features' default)
                       or DELETE
  --event-time T       ${eventTimeField}: epoch milliseconds or an ISO-8601 time (default: now)
  --producer NAME      the ferry-producer header, checked against the feature's writers
  --format json|avro   message encoding (default json)
  --topic NAME         default: FERRY_KAFKA_COMMANDS_TOPIC
  --json               print the sent message and where it landed as JSON

Example:
  ferry send azar::user-profile --keys user_id=1001 --values level=7 --producer ksqldb`;

/** Splits `a=1,b=[1,2],c="x,y"` at the commas outside brackets and quotes. */
export function splitPairs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** `k=v` pairs of the options into a map; a value is JSON when it parses, text otherwise. */
export function parsePairs(option: string, texts: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of texts.flatMap(splitPairs)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${option}: expected name=value, got "${pair}"`);
    const name = pair.slice(0, eq).trim();
    const text = pair.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // plain text
    }
    out[name] = value;
  }
  return out;
}

function parseEventTime(text: string | undefined): number {
  if (text === undefined) return Date.now();
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new UsageError(`--event-time: expected epoch milliseconds or an ISO-8601 time, got "${text}"`);
  return t;
}

export const sendCommand: Command = {
  name: 'send',
  usage,
  run: (args) =>
    runCommand('send', usage, async () => {
      const { values: o, positionals } = parseOptions(args, {
        keys: { type: 'string', multiple: true },
        values: { type: 'string', multiple: true },
        method: { type: 'string' },
        'event-time': { type: 'string' },
        producer: { type: 'string' },
        format: { type: 'string' },
        topic: { type: 'string' },
        json: { type: 'boolean' },
      });
      if (positionals.length !== 1) throw new UsageError('name one feature');
      if (!o.keys?.length) throw new UsageError('--keys is required');
      const format = (o.format ?? 'json') as CommandFormat;
      if (format !== 'json' && format !== 'avro')
        throw new UsageError(`--format: json or avro, got "${o.format}"`);
      const settings = readSettings();
      const catalog = new FeatureCatalog(await loadLocalDefinitions(settings));
      const resolved = catalog.resolve(positionals[0]!);
      if ('problem' in resolved) throw new Error(resolved.problem);
      const def = resolved.definition;
      const method = (o.method?.toUpperCase() ?? kindOf(def).writeMethod) as CommandMethod;
      const values = {
        ...parsePairs('values', o.values ?? []),
        [eventTimeField]: parseEventTime(o['event-time']),
      };
      let command: ReturnType<typeof validateCommand>;
      try {
        command = validateCommand(
          { featureName: def.name, method, keys: parsePairs('keys', o.keys), values },
          def,
          o.producer,
        );
      } catch (e) {
        if (e instanceof CommandError) throw new Error(`the command would be refused: ${e.message}`);
        throw e;
      }
      const topic = o.topic ?? settings.kafkaCommandsTopic;
      const producer = await CommandProducer.connect({
        brokers: kafkaBrokersOf(settings),
        topic,
        clientId: 'ferry-send',
        format,
      });
      try {
        const [meta] = await producer.send([{ def, command }], { producer: o.producer });
        const where = { topic, partition: meta?.partition, offset: meta?.baseOffset };
        if (o.json) {
          console.log(
            JSON.stringify({ ...where, key: commandMessageKey(def, command.keys), format, command }, null, 2),
          );
        } else {
          console.log(
            `sent ${command.method} ${def.name} ${JSON.stringify(command.keys)} to ${topic} partition ${where.partition} offset ${where.offset}`,
          );
        }
      } finally {
        await producer.close();
      }
      return 0;
    }),
};
