/**
 * Aggregations as users run them (issue 18): domain events on Kafka → the event consumer of
 * `ferry worker` (a child process, its Temporal workflow) → Cassandra, and lookups through
 * `ferry serve` (the reader process, compiled JavaScript). The Aggregation feature has count,
 * sum and avg over 10 minutes, 1 hour, 30 days and lifetime; its baseline, in the same run, is the
 * same events writing one Object value per event (a from_events UPDATE rule: the commands path
 * of one Object value, through the same consumer).
 *
 *   npm run bench:aggregations -- [--events=100000] [--keys=20000] [--seconds=8] [--connections=20] [--store=cassandra|embedded]
 *
 * Ingest: the events (keyed by user, as a match backend publishes them; event times spread over
 * two days, not following the key) are produced first, then `ferry worker` starts and drains
 * them; events/s = events applied between the first and the last commit of the consumer group /
 * that time. Each feature drains alone (the worker is restarted between them). Reads: wrk
 * (-t1) POSTs /v1/features/lookup with 1 or 100 uniform keys for --seconds, the reader's cache off
 * (FERRY_READER_CACHE_MB=0: every key from the store) and on (both features with a 10 minute TTL
 * from a cache file, every key read once before: every key from the cache; an Aggregation is
 * cached only with such a bound on its staleness, which its users choose). Each side is
 * measured twice, in the order Object, Aggregation, Aggregation, Object, and its figures averaged.
 *
 * Needs Kafka, Cassandra, Temporal and the BigQuery emulator (`bash infra/up.sh`) and wrk.
 * Loopback servers only; a fresh keyspace, dataset and topics per run, dropped at the end.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client as CassandraClient } from 'cassandra-driver';
import { projectRoot } from '../config/module-files.ts';
import { readSettings } from '../config/settings.ts';
import type { BigQueryOfflineStore } from '../stores/offline/bigquery-offline-store.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import { createKafka, deadLetterTopicOf } from '../streaming/commands/command-kafka.ts';
import { CommandProducer } from '../streaming/commands/command-producer.ts';
import { eventGroupOf } from '../workflow-contract/command-consumer-ids.ts';
import { runFerryCli } from './ferry-bin.ts';
import { ferryServe } from './ferry-serve-process.ts';
import { startFerryWorker } from './ferry-worker-process.ts';
import { seededRandom } from './seeded-random.ts';
import { requireWrk, runWrk, type WrkResult } from './wrk-load.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    keys: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '20' },
    store: { type: 'string', default: 'cassandra' },
  },
});
if (args.store !== 'cassandra' && args.store !== 'embedded')
  throw new Error(`--store=${args.store}: use cassandra or embedded`);
const onlineStore = args.store;
const eventCount = Number(args.events);
const keyCount = Number(args.keys);
const seconds = Number(args.seconds);
const connections = Number(args.connections);
requireWrk();

const id = `${process.pid}_${Date.now()}`;
const dir = mkdtempSync(path.join(tmpdir(), 'ferry-agg-path-'));
const brokers = [`127.0.0.1:${process.env.FERRY_KAFKA_PORT ?? 9092}`];
const topics = {
  aggregation: `bench_agg_events_${id}`,
  object: `bench_obj_events_${id}`,
  wide: `bench_wide_events_${id}`,
};
const features = {
  aggregation: 'bench::match-stats',
  object: 'bench::last-match',
  // a second baseline for reads: an Object answering with the same 12 values (the same bytes)
  wide: 'bench::wide-match',
};
const keyspace = `ferry_bench_aggp_${id}`;
const log = (s: string) => console.error(`[bench] ${s}`);

const windows = ['10m', '1h', '30d', 'lifetime'];
const aggregateFields = windows
  .flatMap((w) => {
    const n = w === 'lifetime' ? 'lifetime' : w;
    return [
      `    match_count_${n}: { aggregate: { function: count, window: ${w} } }`,
      `    chat_seconds_${n}: { aggregate: { function: sum, of: chat_duration, window: ${w} } }`,
      `    avg_chat_${n}: { aggregate: { function: avg, of: chat_duration, window: ${w} } }`,
    ];
  })
  .join('\n');
const aggregateNames = windows.flatMap((w) => {
  const n = w === 'lifetime' ? 'lifetime' : w;
  return [`match_count_${n}`, `chat_seconds_${n}`, `avg_chat_${n}`];
});
const featuresDir = path.join(dir, 'features');
mkdirSync(featuresDir);
writeFileSync(
  path.join(featuresDir, 'bench.yaml'),
  `bench::match-stats:
  feature_type: Aggregation
  owner: bench
  schema:
    user_id: { type: Long, is_key_field: true }
    chat_duration: { type: Long }
${aggregateFields}
  aggregation:
    allowed_lateness: 1h
  access:
    readers: ["*"]
  from_events:
    topic: ${topics.aggregation}
    event_time: timestampMillis
    rules:
      - name: match
        keys: { user_id: userId }
        values: { _event_id: matchId, chat_duration: chat_duration }
bench::last-match:
  feature_type: Object
  owner: bench
  schema:
    user_id: { type: Long, is_key_field: true }
    chat_duration: { type: Long, default_value: 0 }
  access:
    readers: ["*"]
  from_events:
    topic: ${topics.object}
    event_time: timestampMillis
    rules:
      - name: match
        keys: { user_id: userId }
        values: { chat_duration: chat_duration }
bench::wide-match:
  feature_type: Object
  owner: bench
  schema:
    user_id: { type: Long, is_key_field: true }
${aggregateNames.map((n) => `    ${n}: { type: Double, default_value: 0 }`).join('\n')}
  access:
    readers: ["*"]
  from_events:
    topic: ${topics.wide}
    event_time: timestampMillis
    rules:
      - name: match
        keys: { user_id: userId }
        values: { ${aggregateNames.map((n) => `${n}: chat_duration`).join(', ')} }
`,
);
const cacheFile = path.join(dir, 'reader-cache.yaml');
// from cache: both features kept 10 minutes (longer than the measurement), every key read once first
writeFileSync(
  cacheFile,
  `features:\n${Object.values(features)
    .map((f) => `  ${f}: { ttl: 10m }\n`)
    .join('')}`,
);

const env: Record<string, string> = {
  FERRY_ONLINE_STORE: onlineStore,
  FERRY_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${process.env.FERRY_CASSANDRA_PORT ?? 9042}`,
  FERRY_CASSANDRA_KEYSPACE: keyspace,
  FERRY_CASSANDRA_REPLICATION: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
  FERRY_CASSANDRA_CONSISTENCY: 'ONE',
  FERRY_OFFLINE_STORE: 'bigquery',
  FERRY_BIGQUERY_ENDPOINT: `http://127.0.0.1:${process.env.FERRY_BIGQUERY_PORT ?? 9050}`,
  FERRY_BIGQUERY_DATASET: `ferry_bench_aggp_${id}`,
  FERRY_KAFKA_BROKERS: brokers.join(','),
  FERRY_TEMPORAL_TASK_QUEUE: `bench-aggregations-${id}`,
  FERRY_FEATURES_DIR: featuresDir,
  FERRY_SQL_DIR: path.join(projectRoot, 'sql'),
  FERRY_TOKENS_FILE: path.join(projectRoot, 'tokens.yaml'),
  FERRY_DATA_DIR: path.join(dir, 'data'),
};
const token = 'ferry-sample-app-token';

const kafka = createKafka(brokers, 'ferry-bench-aggregations');
const admin = kafka.admin();
await admin.connect();

/** The same events for both features: keyed by user, times over two days that do not follow the key. */
function events(): { key: string; value: string }[] {
  const rnd = seededRandom(18);
  const now = Date.now();
  const out: { key: string; value: string }[] = [];
  for (let i = 0; i < eventCount; i++) {
    const userId = 1 + Math.floor(rnd() * keyCount);
    const e = {
      matchId: `m${i}`,
      userId,
      chat_duration: Math.floor(rnd() * 600),
      // rising overall (a stream), a few seconds of disorder
      timestampMillis:
        now - 2 * 86_400_000 + Math.floor((i / eventCount) * 2 * 86_400_000) - Math.floor(rnd() * 5_000),
    };
    out.push({ key: String(userId), value: JSON.stringify(e) });
  }
  return out;
}

