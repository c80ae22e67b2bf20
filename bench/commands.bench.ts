/**
 * Commands benchmark (issue 7): Kafka → command consumer → Cassandra (online), with the downsync
 * of the seed's match-feature (half the keys, 1-minute interval) to the BigQuery emulator
 * (`ferry`), the same without downsync (`ferry-no-downsync`: user-profile, updates of two
 * fields), next to a raw kafkajs consume loop (eachBatch + JSON.parse, no store) as the baseline.
 *
 *   npx tsx bench/commands.bench.ts [--seconds=75] [--rate=5000] [--drain=100000] [--keys=100000]
 *                                   [--sustained-seconds=40] [--only=raw,ferry,ferry-no-downsync]
 *                                   [--warmup=3]
 *                                   [--max-rate=15000]
 *
 * The steady run lasts over a minute so that it crosses at least one boundary of match-feature's
 * 1-minute downsync interval, when the rows of every key updated in the past minute close at once
 * (read back from Cassandra and written to the warehouse while commands keep coming).
 *
 * For each consumer: (1) steady: a producer process sends `rate` commands/s for `seconds`;
 * freshness = the time the command is readable (online write acknowledged; raw: parsed) minus
 * its produce time (its `_last_updated_at_ms`); (2) drain: `drain` commands are produced first,
 * then the consumer starts: commands applied/s is its maximum burst rate; (3) sustained: steady
 * again from 85 % of that rate, stepping down by 15 % until the consumer keeps up (applied/s at
 * least 95 % of the offered rate and p99 freshness under 1 s): the maximum sustained rate.
 * The first `warmup` seconds of a steady run (connections, prepared statements, the offline
 * table's creation) are consumed but not measured. The sustained rate is capped at `max-rate`,
 * about what the producer process can send. Loopback servers only (infra/up.sh); each run uses a
 * fresh topic, keyspace and dataset.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client as CassandraClient } from 'cassandra-driver';
import { siblingModule } from '../config/module-files.ts';
import { readSettings } from '../config/settings.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import type { BigQueryOfflineStore } from '../stores/offline/bigquery-offline-store.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { CommandConsumer } from '../streaming/commands/command-consumer.ts';
import { createKafka, deadLetterTopicOf } from '../streaming/commands/command-kafka.ts';
import { staticResolver } from '../streaming/commands/feature-resolver.ts';
import { tsxIfSources } from './node-loader.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '75' },
    'sustained-seconds': { type: 'string', default: '40' },
    rate: { type: 'string', default: '5000' },
    drain: { type: 'string', default: '100000' },
    keys: { type: 'string', default: '100000' },
    only: { type: 'string', default: 'raw,ferry,ferry-no-downsync' },
    warmup: { type: 'string', default: '3' },
    'max-rate': { type: 'string', default: '15000' },
  },
});
const seconds = Number(args.seconds);
const sustainedSeconds = Number(args['sustained-seconds']);
const rate = Number(args.rate);
const drainCount = Number(args.drain);
const keys = Number(args.keys);
const only = new Set(args.only!.split(','));
const warmupMs = Number(args.warmup) * 1000;
/** The producer process tops out near this (idempotent, one request in flight). */
const producerCap = Number(args['max-rate']);
const brokers = [`127.0.0.1:${process.env.FERRY_KAFKA_PORT ?? 9092}`];
const id = `${process.pid}_${Date.now()}`;
const settings = readSettings({
  ...process.env,
  FERRY_ONLINE_STORE: 'cassandra',
  FERRY_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${process.env.FERRY_CASSANDRA_PORT ?? 9042}`,
  FERRY_CASSANDRA_KEYSPACE: `ferry_bench_cmd_${id}`,
  FERRY_CASSANDRA_CONSISTENCY: 'ONE',
  FERRY_OFFLINE_STORE: 'bigquery',
  FERRY_BIGQUERY_ENDPOINT: `http://127.0.0.1:${process.env.FERRY_BIGQUERY_PORT ?? 9050}`,
  FERRY_BIGQUERY_DATASET: `ferry_bench_cmd_${id}`,
  FERRY_KAFKA_BROKERS: brokers.join(','),
});

const { definitions } = await loadDefinitions(['features']);
const def = definitions.find((d) => d.name === 'azar-match::match-feature')!;
/** The same path without downsync: the seed's user-profile (no downsync block). */
const plainDef = definitions.find((d) => d.name === 'azar::user-profile')!;
const online = await openOnlineStore(settings);
const offline = await openOfflineStore(settings);
await online.ensureFeature(def);
await online.ensureFeature({ ...plainDef, retention: {} });
const admin = createKafka(brokers, 'ferry-bench-admin').admin();
await admin.connect();
const topics: string[] = [];
const log = (s: string) => console.error(`[bench] ${s}`);

