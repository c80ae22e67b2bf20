/**
 * Aggregation features (issue 18), at the online store layer: a DIAGNOSTIC (the consumer in
 * `ferry worker` and the reader process add their own costs; those paths are measured by
 * bench:commands and bench:reader for Object features, not yet for Aggregation ones).
 *
 *   npm run bench:aggregations -- [--only=embedded,cassandra] [--events=200000] [--keys=50000]
 *
 * Per store: events/s ingested into a feature with count, sum and avg over 10 minutes, 1 hour,
 * 30 days and lifetime (12 aggregates), next to the baseline of the same run: one Object value
 * written per event (the commands path's store call), same keys, same batches of 500; alternating
 * rounds. Then read latency (p50/p99) of one key and of 100-key batches, both features; stored
 * bytes per active key; and the worst case, one key with 100,000 events in its windows.
 * Keys are uniform over `keys` (more than a cache holds); event times run over the last two days
 * with jitter, not in key order. Cassandra: 127.0.0.1:FERRY_CASSANDRA_PORT, keyspace
 * ferry_bench_agg_<pid> (dropped at the end).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../domain/definitions/load-definitions.ts';
import { openCassandraOnlineStore } from '../stores/online/cassandra-online-store.ts';
import { openEmbeddedOnlineStore } from '../stores/online/embedded-online-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { seededRandom } from './seeded-random.ts';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'embedded,cassandra' },
    events: { type: 'string', default: '200000' },
    keys: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '4' },
  },
});
const only = new Set(args.only!.split(','));
const totalEvents = Number(args.events);
const keyCount = Number(args.keys);
const rounds = Number(args.rounds);
const batch = 500;

const windows = ['10m', '1h', '30d', 'lifetime'];
const yaml = `bench::agg:
  feature_type: Aggregation
  owner: bench
  schema:
    user_id: {type: Long, is_key_field: true}
    v: {type: Long}
${windows
  .flatMap((w) => [
    `    count_${w}: {aggregate: {function: count, window: ${w}}}`,
    `    sum_${w}: {aggregate: {function: sum, of: v, window: ${w}}}`,
    `    avg_${w}: {aggregate: {function: avg, of: v, window: ${w}}}`,
  ])
  .join('\n')}
bench::obj:
  feature_type: Object
  owner: bench
  schema:
    user_id: {type: Long, is_key_field: true}
    v: {type: Long, default_value: 0}
`;
const parsed = loadDefinitionsFromText('bench.yaml', yaml);
if (parsed.errors.length) throw new Error(JSON.stringify(parsed.errors));
const agg = parsed.definitions.find((d) => d.name === 'bench::agg')!;
const obj = parsed.definitions.find((d) => d.name === 'bench::obj')!;

interface Row {
  store: string;
  what: string;
  value: string;
  baseline: string;
  ratio: string;
}
const rows: Row[] = [];

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function ingest(
  store: OnlineStore,
  def: FeatureDefinition,
  events: { key: number; t: number; id: string; v: number }[],
) {
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += batch) {
    const slice = events.slice(i, i + batch);
    if (def === agg)
      await store.writeAggregateEvents(
        def,
        slice.map((e) => ({ keys: { user_id: e.key }, eventTimeMs: e.t, eventId: e.id, values: { v: e.v } })),
      );
    else
      await store.writeObjects(
        def,
        slice.map((e) => ({ keys: { user_id: e.key }, eventTimeMs: e.t, values: { v: e.v } })),
      );
  }
  return events.length / ((performance.now() - t0) / 1000);
}

async function readLatency(
  store: OnlineStore,
  def: FeatureDefinition,
  keysPerCall: number,
  calls: number,
  rnd: { next: () => number },
) {
  const times: number[] = [];
  for (let c = 0; c < calls; c++) {
    const keys = Array.from({ length: keysPerCall }, () => ({
      user_id: 1 + Math.floor(rnd.next() * keyCount),
    }));
    const t0 = performance.now();
    if (def === agg) await store.readAggregates(def, keys);
    else await store.readObjects(def, keys);
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: pct(times, 0.5), p99: pct(times, 0.99) };
}

async function runStore(
  name: string,
  store: OnlineStore,
  bytesOf: (def: FeatureDefinition, key: number) => Promise<number>,
) {
  await store.ensureFeature(agg);
  await store.ensureFeature(obj);
  const next = seededRandom(42);
  const rnd = { next };
  const now = Date.now();
  const span = 2 * 86_400_000;
  const events = Array.from({ length: totalEvents }, (_, i) => ({
    key: 1 + Math.floor(rnd.next() * keyCount),
    // times rise through the run with up to 5 minutes of jitter (within the lateness)
    t: now - span + Math.floor((i / totalEvents) * span) - Math.floor(rnd.next() * 300_000),
    id: `e${i}`,
    v: Math.floor(rnd.next() * 1000),
  }));
  // alternating rounds over consecutive slices of the stream: agg, obj, agg, obj, ...
  const per = Math.floor(totalEvents / rounds);
  let aggRate = 0;
  let objRate = 0;
  for (let r = 0; r < rounds; r++) {
    const slice = events.slice(r * per, (r + 1) * per);
    const a = await ingest(store, agg, slice);
    const o = await ingest(store, obj, slice);
    aggRate += a / rounds;
    objRate += o / rounds;
    console.log(`${name} round ${r + 1}: aggregation ${Math.round(a)}/s, Object ${Math.round(o)}/s`);
  }
  rows.push({
    store: name,
    what: 'events/s ingested (12 aggregates: count, sum, avg × 10m, 1h, 30d, lifetime)',
    value: `${Math.round(aggRate)}`,
    baseline: `${Math.round(objRate)} (one Object value per event)`,
    ratio: (aggRate / objRate).toFixed(2),
  });
  for (const keysPerCall of [1, 100]) {
    const calls = keysPerCall === 1 ? 3_000 : 300;
    const a = await readLatency(store, agg, keysPerCall, calls, rnd);
    const o = await readLatency(store, obj, keysPerCall, calls, rnd);
    rows.push({
      store: name,
      what: `read ${keysPerCall === 1 ? 'one key' : '100-key batch'} p50 / p99 (µs, from the store)`,
      value: `${Math.round(a.p50)} / ${Math.round(a.p99)}`,
      baseline: `${Math.round(o.p50)} / ${Math.round(o.p99)} (Object)`,
      ratio: `p99 ${(a.p99 / o.p99).toFixed(2)}x`,
    });
  }
  // bytes of a typical active key (about totalEvents / keys events over two days), and of one key
  // with 100,000 events in its windows (the last 30 days)
  let sum = 0;
  for (let k = 1; k <= 200; k++) sum += await bytesOf(agg, k);
  const hot = keyCount + 7;
  const hotEvents = Array.from({ length: 100_000 }, (_, i) => ({
    key: hot,
    t: now - 30 * 86_400_000 + Math.floor((i / 100_000) * 30 * 86_400_000),
    id: `h${i}`,
    v: i % 1000,
  }));
  await ingest(store, agg, hotEvents);
  rows.push({
    store: name,
    what: `stored bytes per active key (~${Math.round(totalEvents / keyCount)} events over 2 days) / a key with 100,000 events in 30 days`,
    value: `${Math.round(sum / 200)} / ${await bytesOf(agg, hot)}`,
    baseline: '-',
    ratio: '-',
  });
}

if (only.has('embedded')) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-agg-'));
  const store = await openEmbeddedOnlineStore({ path: dir });
  const { open } = await import('lmdb');
  try {
    await runStore('embedded (LMDB)', store, async (def, key) => {
      // the database the store keeps the feature in, read beside it
      const root = open({ path: dir, readOnly: true });
      const db = root.openDB({ name: `aggregates:${def.name}`, encoding: 'binary' });
      let n = 0;
      for (const { key: k, value } of db.getRange({ start: [key], end: [key + 1] }))
        n += (value as Buffer).length + JSON.stringify(k).length;
      await root.close();
      return n;
    });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (only.has('cassandra')) {
  const keyspace = `ferry_bench_agg_${process.pid}`;
  const store = await openCassandraOnlineStore({
    contactPoints: [`127.0.0.1:${process.env.FERRY_CASSANDRA_PORT ?? 9042}`],
    localDataCenter: 'datacenter1',
    keyspace,
    replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    consistency: 'ONE',
  });
  try {
    await runStore('Cassandra', store, async (def, key) => {
      const { featureTableName } = await import('../stores/online/cassandra-schema.ts');
      const rs = await store.client.execute(
        `SELECT "_value" AS value FROM ${keyspace}.${featureTableName(def)} WHERE user_id = ?`,
        [BigInt(key)],
        { prepare: true, fetchSize: 200_000 },
      );
      // the blobs and their clustering columns (12 bytes); Cassandra's own row overhead not counted
      return rs.rows.reduce((n, r) => n + (r.get('value') as Buffer).length + 12, 0);
    });
  } finally {
    await store.client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
    await store.close();
  }
}

const lines = [
  '| store | measure | aggregation | baseline (same run) | ratio |',
  '| --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.store} | ${r.what} | ${r.value} | ${r.baseline} | ${r.ratio} |`),
];
console.log(
  `\nAggregations, store layer (diagnostic): ${totalEvents} events over ${keyCount} keys, batches of ${batch}\n`,
);
console.log(lines.join('\n'));
