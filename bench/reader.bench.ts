/**
 * Reader benchmark (issues 8 and 16): lookups through `ferry serve` (the reader process users
 * run: bin/ferry.js, compiled JavaScript, its default threads), with its row cache on (the
 * default 64 MB) and off, next to a bare uWebSockets.js app answering a fixed body of the same
 * size, in the same run.
 *
 *   npm run bench:reader -- [--seconds=10] [--connections=50] [--keys=1000000] [--rounds=3]
 *                           [--only=cached-1,cached-100,uniform-1,uniform-100,zipf-1,zipf-100,
 *                                   cassandra-1,cassandra-100,cassandra-zipf-1,cassandra-zipf-100]
 *
 * Key distributions (bench/reader-wrk.lua draws them in the load generator):
 * - cached: 20,000 keys, every one warmed into the cache (the cache's best case);
 * - uniform: every key of --keys equally likely: the working set outgrows the cache;
 * - zipf: key rank k with probability ∝ 1/k (s = 1), ranks scattered over the keys: a
 *   recommender's hot users.
 * These run on the embedded store (LMDB), filled with --keys rows of azar::user-profile (a Long
 * key, five values) whose event times do not follow the key. The Cassandra scenarios read 20,000
 * keys, uniform with the cache off, and Zipf with the cache on and off; they need Cassandra on FERRY_CASSANDRA_PORT (default 9042; `bash
 * infra/up.sh cassandra`), and are left out, saying so, when it does not answer.
 *
 * Load comes from Debian's `wrk` in a separate process (-t1), on 127.0.0.1 only, each run
 * bounded by --seconds after a warm-up run. CPU µs per request is the reader process's own
 * CPU time (all its threads, from /proc) over the requests it answered; RSS is its peak.
 * Each scenario runs --rounds times, the servers in alternating order (on, off, bare; then bare,
 * off, on): the table shows the median round and the on/off ratio of each round (this machine's
 * noise is larger than the 5% that decides whether the cache pays).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'cassandra-driver';
import { readSettings, type Settings } from '../config/settings.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import { sha256Hex } from '../reader/tokens.ts';
import type { ObjectWrite, OnlineStore } from '../stores/online/online-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import { type MeasuredServer as Served, ferryServe as startFerryServe } from './ferry-serve-process.ts';
import { serveBareUws } from './reader-baselines.ts';
import { seededRandom } from './seeded-random.ts';
import { type KeyDistribution as Dist, requireWrk, runWrk, type WrkResult } from './wrk-load.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'warm-seconds': { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    only: {
      type: 'string',
      default:
        'cached-1,cached-100,uniform-1,uniform-100,zipf-1,zipf-100,cassandra-1,cassandra-100,cassandra-zipf-1,cassandra-zipf-100',
    },
    keys: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
  },
});
const seconds = Number(args.seconds);
const warmSeconds = Number(args['warm-seconds']);
const connections = Number(args.connections);
const only = new Set(args.only!.split(','));
const keyCount = Number(args.keys);
const rounds = Number(args.rounds);
const cachedKeys = 20_000;
const feature = 'azar::user-profile';
const token = 'bench-token';
const cassandraPort = Number(process.env.FERRY_CASSANDRA_PORT ?? 9042);

// ------------------------------------------------------------------ wrk

requireWrk();

function wrk(port: number, batch: number, keys: number, dist: Dist, runSeconds: number): Promise<WrkResult> {
  return runWrk({ port, feature, keys, batch, dist, seconds: runSeconds, connections, token });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ------------------------------------------------------------------ data

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-reader-bench-'));
const tokensFile = path.join(dir, 'tokens.yaml');
writeFileSync(tokensFile, `tokens:\n  - service: bench\n    sha256: ${sha256Hex(token)}\n`);
const keyspace = `ferry_reader_bench_${process.pid}`;
const embedded: Settings = { ...readSettings({}), onlineStore: 'embedded', dataDir: path.join(dir, 'data') };
const cassandra: Settings = {
  ...readSettings({}),
  onlineStore: 'cassandra',
  cassandraContactPoints: `127.0.0.1:${cassandraPort}`,
  cassandraKeyspace: keyspace,
  cassandraConsistency: 'ONE',
};

/** Writes rows 1..count of the feature; event times over the last 30 days, independent of the key. */
async function fill(settings: Settings, count: number): Promise<void> {
  const store: OnlineStore = await openOnlineStore(settings);
  try {
    const { definitions } = await loadDefinitions(['features']);
    const def = definitions.find((d) => d.name === feature)!;
    await store.ensureFeature(def);
    await new DefinitionRegistry(store).record(def);
    const next = seededRandom(16);
    const now = Date.now();
    const chunk = store.bulkWriteRows > 0 ? Math.min(5_000, store.bulkWriteRows) : 5_000;
    const t0 = Date.now();
    for (let lo = 1; lo <= count; lo += chunk) {
      const writes: ObjectWrite[] = [];
      for (let id = lo; id < lo + chunk && id <= count; id++) {
        writes.push({
          keys: { user_id: id },
          values: {
            gender: next() < 0.5 ? 'F' : 'M',
            country_code: ['KR', 'JP', 'US', 'TW', 'VN'][Math.floor(next() * 5)]!,
            age: 18 + Math.floor(next() * 50),
            level: Math.floor(next() * 100),
            avg_chat_sec: Math.round(next() * 600_000) / 1000,
          },
          eventTimeMs: now - Math.floor(next() * 30 * 86_400_000),
        });
      }
      await store.writeObjects(def, writes);
      if ((lo - 1) % 200_000 < chunk)
        console.error(
          `  filled ${Math.min(count, lo + chunk - 1).toLocaleString('en-US')} rows of ${count.toLocaleString('en-US')}`,
        );
    }
    console.error(
      `  ${settings.onlineStore}: ${count.toLocaleString('en-US')} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  } finally {
    await store.close();
  }
}

// ------------------------------------------------------------------ servers

/** `ferry serve` on the store of `settings`, with the benchmark's tokens. */
function ferryServe(settings: Settings, env: Record<string, string>): Promise<Served> {
  return startFerryServe({
    FERRY_ONLINE_STORE: settings.onlineStore,
    FERRY_DATA_DIR: settings.dataDir,
    FERRY_CASSANDRA_CONTACT_POINTS: settings.cassandraContactPoints,
    FERRY_CASSANDRA_KEYSPACE: settings.cassandraKeyspace,
    FERRY_CASSANDRA_CONSISTENCY: settings.cassandraConsistency,
    FERRY_TOKENS_FILE: tokensFile,
    FERRY_REDIS_URL: '',
    ...env,
  });
}

async function bareUws(body: string): Promise<Served> {
  const s = await serveBareUws(body, 0);
  return {
    ...s,
    cpuSeconds: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
    peakRssMb: () => 0,
  };
}

// ------------------------------------------------------------------ scenarios

interface Row {
  scenario: string;
  server: string;
  round: number;
  result: WrkResult;
  cpuUsPerRequest: number;
  hitRatio?: number;
  peakRssMb?: number;
}
const rows: Row[] = [];

/** Cache hits and misses so far, summed over features and threads. */
async function cacheCounts(port: number): Promise<{ hits: number; misses: number }> {
  const text = await (
    await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: 'close' } })
  ).text();
  const sum = (name: string) =>
    [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
  return { hits: sum('ferry_reader_cache_hits_total'), misses: sum('ferry_reader_cache_misses_total') };
}

/**
 * Keys 1..count, so the cached runs answer from the cache: each chunk several times over new
 * connections, which the kernel spreads over the serving threads (each has its own cache).
 */
async function warmCache(port: number, count: number): Promise<void> {
  for (let lo = 1; lo <= count; lo += 500) {
    const keys = Array.from({ length: Math.min(500, count - lo + 1) }, (_, i) => lo + i);
    for (let i = 0; i < 16; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/features/lookup`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, connection: 'close' },
        body: JSON.stringify({ feature, keys }),
      });
      if (r.status !== 200) throw new Error(`warm-up: ${r.status} ${await r.text()}`);
    }
  }
}