async function freshTopic(name: string): Promise<string> {
  const topic = `ferry-bench-${name}-${id}`;
  await admin.createTopics({
    topics: [
      { topic, numPartitions: 6, replicationFactor: 1 },
      { topic: deadLetterTopicOf(topic), numPartitions: 1, replicationFactor: 1 },
    ],
    waitForLeaders: true,
  });
  topics.push(topic, deadLetterTopicOf(topic));
  return topic;
}

/** Runs the producer process to the end. */
function produce(
  topic: string,
  r: number,
  count: number,
  feature = def.name,
): Promise<{ sent: number; ms: number }> {
  const child = spawn(
    process.execPath,
    [
      ...tsxIfSources(import.meta.url),
      fileURLToPath(siblingModule(import.meta.url, './commands-producer')),
      JSON.stringify({ brokers, topic, rate: r, count, keys, feature }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let last = '';
    child.stdout.on('data', (c: Buffer) => {
      last = c.toString().trim().split('\n').pop() ?? last;
    });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`producer exited with ${code}`));
      else resolve(JSON.parse(last) as { sent: number; ms: number });
    });
  });
}

interface Run {
  /** The offered rate (steady runs). */
  rate?: number;
  count: number;
  /** Commands consumed per second between the first and the last one. */
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

function summarise(fresh: Float64Array, n: number, firstAt: number, lastAt: number): Run {
  const sorted = fresh.subarray(0, n).sort();
  const at = (p: number) => sorted[Math.min(n - 1, Math.floor(p * n))] ?? Number.NaN;
  return {
    count: n,
    perSecond: (n / Math.max(1, lastAt - firstAt)) * 1000,
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
  };
}

/** A consumer under test: started on a topic, it records each command's freshness. */
interface Consumer {
  stop(): Promise<void>;
}

type RecordFn = (eventTimeMs: number, atMs: number) => void;

async function startFerry(topic: string, record: RecordFn): Promise<Consumer> {
  const stop = new AbortController();
  const consumer = new CommandConsumer(
    { online, offline, resolver: staticResolver([def, { ...plainDef, retention: {} }]) },
    { brokers, topic, groupId: `ferry-bench-${topic}`, sessionTimeoutMs: 10_000, log: (_l, m) => log(m) },
  );
  let joined!: () => void;
  const ready = new Promise<void>((r) => {
    joined = r;
  });
  const running = consumer.run(stop.signal, {
    onProgress: (s) => {
      if (s.assigned.length > 0) joined();
    },
    onApplied: (_d, applied, atMs) => {
      for (const a of applied) record(a.command.eventTimeMs, atMs);
    },
  });
  await Promise.race([ready, running]);
  return {
    stop: async () => {
      stop.abort();
      const stats = await running;
      log(
        `ferry consumer: ${stats.applied} applied, ${stats.downsync.written} downsync rows written, ${stats.downsync.pending} pending, ${stats.commits} commits`,
      );
    },
  };
}

async function startRaw(topic: string, record: RecordFn): Promise<Consumer> {
  const kafka = createKafka(brokers, 'ferry-bench-raw');
  const consumer = kafka.consumer({
    groupId: `raw-bench-${topic}`,
    sessionTimeout: 10_000,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        const cmd = JSON.parse(m.value!.toString()) as { values: { _last_updated_at_ms: number } };
        record(cmd.values._last_updated_at_ms, now);
      }
    },
  });
  await joined;
  return { stop: () => consumer.disconnect() };
}

type Kind = 'raw' | 'ferry' | 'ferry-no-downsync';
const start = (kind: Kind, topic: string, record: RecordFn) =>
  kind === 'raw' ? startRaw(topic, record) : startFerry(topic, record);
const featureOf = (kind: Kind) => (kind === 'ferry-no-downsync' ? plainDef.name : def.name);

