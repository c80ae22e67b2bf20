/**
 * Commands benchmark (issues 7 and 16): Kafka → the command consumer as users run it (`ferry
 * apply`, a `ferry worker` child process, `ferry downsync start --topic`: a Temporal workflow
 * running the consumer activity on the worker) → Cassandra (online), with the downsync of the
 * seed's match-feature (half the keys, 1-minute interval) to the BigQuery emulator (`ferry`), the
 * same without downsync (`ferry-no-downsync`: user-profile, updates of two fields), next to a raw
 * kafkajs consume loop (eachBatch + JSON.parse, no store) in this process as the baseline.
 *
 *   npm run bench:commands -- [--seconds=75] [--rate=5000] [--drain=100000] [--keys=100000]
 *                             [--sustained-seconds=40] [--only=raw,ferry,ferry-no-downsync]
 *                             [--warmup=3] [--max-rate=15000]
 *
 * Needs Kafka, Cassandra, Temporal and the BigQuery emulator (`bash infra/up.sh`). The steady run
 * lasts over a minute so that it crosses at least one boundary of match-feature's 1-minute
 * downsync interval, when the rows of every key updated in the past minute close at once (read
 * back from Cassandra and written to the warehouse while commands keep coming).
 *
 * Freshness is measured from outside the consumer (bench/command-probes.ts): every 50 ms the
 * benchmark sends a probe command of a key of its own on the same topic, stamped with its send
 * time, and polls Cassandra every 10 ms (at most 8 probes a poll) until the row is there;
 * freshness = found − sent. For the
 * raw loop it is the time the command is parsed.
 * For each consumer: (1) steady: a producer process sends `rate` commands/s for `seconds`, the
 * first `warmup` seconds not measured; (2) drain: `drain` commands are produced first, then the
 * consumer starts: applied/s = `drain` / (the last of 50 marker probes produced after the backlog
 * is found − a probe produced before the backlog is found), its maximum burst rate; (3)
 * sustained: steady again from 85 % of that rate, stepping down by 15 % until the consumer keeps
 * up (p99 freshness under 1 s and every probe found), capped at `max-rate`, about what the
 * producer process can send. Loopback servers only; each run uses a fresh topic, and the run a
 * fresh keyspace and dataset.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client as CassandraClient } from 'cassandra-driver';
import { projectRoot, siblingModule } from '../config/module-files.ts';
import { readSettings } from '../config/settings.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import type { BigQueryOfflineStore } from '../stores/offline/bigquery-offline-store.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { createKafka, deadLetterTopicOf } from '../streaming/commands/command-kafka.ts';
import { CommandProducer } from '../streaming/commands/command-producer.ts';
import { eventGroupOf } from '../workflow-contract/command-consumer-ids.ts';
import { CommandProbes } from './command-probes.ts';
import { runFerryCli } from './ferry-bin.ts';
import { type FerryWorkerProcess, startFerryWorker } from './ferry-worker-process.ts';
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
const dir = mkdtempSync(path.join(tmpdir(), 'ferry-commands-bench-'));
/** What `ferry apply`, `ferry worker` and `ferry downsync` run with: Ferry's features, the local servers. */
const ferryEnv: Record<string, string> = {
  FERRY_ONLINE_STORE: 'cassandra',
  FERRY_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${process.env.FERRY_CASSANDRA_PORT ?? 9042}`,
  FERRY_CASSANDRA_KEYSPACE: `ferry_bench_cmd_${id}`,
  FERRY_CASSANDRA_REPLICATION: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
  FERRY_CASSANDRA_CONSISTENCY: 'ONE',
  FERRY_OFFLINE_STORE: 'bigquery',
  FERRY_BIGQUERY_ENDPOINT: `http://127.0.0.1:${process.env.FERRY_BIGQUERY_PORT ?? 9050}`,
  FERRY_BIGQUERY_DATASET: `ferry_bench_cmd_${id}`,
  FERRY_KAFKA_BROKERS: brokers.join(','),
  FERRY_TEMPORAL_TASK_QUEUE: `bench-commands-${id}`,
  FERRY_FEATURES_DIR: path.join(projectRoot, 'features'),
  FERRY_SQL_DIR: path.join(projectRoot, 'sql'),
  FERRY_DATA_DIR: path.join(dir, 'data'),
};
const settings = readSettings({ ...process.env, ...ferryEnv });

const { definitions } = await loadDefinitions(['features']);
const def = definitions.find((d) => d.name === 'azar-match::match-feature')!;
/** The same path without downsync: the seed's user-profile (no downsync block). */
const plainDef = definitions.find((d) => d.name === 'azar::user-profile')!;
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
  /** Probes not found in the store 30 s after the run (ferry runs). */
  unread?: number;
}

