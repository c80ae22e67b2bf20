/**
 * Reader benchmark (issue 8): lookups through the uWebSockets.js reader, next to two
 * baselines in the same run: the same handler (same ReaderApi, cache and store) on Node's
 * `http` module, and a bare uWebSockets.js app answering a fixed body of the same size.
 *
 *   npx tsx bench/reader.bench.ts [--seconds=10] [--connections=50] [--moderate-connections=16]
 *                                 [--light-connections=4]
 *                                 [--only=cached-1,cassandra-1,cached-100,cassandra-100]
 *
 * Load comes from Debian's `wrk` in a separate process (-t1, bench/reader-wrk.lua), on
 * 127.0.0.1 only, each run bounded by --seconds. Cassandra scenarios need Cassandra on
 * FERRY_CASSANDRA_PORT (default 9042; `bash infra/up.sh cassandra`): a keyspace
 * `ferry_reader_bench_<pid>` is filled with 20,000 rows of azar::user-profile and dropped
 * at the end. Without Cassandra the cached scenarios run on the embedded store.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'cassandra-driver';
import { projectRoot } from '../config/module-files.ts';
import { readSettings, type Settings } from '../config/settings.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import { type ReaderConfig, readReaderConfig } from '../reader/reader-config.ts';
import { ReaderRuntime } from '../reader/reader-runtime.ts';
import { startReader } from '../reader/start-reader.ts';
import { sha256Hex } from '../reader/tokens.ts';
import type { ObjectWrite, OnlineStore } from '../stores/online/online-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import { type BenchServer, serveBareUws, serveNodeHttp } from './reader-baselines.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string', default: 'cached-1,cassandra-1,cached-100,cassandra-100' },
    keys: { type: 'string', default: '20000' },
    'light-connections': { type: 'string', default: '4' },
    'moderate-connections': { type: 'string', default: '16' },
  },
});
const lightConnections = Number(args['light-connections']);
const moderateConnections = Number(args['moderate-connections']);
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const only = new Set(args.only!.split(','));
const keyCount = Number(args.keys);
const feature = 'azar::user-profile';
const token = 'bench-token';
const tokens = [{ service: 'bench', sha256: sha256Hex(token) }];
const cassandraPort = Number(process.env.FERRY_CASSANDRA_PORT ?? 9042);
const luaScript = path.join(projectRoot, 'bench', 'reader-wrk.lua');

// ------------------------------------------------------------------ wrk

if (spawnSync('wrk', ['--version']).error) {
  console.error(
    'wrk is not installed. Install it with:\n  apt-get update && apt-get install -y wrk   (sudo if not root)',
  );
  process.exit(1);
}

interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  socket_errors: number;
  non2xx: number;
}

/** Runs wrk from a separate process (asynchronously: this thread may be the server). */
function wrk(port: number, batch: number, runSeconds: number, conns: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', [
      '-t1',
      `-c${conns}`,
      `-d${runSeconds}s`,
      '--timeout',
      '5s',
      '-s',
      luaScript,
      `http://127.0.0.1:${port}`,
      '--',
      feature,
      String(keyCount),
      String(batch),
      token,
      String(batch === 1 ? 20_000 : 2_000),
    ]);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    p.on('close', () => {
      const m = /RESULT (\{.*\})/.exec(out);
      if (!m) reject(new Error(`wrk gave no result:\n${out}`));
      else resolve(JSON.parse(m[1]!) as WrkResult);
    });
  });
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

const hasCassandra = await answers(cassandraPort);
const dir = mkdtempSync(path.join(tmpdir(), 'ferry-reader-bench-'));
const keyspace = `ferry_reader_bench_${process.pid}`;
const settings: Settings = hasCassandra
  ? {
      ...readSettings({}),
      onlineStore: 'cassandra',
      cassandraContactPoints: `127.0.0.1:${cassandraPort}`,
      cassandraKeyspace: keyspace,
      cassandraConsistency: 'ONE',
    }
  : { ...readSettings({}), onlineStore: 'embedded', dataDir: dir };

async function prepare(): Promise<OnlineStore> {
  const store = await openOnlineStore(settings);
  const { definitions } = await loadDefinitions(['features']);
  const def = definitions.find((d) => d.name === feature)!;
  await store.ensureFeature(def);
  await new DefinitionRegistry(store).record(def);
  const now = Date.now();
  for (let lo = 1; lo <= keyCount; lo += 500) {
    const writes: ObjectWrite[] = [];
    for (let id = lo; id < lo + 500 && id <= keyCount; id++) {
      writes.push({
        keys: { user_id: id },
        values: {
          gender: id % 2 ? 'F' : 'M',
          country_code: 'KR',
          age: 20 + (id % 40),
          level: id % 100,
          avg_chat_sec: id / 7,
        },
        eventTimeMs: now - id,
      });
    }
    await store.writeObjects(def, writes);
  }
  return store;
}