async function sampleBody(port: number, batch: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/v1/features/lookup`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ feature, keys: Array.from({ length: batch }, (_, i) => i + 1) }),
  });
  if (r.status !== 200) throw new Error(`sample lookup: ${r.status} ${await r.text()}`);
  return r.text();
}

async function measure(
  scenario: string,
  server: string,
  s: Served,
  batch: number,
  keys: number,
  dist: Dist,
  isReader: boolean,
  round: number,
): Promise<void> {
  await wrk(s.port, batch, keys, dist, warmSeconds); // JIT, connections, the cache's working set
  const before = isReader ? await cacheCounts(s.port) : undefined;
  const cpu0 = s.cpuSeconds();
  const result = await wrk(s.port, batch, keys, dist, seconds);
  const cpu = s.cpuSeconds() - cpu0;
  const row: Row = {
    scenario,
    server,
    round,
    result,
    cpuUsPerRequest: (cpu * 1e6) / Math.max(1, result.requests),
  };
  if (before) {
    const after = await cacheCounts(s.port);
    const looked = after.hits + after.misses - before.hits - before.misses;
    if (looked > 0) row.hitRatio = (after.hits - before.hits) / looked;
    row.peakRssMb = s.peakRssMb();
  }
  rows.push(row);
  const r = result;
  console.error(
    `  ${scenario.padEnd(30)} ${server.padEnd(22)} ${r.rps.toFixed(0).padStart(8)} req/s  ` +
      `p50 ${(r.p50_us / 1000).toFixed(2)} ms  p99 ${(r.p99_us / 1000).toFixed(2)} ms  ` +
      `CPU ${row.cpuUsPerRequest.toFixed(1)} µs/req  errors ${r.socket_errors + r.non2xx}` +
      (row.hitRatio === undefined ? '' : `  hits ${(row.hitRatio * 100).toFixed(1)}%`),
  );
}

async function withServer(start: () => Promise<Served>, body: (s: Served) => Promise<void>): Promise<void> {
  let s: Served;
  try {
    s = await start();
  } catch (e) {
    console.error(`  (could not start a server: ${(e as Error).message.split('\n')[0]})`);
    return;
  }
  try {
    await body(s);
  } catch (e) {
    console.error(`  (run failed: ${(e as Error).message.split('\n')[0]})`);
  } finally {
    await s.close();
  }
}

/** Fresh for the whole run: the cached scenario measures hits, not refreshes. */
const longTtl = { FERRY_READER_CACHE_TTL_MS: '600000', FERRY_READER_CACHE_BATCH_TTL_MS: '600000' };
const cacheOff = { FERRY_READER_CACHE_MB: '0' };

async function scenario(
  name: string,
  settings: Settings,
  batch: number,
  keys: number,
  dist: Dist,
  servers: { label: string; env: Record<string, string>; warm?: boolean }[],
): Promise<void> {
  let body = '';
  for (let round = 0; round < rounds; round++) {
    // the order alternates (on, off, bare / bare, off, on / ...): a drift of the machine over the
    // run (the store's pages flushed after the fill, other work) falls on both sides
    const order: (() => Promise<void>)[] = servers.map(
      ({ label, env, warm }) =>
        () =>
          withServer(
            () => ferryServe(settings, env),
            async (s) => {
              if (body === '') body = await sampleBody(s.port, batch);
              if (warm) await warmCache(s.port, keys);
              await measure(name, label, s, batch, keys, dist, true, round);
            },
          ),
    );
    order.push(() =>
      withServer(
        () => bareUws(body),
        (s) => measure(name, `bare uWS, ${body.length} B`, s, batch, keys, dist, false, round),
      ),
    );
    for (const run of round % 2 === 0 ? order : order.reverse()) await run();
  }
}

// ------------------------------------------------------------------ run

const hasCassandra = await answers(cassandraPort);
console.error(
  `reader benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ` +
    `wrk -t1 -c${connections}, ${seconds} s per run after ${warmSeconds} s of warm-up, ${rounds} rounds in alternating order; ferry serve with its default threads` +
    (hasCassandra
      ? ''
      : '; Cassandra not reachable: its scenarios are left out (bash infra/up.sh cassandra)'),
);
const onOff = [
  { label: 'ferry serve, cache on', env: {} },
  { label: 'ferry serve, cache off', env: cacheOff },
];
try {
  const wantsEmbedded = [...only].some((o) => !o.startsWith('cassandra'));
  if (wantsEmbedded) await fill(embedded, keyCount);
  for (const batch of [1, 100]) {
    const n = batch === 1 ? 'single key' : '100-key batch';
    if (only.has(`cached-${batch}`))
      await scenario(`${n}, all cached (20k keys)`, embedded, batch, cachedKeys, 'cycle', [
        { label: 'ferry serve, cache on', env: longTtl, warm: true },
        { label: 'ferry serve, cache off', env: cacheOff },
      ]);
    if (only.has(`uniform-${batch}`))
      await scenario(`${n}, uniform over ${keyCount / 1e6}M`, embedded, batch, keyCount, 'uniform', onOff);
    if (only.has(`zipf-${batch}`))
      await scenario(`${n}, Zipf s=1 over ${keyCount / 1e6}M`, embedded, batch, keyCount, 'zipf', onOff);
  }
  if (hasCassandra && [...only].some((o) => o.startsWith('cassandra'))) {
    await fill(cassandra, cachedKeys);
    for (const batch of [1, 100]) {
      const n = batch === 1 ? 'single key' : '100-key batch';
      if (only.has(`cassandra-${batch}`))
        await scenario(`${n}, Cassandra, uniform over 20k`, cassandra, batch, cachedKeys, 'uniform', [
          { label: 'ferry serve, cache off', env: cacheOff },
        ]);
      // the cache's own case: a network round trip saved per hit, rows fresh for the default 1 s
      if (only.has(`cassandra-zipf-${batch}`))
        await scenario(`${n}, Cassandra, Zipf s=1 over 20k`, cassandra, batch, cachedKeys, 'zipf', onOff);
    }
  }
} finally {
  if (hasCassandra) {
    const c = new Client({ contactPoints: [`127.0.0.1:${cassandraPort}`], localDataCenter: 'datacenter1' });
    await c.connect();
    await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await c.shutdown();
  }
  rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------ table

const ms = (us: number) => (us / 1000).toFixed(2);
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
};
/** A server's rounds in a scenario; the row shown is the round of median req/s. */
const groups = new Map<string, Row[]>();
for (const r of rows) {
  const k = `${r.scenario}\u0000${r.server}`;
  groups.set(k, [...(groups.get(k) ?? []), r]);
}
/** Round by round req/s of `r`'s server over `b`'s (same round), and their median. */
function pairedRatio(of: Row[], to: Row[] | undefined): string {
  if (to === undefined) return '';
  const ratios = of.flatMap((a) => {
    const b = to.find((x) => x.round === a.round);
    return b === undefined ? [] : [a.result.rps / b.result.rps];
  });
  if (ratios.length === 0) return '';
  const all = ratios.length > 1 ? ` (${ratios.map((x) => x.toFixed(2)).join(', ')})` : '';
  return `${median(ratios).toFixed(2)}x${all}`;
}
const lines = [
  '| scenario | server | req/s (median of rounds) | req/s by round | p50 ms | p99 ms | p99.9 ms | errors | cache hits | CPU µs/req | peak RSS MB | vs cache off, by round | vs bare uWS |',
  '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
];
for (const [k, runs] of groups) {
  const [scenarioName, server] = k.split('\u0000') as [string, string];
  const byRps = [...runs].sort((a, b) => a.result.rps - b.result.rps);
  const r = byRps[(byRps.length - 1) >> 1]!;
  const off = groups.get(`${scenarioName}\u0000ferry serve, cache off`);
  const bare = [...groups].find(([g]) => g.startsWith(`${scenarioName}\u0000bare`))?.[1];
  const errors = runs.reduce((a, x) => a + x.result.socket_errors + x.result.non2xx, 0);
  lines.push(
    `| ${scenarioName} | ${server} | ${median(runs.map((x) => x.result.rps)).toFixed(0)} | ${runs.map((x) => x.result.rps.toFixed(0)).join(', ')} | ` +
      `${ms(r.result.p50_us)} | ${ms(r.result.p99_us)} | ${ms(r.result.p999_us)} | ${errors} | ` +
      `${r.hitRatio === undefined ? '' : `${(r.hitRatio * 100).toFixed(1)}%`} | ` +
      `${median(runs.map((x) => x.cpuUsPerRequest)).toFixed(1)} | ${r.peakRssMb === undefined ? '' : r.peakRssMb.toFixed(0)} | ` +
      `${server.endsWith('cache on') ? pairedRatio(runs, off) : ''} | ${server.startsWith('bare') ? '' : pairedRatio(runs, bare)} |`,
  );
}
console.log(lines.join('\n'));
