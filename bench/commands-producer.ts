/**
 * The load generator of bench/commands.bench.ts, in its own process so that producing does not
 * share the consumer's event loop. Sends `count` commands of match-feature to `topic` at `rate`
 * per second (0: as fast as it can), each stamped with its send time as event time.
 *
 *   node --import tsx bench/commands-producer.ts '{"topic":"...","rate":5000,"count":100000,"keys":100000}'
 *
 * Prints a JSON line per second ({"sent":n}) and one at the end ({"done":true,"sent":n,"ms":t}).
 */
import { encodeCommandMessage } from '../domain/commands/command-message.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import { CommandProducer } from '../streaming/commands/command-producer.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as {
  brokers?: string[];
  topic: string;
  rate: number;
  count: number;
  keys: number;
  /** match-feature (downsync on, the default) or user-profile (no downsync). */
  feature?: 'azar-match::match-feature' | 'azar::user-profile';
};
const { definitions } = await loadDefinitions(['features']);
const def = definitions.find((d) => d.name === (args.feature ?? 'azar-match::match-feature'))!;
const producer = await CommandProducer.connect({
  brokers: args.brokers ?? ['127.0.0.1:9092'],
  topic: args.topic,
});

let sent = 0;
let seq = 0;
const message = (now: number) =>
  encodeCommandMessage(def, {
    feature: def.name,
    method: 'UPDATE',
    keys: { user_id: Math.floor(Math.random() * args.keys) },
    values:
      def.name === 'azar::user-profile'
        ? { level: seq++ % 50, avg_chat_sec: Math.round(Math.random() * 6000) / 10 }
        : {
            recent_10min_match_count: seq++ % 50,
            recent_10min_avg_chat_duration: Math.round(Math.random() * 6000) / 10,
          },
    eventTimeMs: now,
  });

const started = Date.now();
let lastReport = started;
const tickMs = 10;
while (sent < args.count) {
  const now = Date.now();
  // paced: what the rate allows by now; unpaced: batches of 1,000
  const due =
    args.rate > 0 ? Math.min(args.count, Math.floor(((now - started) * args.rate) / 1000)) : sent + 1_000;
  // at most 2,000 per request (a request must stay under the broker's 1 MB)
  const n = Math.min(due, args.count, sent + 2_000) - sent;
  if (n > 0) {
    const batch = Array.from({ length: n }, () => message(Date.now()));
    await producer.sendMessages(batch);
    sent += n;
  }
  if (Date.now() - lastReport >= 1_000) {
    lastReport = Date.now();
    console.log(JSON.stringify({ sent }));
  }
  if (args.rate > 0) await new Promise((r) => setTimeout(r, tickMs));
}
console.log(JSON.stringify({ done: true, sent, ms: Date.now() - started }));
await producer.close();