// ------------------------------------------------------------------ scenarios

const baseConfig = readReaderConfig({});
/** Cache on, rows fresh for the whole run. */
const cachedConfig: ReaderConfig = {
  ...baseConfig,
  refreshMs: 600_000,
  cache: { ...baseConfig.cache, maxBytes: 256 * 1024 * 1024, realtimeTtlMs: 600_000, batchTtlMs: 600_000 },
};
/** Cache off: every key is read from the store. */
const uncachedConfig: ReaderConfig = { ...cachedConfig, cache: { ...cachedConfig.cache, maxBytes: 0 } };

interface Row {
  scenario: string;
  server: string;
  /** CPU time of this process (the server) per request served, µs. */
  cpuUsPerRequest?: number;
  connections: number;
  result: WrkResult;
  hitRatio?: number;
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
 * Every key, so the cached runs answer from the cache: each chunk several times over new
 * connections, which the kernel spreads over the serving threads (each has its own cache).
 */
async function warm(port: number, threads: number): Promise<void> {
  for (let lo = 1; lo <= keyCount; lo += 500) {
    const keys = Array.from({ length: Math.min(500, keyCount - lo + 1) }, (_, i) => lo + i);
    for (let i = 0; i < (threads === 1 ? 1 : 8 * threads); i++) {
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
  return r.text();
}

async function measure(
  scenario: string,
  server: string,
  port: number,
  batch: number,
  cached: boolean,
  conns: number,
  threads = 1,
): Promise<void> {
  if (cached) await warm(port, threads);
  await wrk(port, batch, 2, conns); // warm-up run (JIT, connections, Cassandra pages)
  const isReader = server.startsWith('reader');
  const before = isReader ? await cacheCounts(port) : undefined;
  // every server of this benchmark runs in this process (a 2-thread reader in its worker threads):
  // its CPU time per request holds still when the shared machine's load moves req/s
  const cpu0 = process.cpuUsage();
  const result = await wrk(port, batch, seconds, conns);
  const cpu = process.cpuUsage(cpu0);
  const row: Row = {
    scenario,
    server,
    connections: conns,
    result,
    cpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, result.requests),
  };
  if (before) {
    const after = await cacheCounts(port);
    const looked = after.hits + after.misses - before.hits - before.misses;
    if (looked > 0) row.hitRatio = (after.hits - before.hits) / looked;
  }
  rows.push(row);
  const r = result;
  console.error(
    `  ${scenario.padEnd(26)} ${server.padEnd(24)} c${String(conns).padEnd(3)} ${r.rps.toFixed(0).padStart(8)} req/s  ` +
      `p50 ${(r.p50_us / 1000).toFixed(2)} ms  p99 ${(r.p99_us / 1000).toFixed(2)} ms  p99.9 ${(r.p999_us / 1000).toFixed(2)} ms  ` +
      `errors ${r.socket_errors + r.non2xx}`,
  );
}

/** Waits (up to 60 s) until the store answers reads quickly again after a heavy run. */
async function settled(store: OnlineStore): Promise<void> {
  const { definitions } = await loadDefinitions(['features']);
  const def = definitions.find((d) => d.name === feature)!;
  for (let i = 0; i < 60; i++) {
    const t0 = Date.now();
    try {
      await store.readObjects(def, [{ user_id: 1 }]);
      if (Date.now() - t0 < 50) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function withServer(
  start: () => Promise<BenchServer>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  let s: BenchServer;
  try {
    s = await start();
  } catch (e) {
    console.error(`  (could not start a server: ${(e as Error).message.split('\n')[0]})`);
    return;
  }
  try {
    await body(s.port);
  } catch (e) {
    console.error(`  (run failed: ${(e as Error).message.split('\n')[0]})`);
  } finally {
    await s.close();
  }
}

const readerServer = (config: ReaderConfig, threads: number) => async (): Promise<BenchServer> => {
  const h = await startReader({
    settings,
    config: { ...config, threads },
    threads,
    tokens,
    host: '127.0.0.1',
    port: 0,
    log: () => {},
  });
  return { port: h.port, close: () => h.close() };
};

const nodeServer = (store: OnlineStore, config: ReaderConfig) => async (): Promise<BenchServer> => {
  const runtime = await ReaderRuntime.create({
    store,
    config,
    tokens,
    redisUrl: '',
    threads: 1,
    cacheBytes: config.cache.maxBytes,
    log: () => {},
  });
  const s = await serveNodeHttp(runtime.api, 0);
  return {
    port: s.port,
    close: async () => {
      await s.close();
      await runtime.close();
    },
  };
};

async function scenario(
  name: string,
  batch: number,
  cached: boolean,
  store: OnlineStore,
  conns = connections,
): Promise<void> {
  const config = cached ? cachedConfig : uncachedConfig;
  let body = '';
  for (const threads of [1, 2]) {
    await withServer(readerServer(config, threads), async (port) => {
      if (body === '') body = await sampleBody(port, batch);
      await measure(name, `reader (uWS, ${threads} thr)`, port, batch, cached, conns, threads);
    });
  }
  await withServer(nodeServer(store, config), (port) =>
    measure(name, 'node http, same handler', port, batch, cached, conns),
  );
  await withServer(
    () => serveBareUws(body, 0),
    (port) => measure(name, `bare uWS, ${body.length} B`, port, batch, false, conns),
  );
}

// ------------------------------------------------------------------ run

console.error(
  `reader benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, wrk -t1 -c${connections}, ` +
    `${seconds} s per run, store ${settings.onlineStore}${hasCassandra ? '' : ' (Cassandra not reachable: its scenarios are skipped; bash infra/up.sh cassandra)'}`,
);
const store = await prepare();
try {
  // each at a moderate load (closed loop: latency with little queueing) and at the full one
  // (throughput; latency then is mostly the wait of 50 connections for two cores)
  for (const conns of [moderateConnections, connections]) {
    if (only.has('cached-1')) await scenario('single key, cached', 1, true, store, conns);
    if (only.has('cached-100')) await scenario('100-key batch, cached', 100, true, store, conns);
    if (only.has('cassandra-1') && hasCassandra) {
      await settled(store);
      await scenario('single key, Cassandra', 1, false, store, conns);
    }
  }
  if (only.has('cassandra-100') && hasCassandra) {
    // first at a light load (latency without queueing behind other batches), then at c50,
    // which asks Cassandra for 5,000 keys at once: more than it serves here, so the reader
    // sheds what waits past its store timeout (503) rather than queueing it
    await settled(store);
    await scenario('100-key batch, Cassandra', 100, false, store, lightConnections);
    await settled(store);
    await scenario('100-key batch, Cassandra', 100, false, store);
  }
} finally {
  await store.close();
  if (hasCassandra) {
    const c = new Client({ contactPoints: [`127.0.0.1:${cassandraPort}`], localDataCenter: 'datacenter1' });
    await c.connect();
    await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await c.shutdown();
  }
  rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------ table

const targets: Record<string, string> = {
  'single key, cached': '≥ 80,000 req/s, p99 < 2 ms, ≥ 2x node http',
  'single key, Cassandra': '≥ 5,000 req/s, p99 < 15 ms',
  '100-key batch, cached': 'p99 < 5 ms',
  '100-key batch, Cassandra': 'p99 < 20 ms',
};
const ms = (us: number) => (us / 1000).toFixed(2);
const lines = [
  '| scenario | server | wrk conns | req/s | p50 ms | p99 ms | p99.9 ms | errors | cache hits | CPU µs/req | vs node http | vs bare uWS | target |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];
for (const r of rows) {
  const same = (x: Row) => x.scenario === r.scenario && x.connections === r.connections;
  const node = rows.find((x) => same(x) && x.server.startsWith('node'));
  const bare = rows.find((x) => same(x) && x.server.startsWith('bare'));
  const ratio = (b: Row | undefined) => (b && b !== r ? `${(r.result.rps / b.result.rps).toFixed(2)}x` : '');
  lines.push(
    `| ${r.scenario} | ${r.server} | ${r.connections} | ${r.result.rps.toFixed(0)} | ${ms(r.result.p50_us)} | ${ms(r.result.p99_us)} | ${ms(r.result.p999_us)} | ` +
      `${r.result.socket_errors + r.result.non2xx} | ${r.hitRatio === undefined ? '' : `${(r.hitRatio * 100).toFixed(1)}%`} | ` +
      `${r.cpuUsPerRequest === undefined ? '' : r.cpuUsPerRequest.toFixed(1)} | ` +
      `${ratio(node)} | ${ratio(bare)} | ${r.server.startsWith('reader') ? (targets[r.scenario] ?? '') : ''} |`,
  );
}
console.log(lines.join('\n'));