async function committed(topic: string): Promise<number> {
  const [c] = await admin.fetchOffsets({ groupId: eventGroupOf(topic), topics: [topic] });
  return (c?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

/** Produces the backlog, starts `ferry worker`, and times the consumer group from its first commit to the end. */
async function drain(which: keyof typeof topics, all: { key: string; value: string }[]) {
  const topic = topics[which];
  const producer = await CommandProducer.connect({ brokers, topic });
  for (let i = 0; i < all.length; i += 5_000) await producer.sendMessages(all.slice(i, i + 5_000));
  await producer.close();
  const worker = await startFerryWorker(env, projectRoot);
  const ready = performance.now();
  try {
    // from the first commit (the consumer has joined its group); from the worker's start when the
    // first commit is already the end (a backlog smaller than a few batches)
    let first: { at: number; n: number } | undefined;
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      const n = await committed(topic);
      const at = performance.now();
      if (n > 0 && first === undefined) first = n >= all.length ? { at: ready, n: 0 } : { at, n };
      if (n >= all.length) {
        const ms = at - first!.at;
        return { events: n - first!.n, ms, perSecond: ((n - first!.n) * 1000) / Math.max(1, ms) };
      }
      if (Date.now() > deadline) throw new Error(`${which}: ${n} of ${all.length} after 30 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await worker.stop();
  }
}

/** Two runs of one side as one: their latencies and rates averaged, their counts summed. */
function meanOf(x: WrkResult, y: WrkResult): WrkResult {
  const mean = (k: 'rps' | 'p50_us' | 'p99_us' | 'p999_us') => (x[k] + y[k]) / 2;
  return {
    requests: x.requests + y.requests,
    seconds: x.seconds + y.seconds,
    rps: mean('rps'),
    p50_us: mean('p50_us'),
    p99_us: mean('p99_us'),
    p999_us: mean('p999_us'),
    max_us: Math.max(x.max_us, y.max_us),
    socket_errors: x.socket_errors + y.socket_errors,
    non2xx: x.non2xx + y.non2xx,
  };
}

const rows: string[] = [];
const fmt = (x: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(x);
try {
  log(`ferry apply (topics ${Object.values(topics).join(', ')})`);
  await runFerryCli(['apply'], env, projectRoot);
  const all = events();
  log(`draining ${eventCount} events of ${keyCount} users into ${features.object}`);
  const object = await drain('object', all);
  log(`draining ${eventCount} events of ${keyCount} users into ${features.aggregation}`);
  const aggregation = await drain('aggregation', all);
  log(`draining ${eventCount} events of ${keyCount} users into ${features.wide}`);
  await drain('wide', all);
  rows.push(
    `| ingest through ferry worker (events/s) | ${fmt(aggregation.perSecond)} | ${fmt(object.perSecond)} | ${(aggregation.perSecond / object.perSecond).toFixed(2)}x |`,
  );

  for (const cache of ['off', 'on'] as const) {
    const server = await ferryServe({
      ...env,
      FERRY_READER_THREADS: '1',
      // from cache: room for every row of the three features (about 60 MB in the default 64)
      ...(cache === 'off'
        ? { FERRY_READER_CACHE_MB: '0' }
        : { FERRY_READER_CACHE_FILE: cacheFile, FERRY_READER_CACHE_MB: '512' }),
    });
    try {
      const lookup = async (feature: string, keys: number[]) => {
        const res = await fetch(`http://127.0.0.1:${server.port}/v1/features/lookup`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ feature, keys }),
        });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`${feature}: ${res.status} ${text}`);
        return Buffer.byteLength(text);
      };
      for (const feature of Object.values(features)) {
        await lookup(feature, [1]);
        // from cache: every key in it before the measurement
        if (cache === 'on')
          for (let k = 1; k <= keyCount; k += 100)
            await lookup(
              feature,
              Array.from({ length: Math.min(100, keyCount - k + 1) }, (_, j) => k + j),
            );
      }
      if (cache === 'off') {
        // what a response carries: the Aggregation serves 12 values a key, the Object 1
        const keys = Array.from({ length: 100 }, (_, j) => 1 + j);
        rows.push(
          `| response bytes, 100 keys | ${fmt(await lookup(features.aggregation, keys))} | ${fmt(await lookup(features.object, keys))} | - |`,
          `| response bytes, 100 keys: ${features.wide} (the same 12 values as an Object) | ${fmt(await lookup(features.aggregation, keys))} | ${fmt(await lookup(features.wide, keys))} | - |`,
        );
      }
      for (const batch of [1, 100]) {
        const run = (feature: string): Promise<WrkResult> =>
          runWrk({
            port: server.port,
            feature,
            keys: keyCount,
            batch,
            dist: 'uniform',
            seconds,
            connections,
            token,
          });
        // warm the connections and the JIT, then measure in the order Object, wide Object,
        // Aggregation, Aggregation, wide Object, Object (the store still compacting what the ingest
        // wrote, or this machine's other work, then weighs on all alike), each side's figures the
        // mean of its two runs
        for (const f of Object.values(features)) await run(f);
        const o1 = await run(features.object);
        const w1 = await run(features.wide);
        const a1 = await run(features.aggregation);
        const a2 = await run(features.aggregation);
        const w2 = await run(features.wide);
        const o2 = await run(features.object);
        const o = meanOf(o1, o2);
        const w = meanOf(w1, w2);
        const a = meanOf(a1, a2);
        // a refusal is the reader's answer when the store does not keep up (503 past its timeout):
        // reported, not hidden
        const refused = (r: WrkResult) =>
          r.non2xx + r.socket_errors > 0
            ? `, ${fmt(r.non2xx + r.socket_errors)} of ${fmt(r.requests)} refused`
            : '';
        const ms = (us: number) => (us / 1000).toFixed(2);
        rows.push(
          `| read ${batch} key${batch > 1 ? 's' : ''}, ${cache === 'off' ? 'from the store (cache off)' : 'from cache (every key cached)'}: p50 / p99 ms (req/s) | ${ms(a.p50_us)} / ${ms(a.p99_us)} (${fmt(a.rps)}${refused(a)}) | ${ms(o.p50_us)} / ${ms(o.p99_us)} (${fmt(o.rps)}${refused(o)}) | p99 ${(a.p99_us / o.p99_us).toFixed(2)}x |`,
          `| the same, against ${features.wide} (12 values) | | ${ms(w.p50_us)} / ${ms(w.p99_us)} (${fmt(w.rps)}${refused(w)}) | p99 ${(a.p99_us / w.p99_us).toFixed(2)}x |`,
        );
      }
    } finally {
      await server.close();
    }
  }
} finally {
  await admin
    .deleteTopics({ topics: Object.values(topics).flatMap((t) => [t, deadLetterTopicOf(t)]) })
    .catch(() => {});
  await admin.disconnect();
  const cassandra = new CassandraClient({
    contactPoints: [env.FERRY_CASSANDRA_CONTACT_POINTS!],
    localDataCenter: 'datacenter1',
  });
  await cassandra.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
  await cassandra.shutdown();
  const offline = await openOfflineStore(readSettings({ ...process.env, ...env }));
  await (offline as BigQueryOfflineStore).dropDataset?.().catch(() => undefined);
  await offline.close();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `\nAggregations as users run them: ${fmt(eventCount)} events of ${fmt(keyCount)} users (Kafka → ferry worker → ${onlineStore === 'cassandra' ? 'Cassandra' : 'LMDB (the embedded store)'}; reads through ferry serve, 1 thread, wrk -c${connections}, uniform keys)\n`,
);
console.log(
  [
    `| measure | ${features.aggregation} (count, sum, avg × 10m, 1h, 30d, lifetime) | ${features.object} (one Object value per event, same run) | ratio |`,
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n'),
);