/** Collects freshness; with `warmupMs`, the commands produced in the first moments of a run are counted but not measured. */
function recorder(total: number, warmupMs = 0) {
  const fresh = new Float64Array(total * 2);
  let n = 0;
  let seen = 0;
  let startedAt = 0;
  let firstAt = 0;
  let lastAt = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const record: RecordFn = (eventTimeMs, atMs) => {
    if (seen === 0) startedAt = eventTimeMs;
    seen++;
    if (seen >= total) resolveDone();
    if (eventTimeMs - startedAt < warmupMs) return;
    if (n === 0) firstAt = atMs;
    lastAt = atMs;
    if (n < fresh.length) fresh[n] = atMs - eventTimeMs;
    n++;
  };
  return { record, done, result: () => summarise(fresh, Math.min(n, fresh.length), firstAt, lastAt) };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`${what}: not done in ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** Steady load: `r` commands/s for `seconds`. */
async function steady(kind: Kind, r: number, runSeconds = seconds): Promise<Run> {
  const topic = await freshTopic(`${kind}-steady-${r}`);
  const total = Math.round(r * runSeconds);
  const rec = recorder(total, warmupMs);
  const consumer = await start(kind, topic, rec.record);
  const produced = await produce(topic, r, total, featureOf(kind));
  await within(rec.done, 120_000, `${kind} steady ${r}/s`).catch((e: Error) => log(e.message));
  await within(consumer.stop(), 120_000, `${kind} consumer stop`).catch((e: Error) => log(e.message));
  const out = rec.result();
  log(
    `${kind} steady ${r}/s: produced at ${Math.round((produced.sent / produced.ms) * 1000)}/s; ${JSON.stringify(out)}`,
  );
  return out;
}

/** Backlog first, then the consumer: its drain rate is its maximum. */
async function drain(kind: Kind): Promise<Run> {
  const topic = await freshTopic(`${kind}-drain`);
  const produced = await produce(topic, 0, drainCount, featureOf(kind));
  log(`${kind} drain: ${produced.sent} produced in ${produced.ms} ms`);
  const rec = recorder(drainCount);
  const consumer = await start(kind, topic, rec.record);
  await within(rec.done, 600_000, `${kind} drain`).catch((e: Error) => log(e.message));
  await within(consumer.stop(), 120_000, `${kind} consumer stop`).catch((e: Error) => log(e.message));
  const out = rec.result();
  log(`${kind} drain: ${JSON.stringify(out)}`);
  return out;
}

const results: { [k: string]: Run } = {};
try {
  for (const kind of ['raw', 'ferry', 'ferry-no-downsync'] as Kind[]) {
    if (!only.has(kind)) continue;
    results[`${kind} steady`] = { ...(await steady(kind, rate)), rate };
    const max = await drain(kind);
    results[`${kind} drain`] = max;
    // the highest rate it keeps up with: from 85 % of the drain rate (capped by the producer) down
    // in steps of 15 % until it consumes at the offered rate with p99 freshness under 1 s
    let r = Math.min(producerCap, Math.round((max.perSecond * 0.85) / 100) * 100);
    for (let attempt = 0; attempt < 4; attempt++) {
      const run = await steady(kind, r, sustainedSeconds);
      results[`${kind} sustained`] = { ...run, rate: r };
      if (run.perSecond >= r * 0.95 && run.p99 < 1_000) break;
      r = Math.round((r * 0.85) / 100) * 100;
    }
  }
} finally {
  // each step bounded: a server that hangs must not keep the benchmark from reporting
  const step = (what: string, p: Promise<unknown>) =>
    within(p, 60_000, `cleanup: ${what}`).catch((e: Error) => log(e.message));
  await step('topics', admin.deleteTopics({ topics }));
  await step('admin', admin.disconnect());
  await step('online store', online.close());
  await step('dataset', (offline as BigQueryOfflineStore).dropDataset?.() ?? Promise.resolve());
  await step('offline store', offline.close());
  const c = new CassandraClient({
    contactPoints: [settings.cassandraContactPoints],
    localDataCenter: settings.cassandraLocalDc,
  });
  await step(
    'keyspace',
    (async () => {
      await c.connect();
      await c.execute(`DROP KEYSPACE IF EXISTS ${settings.cassandraKeyspace}`);
      await c.shutdown();
    })(),
  );
}

const ms = (x: number) => (x < 10 ? x.toFixed(1) : Math.round(x).toString());
console.log(
  `\n| run | offered/s | commands measured | applied/s | freshness p50 (ms) | p99 (ms) | max (ms) |`,
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [name, r] of Object.entries(results)) {
  const drained = name.endsWith('drain');
  const f = (x: number) => (drained ? '–' : ms(x));
  console.log(
    `| ${name} | ${r.rate ?? 'backlog'} | ${r.count} | ${Math.round(r.perSecond)} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} |`,
  );
}
console.log(
  `\nload average at the end: ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);

// a client that did not close must not keep the process alive
process.exit(0);