const percentile = (sorted: ArrayLike<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

function summarise(fresh: ArrayLike<number>, count: number, perSecond: number): Run {
  return {
    count,
    perSecond,
    p50: percentile(fresh, 0.5),
    p99: percentile(fresh, 0.99),
    max: percentile(fresh, 1),
  };
}

type Kind = 'raw' | 'ferry' | 'ferry-no-downsync';
const featureOf = (kind: Kind) => (kind === 'ferry-no-downsync' ? plainDef : def);

// ------------------------------------------------------------------ the consumer users run

let worker: FerryWorkerProcess | undefined;
let online: Awaited<ReturnType<typeof openOnlineStore>> | undefined;
const producers: CommandProducer[] = [];
/** Probe keys: above the load's, never reused. */
let nextProbeKey = keys + 1_000_000;

/** `ferry apply` and `ferry worker`, once for every ferry run. */
async function ferryWorker(): Promise<void> {
  if (worker !== undefined) return;
  await runFerryCli(['apply'], ferryEnv, dir);
  worker = await startFerryWorker(ferryEnv, dir);
  online = await openOnlineStore(settings);
}

/** Probes of `kind`'s feature on `topic`. */
async function probesOn(kind: Kind, topic: string): Promise<CommandProbes> {
  await ferryWorker();
  const producer = await CommandProducer.connect({ brokers, topic });
  producers.push(producer);
  const f = featureOf(kind);
  const values =
    f === plainDef
      ? { level: 1, avg_chat_sec: 1 }
      : { recent_10min_match_count: 1, recent_10min_avg_chat_duration: 1 };
  const probes = new CommandProbes(producer, online!, f, nextProbeKey, values);
  nextProbeKey += 1_000_000;
  return probes;
}

/** `ferry downsync start|stop` for `topic`, a consumer group of its own. */
function downsync(action: 'start' | 'stop', topic: string): Promise<string> {
  const group = ['--topic', topic, '--group', `ferry-bench-${topic}`];
  const extra = action === 'start' ? ['--session-timeout', '10s'] : [];
  return runFerryCli(['downsync', action, ...group, ...extra], ferryEnv, dir);
}

/** Waits until the consumer applies a probe (it has joined its group and reads the topic). */
async function joined(probes: CommandProbes, what: string): Promise<void> {
  for (let attempt = 0; attempt < 12; attempt++) {
    await probes.send();
    if ((await probes.settle(5_000)).unread === 0) return;
  }
  throw new Error(`${what}: the consumer applied no probe in 60 s\n${worker?.log().slice(-2000)}`);
}

async function ferrySteady(kind: Kind, r: number, runSeconds: number): Promise<Run> {
  const topic = await freshTopic(`${kind}-steady-${r}`);
  const probes = await probesOn(kind, topic);
  await downsync('start', topic);
  try {
    await joined(probes, `${kind} steady`);
    const total = Math.round(r * runSeconds);
    const producing = produce(topic, r, total, featureOf(kind).name);
    await new Promise((done) => setTimeout(done, warmupMs));
    probes.start(50);
    const produced = await producing;
    probes.stop();
    const { unread } = await probes.settle(30_000);
    const fresh = probes.freshness();
    // applied/s is not observed from outside while the consumer keeps up: the offered rate was
    log(`${kind} steady ${r}/s: produced at ${Math.round((produced.sent / produced.ms) * 1000)}/s`);
    const out = { ...summarise(fresh, total, Number.NaN), unread };
    log(`${kind} steady ${r}/s: ${fresh.length} probes; ${JSON.stringify(out)}`);
    return out;
  } finally {
    probes.close();
    await downsync('stop', topic);
  }
}

async function ferryDrain(kind: Kind): Promise<Run> {
  const topic = await freshTopic(`${kind}-drain`);
  const probes = await probesOn(kind, topic);
  const first = await probes.send(); // before the backlog: found when the consumer starts on it
  const produced = await produce(topic, 0, drainCount, featureOf(kind).name);
  log(`${kind} drain: ${produced.sent} produced in ${produced.ms} ms`);
  const markers: number[] = [];
  for (let i = 0; i < 50; i++) markers.push(await probes.send()); // after it, on every partition
  await downsync('start', topic);
  try {
    const { unread } = await probes.settle(600_000);
    const start = probes.foundAt(first);
    const end = Math.max(...markers.map((k) => probes.foundAt(k) ?? Number.NaN));
    const out: Run = {
      ...summarise([], drainCount, start === undefined ? Number.NaN : (drainCount / (end - start)) * 1000),
      unread,
    };
    log(`${kind} drain: ${JSON.stringify(out)}`);
    return out;
  } finally {
    probes.close();
    await downsync('stop', topic);
  }
}

// ------------------------------------------------------------------ the baseline: a raw kafkajs loop

type RecordFn = (eventTimeMs: number, atMs: number) => void;

async function startRaw(topic: string, record: RecordFn): Promise<{ stop(): Promise<void> }> {
  const kafka = createKafka(brokers, 'ferry-bench-raw');
  const consumer = kafka.consumer({
    groupId: `raw-bench-${topic}`,
    sessionTimeout: 10_000,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joinedGroup = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
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
  await joinedGroup;
  return { stop: () => consumer.disconnect() };
}

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
  return {
    record,
    done,
    result: () => {
      const m = Math.min(n, fresh.length);
      return summarise(fresh.subarray(0, m).sort(), m, (m / Math.max(1, lastAt - firstAt)) * 1000);
    },
  };
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

async function rawSteady(r: number, runSeconds: number): Promise<Run> {
  const topic = await freshTopic(`raw-steady-${r}`);
  const total = Math.round(r * runSeconds);
  const rec = recorder(total, warmupMs);
  const consumer = await startRaw(topic, rec.record);
  await produce(topic, r, total);
  await within(rec.done, 120_000, `raw steady ${r}/s`).catch((e: Error) => log(e.message));
  await within(consumer.stop(), 120_000, 'raw consumer stop').catch((e: Error) => log(e.message));
  const out = rec.result();
  log(`raw steady ${r}/s: ${JSON.stringify(out)}`);
  return out;
}

async function rawDrain(): Promise<Run> {
  const topic = await freshTopic('raw-drain');
  await produce(topic, 0, drainCount);
  const rec = recorder(drainCount);
  const consumer = await startRaw(topic, rec.record);
  await within(rec.done, 600_000, 'raw drain').catch((e: Error) => log(e.message));
  await within(consumer.stop(), 120_000, 'raw consumer stop').catch((e: Error) => log(e.message));
  const out = { ...rec.result(), p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  log(`raw drain: ${JSON.stringify(out)}`);
  return out;
}

const steady = (kind: Kind, r: number, runSeconds = seconds) =>
  kind === 'raw' ? rawSteady(r, runSeconds) : ferrySteady(kind, r, runSeconds);
const drain = (kind: Kind) => (kind === 'raw' ? rawDrain() : ferryDrain(kind));
/** Keeps up: consumes the offered rate (raw) or every probe is found, with p99 freshness under 1 s. */
const keptUp = (run: Run, r: number) =>
  run.p99 < 1_000 && (run.unread === undefined ? run.perSecond >= r * 0.95 : run.unread === 0);

// ------------------------------------------------------------------ run

const results: { [k: string]: Run } = {};
try {
  for (const kind of ['raw', 'ferry', 'ferry-no-downsync'] as Kind[]) {
    if (!only.has(kind)) continue;
    results[`${kind} steady`] = { ...(await steady(kind, rate)), rate };
    const max = await drain(kind);
    results[`${kind} drain`] = max;
    // the highest rate it keeps up with: from 85 % of the drain rate (capped by the producer) down
    // in steps of 15 %
    let r = Math.min(producerCap, Math.round((max.perSecond * 0.85) / 100) * 100);
    for (let attempt = 0; attempt < 4 && r > 0; attempt++) {
      const run = await steady(kind, r, sustainedSeconds);
      results[`${kind} sustained`] = { ...run, rate: r };
      if (keptUp(run, r)) break;
      r = Math.round((r * 0.85) / 100) * 100;
    }
  }
} finally {
  // each step bounded: a server that hangs must not keep the benchmark from reporting
  const step = (what: string, p: Promise<unknown>) =>
    within(p, 60_000, `cleanup: ${what}`).catch((e: Error) => log(e.message));
  for (const p of producers) await step('probe producer', p.close());
  if (worker !== undefined) {
    // the consumers `ferry apply` started for the features fed by domain events
    for (const t of new Set(definitions.flatMap((d) => (d.fromEvents ? [d.fromEvents.topic] : []))))
      await step(
        `event consumer of ${t}`,
        runFerryCli(['downsync', 'stop', '--topic', t, '--group', eventGroupOf(t)], ferryEnv, dir),
      );
    await step('ferry worker', worker.stop());
  }
  await step('topics', admin.deleteTopics({ topics }));
  await step('admin', admin.disconnect());
  if (online !== undefined) await step('online store', online.close());
  const offline = await openOfflineStore(settings);
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
  rmSync(dir, { recursive: true, force: true });
}

const ms = (x: number) => (Number.isNaN(x) ? '–' : x < 10 ? x.toFixed(1) : Math.round(x).toString());
console.log(
  '\n| run | offered/s | commands | applied/s | freshness p50 (ms) | p99 (ms) | max (ms) | probes unread | kept up |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
for (const [name, r] of Object.entries(results)) {
  const applied = Number.isNaN(r.perSecond) ? '–' : Math.round(r.perSecond).toString();
  const kept = r.rate === undefined ? '' : keptUp(r, r.rate) ? 'yes' : 'no';
  console.log(
    `| ${name} | ${r.rate ?? 'backlog'} | ${r.count} | ${applied} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.unread ?? ''} | ${kept} |`,
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
