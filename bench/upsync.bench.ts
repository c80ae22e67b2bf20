/**
 * Upsync throughput (issues 6 and 16): one million rows from DuckDB and from the BigQuery emulator
 * into the embedded online store (LMDB) and into Cassandra, as users run it, against the raw write
 * loop of each online store given the same rows in the same order, in the same run.
 * Targets: at least 0.8 of the raw loop; the worker under 200 MB idle and 400 MB at its peak.
 *
 *   npm run bench:upsync -- [--rows N] [--cases a,b] [--repeat N] [--harness] [--json]
 *     [--chunk-rows N] [--page-size N] [--pages-in-flight N] (the last three: --harness only)
 *
 * What is measured (each upsync case): `ferry worker` started as users start it (bin/ferry.js, a
 * child process, its own task queue, the local Temporal server at FERRY_TEMPORAL_ADDRESS), the
 * feature applied with `ferry apply`, then `ferry upsync <feature> --full --wait --json`, timed
 * from the CLI's start to its exit. The worker's resident memory is sampled every 50 ms from /proc:
 * idle (started, polling, nothing run yet) and peak. The rows' event times do not follow the key
 * (event time = BASE + (key x 7919) mod N), so the online store receives keys in no order, as from
 * a real table. The baseline writes the same rows, built in memory, in the same order (by event
 * time), in calls of the store's bulk size, one after the other, in a process of its own.
 *
 * --harness (a diagnostic, not what users run): the upsync workflow on createFerryWorker inside
 * the case's own process, as bench:upsync measured before issue 16; it reports the time inside the
 * activities apart.
 *
 * Cases: baseline-embedded, duckdb-embedded, emulator-embedded, baseline-cassandra,
 * duckdb-cassandra, emulator-cassandra (Temporal, Cassandra and the emulator must be up: npm run
 * infra:up).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createFerryWorker, workflowsPath } from '../cli/worker-command.ts';
import { readSettings } from '../config/settings.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../domain/definitions/load-definitions.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import type { ObjectWrite, OnlineStore } from '../stores/online/online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import type { SyncProgress, UpsyncInput } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import { benchCountries, benchFeatureYaml } from './bench-feature.ts';
import { cliUpsync } from './ferry-cli-upsync.ts';
import { tsxIfSources } from './node-loader.ts';

const cases = [
  'baseline-embedded',
  'duckdb-embedded',
  'emulator-embedded',
  'baseline-cassandra',
  'duckdb-cassandra',
  'emulator-cassandra',
] as const;
type CaseName = (typeof cases)[number];

const BASE = 1_700_000_000_000;
const workflowBundleFile = 'workflows-bundle.js';
const countries = benchCountries;
const emulator = process.env.FERRY_BIGQUERY_ENDPOINT || 'http://127.0.0.1:9050';
const cassandra = process.env.FERRY_CASSANDRA_CONTACT_POINTS || '127.0.0.1:9042';

const featureYaml = (name: string) => benchFeatureYaml(name, 'bench_upsync_src');

/** Event times scatter the keys: key k's is BASE + (k x spread) mod n, a permutation of 0..n-1. */
const spread = 7919;
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

const genDuckDb = (n: number) => `-- ${n} rows for the upsync benchmark
-- ferry:destination bench_upsync_src
SELECT range AS user_id, range % 100 AS level, (range % 1000) / 7.0 AS score,
  ['${countries.join("','")}'][(range % 8) + 1] AS country, range % 3 = 0 AS active,
  make_timestamp((${BASE} + (range * ${spread}) % ${n}) * 1000) AS last_seen_at,
  ${BASE} + (range * ${spread}) % ${n} AS _last_updated_at_ms
FROM range(1, ${n + 1})
`;
const genBigQuery = (n: number) => `-- ${n} rows for the upsync benchmark
-- ferry:destination bench_upsync_src
SELECT n AS user_id, MOD(n, 100) AS level, MOD(n, 1000) / 7.0 AS score,
  ['${countries.join("','")}'][OFFSET(MOD(n, 8))] AS country, MOD(n, 3) = 0 AS active,
  TIMESTAMP_MILLIS(${BASE} + MOD(n * ${spread}, ${n})) AS last_seen_at,
  ${BASE} + MOD(n * ${spread}, ${n}) AS _last_updated_at_ms
FROM UNNEST(GENERATE_ARRAY(1, ${n})) AS n
`;

function writeOf(i: number, rows: number): ObjectWrite {
  const at = BASE + ((i * spread) % rows);
  return {
    keys: { user_id: i },
    values: {
      level: i % 100,
      score: (i % 1000) / 7,
      country: countries[i % 8]!,
      active: i % 3 === 0,
      last_seen_at: at,
    },
    eventTimeMs: at,
  };
}

/** The keys in the order upsync reads them (by event time): the k with (k x spread) mod n = t, t = 0, 1, …. */
function keysByEventTime(rows: number): Int32Array {
  const order = new Int32Array(rows);
  for (let k = 1; k <= rows; k++) order[(k * spread) % rows] = k;
  return order;
}

interface Result {
  case: CaseName;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** Upsync cases: time inside the activities (started to completed, from the workflow's history). */
  activitySeconds?: number;
  /** Peak resident memory of the case's process (maxRSS; upsync cases: `ferry worker`'s). */
  peakRssMb: number;
  /** `ferry worker` started and polling, before any work. */
  idleRssMb?: number;
  idleAnonMb?: number;
  idleFileMb?: number;
  /** Peak of its anonymous part (heap, native allocations) and of its file-backed part (mmap: LMDB, DuckDB). */
  peakAnonMb: number;
  peakFileMb: number;
  /** Peak of the V8 heap (part of the anonymous memory). */
  peakHeapMb: number;
  /** Time spent in garbage collection: full (mark-compact) and young-generation collections. */
  gcMajorMs?: number;
  gcMajorCount?: number;
  gcMinorMs?: number;
  deadLettered?: number;
}

/** Chunk and page size overrides (--chunk-rows, --page-size), for trying other settings. */
let chunkRows: number | undefined;
let pageSize: number | undefined;
let pagesInFlight: number | undefined;

const peaks = { anon: 0, file: 0, heap: 0 };
const gcTime = { majorMs: 0, majorCount: 0, minorMs: 0 };
function watchGc(): void {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        gcTime.majorMs += e.duration;
        gcTime.majorCount++;
      } else gcTime.minorMs += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
}
function sampleMemory(): void {
  peaks.heap = Math.max(peaks.heap, getHeapStatistics().total_heap_size / 2 ** 20);
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  peaks.anon = Math.max(peaks.anon, kb('RssAnon') / 1024);
  peaks.file = Math.max(peaks.file, (kb('RssFile') + kb('RssShmem')) / 1024);
}

async function openOnline(
  kind: 'embedded' | 'cassandra',
  dir: string,
  keyspace: string,
): Promise<OnlineStore> {
  if (kind === 'embedded') {
    const { openEmbeddedOnlineStore } = await import('../stores/online/embedded-online-store.ts');
    return openEmbeddedOnlineStore({ path: path.join(dir, `online-${process.pid}`) });
  }
  const { openCassandraOnlineStore } = await import('../stores/online/cassandra-online-store.ts');
  return openCassandraOnlineStore({
    contactPoints: cassandra.split(','),
    localDataCenter: 'datacenter1',
    keyspace,
    replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    consistency: 'ONE',
  });
}

async function openOffline(kind: 'duckdb' | 'bigquery', dir: string, dataset: string): Promise<OfflineStore> {
  const sqlDir = path.join(dir, 'sql');
  if (kind === 'duckdb') {
    const { DuckDbOfflineStore } = await import('../stores/offline/duckdb-offline-store.ts');
    return DuckDbOfflineStore.open({ path: path.join(dir, 'offline.duckdb'), sqlDir });
  }
  const { BigQueryOfflineStore } = await import('../stores/offline/bigquery-offline-store.ts');
  return BigQueryOfflineStore.open({
    projectId: 'ferry-local',
    dataset,
    location: 'US',
    endpoint: emulator,
    sqlDir,
  });
}

/**
 * Seconds the workflow's activities ran (each from started to completed, by the server's clock):
 * the sync itself, without the Temporal round trips between activities.
 */
async function activitySeconds(client: Client, workflowId: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const started = new Map<string, number>();
  let total = 0;
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  for (const e of history.events ?? []) {
    const s = e.activityTaskStartedEventAttributes;
    if (s) started.set(String(s.scheduledEventId), ms(e.eventTime));
    const c = e.activityTaskCompletedEventAttributes;
    if (c) total += ms(e.eventTime) - (started.get(String(c.scheduledEventId)) ?? ms(e.eventTime));
  }
  return total / 1000;
}

/** One case, in this (child) process. */
async function runCase(
  name: CaseName,
  rows: number,
  dir: string,
  keyspace: string,
  dataset: string,
): Promise<Result> {
  const [source, target] = name.split('-') as ['baseline' | 'duckdb' | 'emulator', 'embedded' | 'cassandra'];
  const featureName = `bench::upsync-${name}-${process.pid}`;
  const { definitions } = loadDefinitionsFromText('bench.yaml', featureYaml(featureName));
  const def = definitions[0]!;
  const online = await openOnline(target, dir, keyspace);
  await online.ensureFeature(def);
  await new DefinitionRegistry(online).record(def);
  try {
    const result = source === 'baseline' ? await rawWriteLoop(online, def, rows, name) : await upsync();
    const [check] = await online.readObjects(def, [{ user_id: rows }]);
    if (!check?.found || check.values.level !== rows % 100)
      throw new Error(`row ${rows} is not in the online store`);
    return result;
  } finally {
    await online.close();
  }

  async function upsync(): Promise<Result> {
    const offline = await openOffline(source === 'duckdb' ? 'duckdb' : 'bigquery', dir, dataset);
    try {
      const settings = readSettings({ ...process.env, FERRY_SQL_DIR: path.join(dir, 'sql') });
      const connection = await NativeConnection.connect({ address: settings.temporalAddress });
      const taskQueue = `bench-upsync-${process.pid}`;
      const worker = await createFerryWorker({
        connection,
        settings,
        online,
        offline,
        taskQueue,
        workflowBundlePath: path.join(dir, workflowBundleFile),
      });
      const client = new Client({ connection, namespace: settings.temporalNamespace });
      const options = {
        ...(chunkRows ? { chunkRows } : {}),
        ...(pageSize ? { pageSize } : {}),
        ...(pagesInFlight ? { pagesInFlight } : {}),
      };
      const workflowId = `bench/upsync/${process.pid}/${name}`;
      const t0 = performance.now();
      const progress = await worker.runUntil(
        client.workflow.execute(workflowTypes.upsync, {
          args: [{ feature: def.name, full: true, options } satisfies UpsyncInput],
          taskQueue,
          workflowId,
        }) as Promise<SyncProgress>,
      );
      const seconds = (performance.now() - t0) / 1000;
      const inActivities = await activitySeconds(client, workflowId).finally(() => connection.close());
      if (progress.rowsWritten !== rows) {
        throw new Error(
          `wrote ${progress.rowsWritten} of ${rows} rows (${progress.rowsDeadLettered} dead-lettered)`,
        );
      }
      return {
        case: name,
        rows: progress.rowsRead,
        seconds,
        rowsPerSecond: progress.rowsRead / seconds,
        activitySeconds: inActivities,
        peakRssMb: 0,
        peakAnonMb: 0,
        peakFileMb: 0,
        peakHeapMb: 0,
        deadLettered: progress.rowsDeadLettered,
      };
    } finally {
      await offline.close();
    }
  }
}

/**
 * The baseline: the same rows as writes built in memory, written in calls of the size upsync's pages
 * have (the store's `bulkWriteRows`, or `--page-size`).
 */
async function rawWriteLoop(
  online: OnlineStore,
  def: FeatureDefinition,
  rows: number,
  name: CaseName,
): Promise<Result> {
  const order = keysByEventTime(rows);
  const t0 = performance.now();
  const size = pageSize ?? online.bulkWriteRows;
  for (let start = 0; start < rows; start += size) {
    const batch: ObjectWrite[] = [];
    for (let t = start; t < start + size && t < rows; t++) batch.push(writeOf(order[t]!, rows));
    await online.writeObjects(def, batch);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    case: name,
    rows,
    seconds,
    rowsPerSecond: rows / seconds,
    peakRssMb: 0,
    peakAnonMb: 0,
    peakFileMb: 0,
    peakHeapMb: 0,
  };
}

/**
 * One upsync case as users run it: `ferry apply`, `ferry worker` (a child process), then
 * `ferry upsync <feature> --full --wait --json`, timed; the worker's memory sampled from /proc.
 */
async function runCliCase(
  name: CaseName,
  rows: number,
  dir: string,
  keyspace: string,
  dataset: string,
  tag: string,
): Promise<Result> {
  const [source, target] = name.split('-') as ['duckdb' | 'emulator', 'embedded' | 'cassandra'];
  const caseDir = mkdtempSync(path.join(dir, `${name}-`));
  const featureName = `bench::upsync-${name}-${tag}`;
  mkdirSync(path.join(caseDir, 'features'));
  writeFileSync(path.join(caseDir, 'features', 'bench.yaml'), featureYaml(featureName));
  const env: Record<string, string | undefined> = {
    FERRY_DATA_DIR: path.join(caseDir, 'data'),
    FERRY_FEATURES_DIR: path.join(caseDir, 'features'),
    FERRY_SQL_DIR: path.join(dir, 'sql'),
    FERRY_OFFLINE_STORE: source === 'duckdb' ? 'duckdb' : 'bigquery',
    FERRY_BIGQUERY_ENDPOINT: emulator,
    FERRY_BIGQUERY_PROJECT: 'ferry-local',
    FERRY_BIGQUERY_DATASET: dataset,
    FERRY_BIGQUERY_LOCATION: 'US',
    FERRY_ONLINE_STORE: target,
    FERRY_CASSANDRA_CONTACT_POINTS: cassandra,
    FERRY_CASSANDRA_KEYSPACE: keyspace,
    FERRY_CASSANDRA_REPLICATION: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    FERRY_CASSANDRA_CONSISTENCY: 'ONE',
    FERRY_TEMPORAL_TASK_QUEUE: `bench-upsync-${tag}-${name}`,
  };
  if (source === 'duckdb') {
    // the source table, in the DuckDB file the worker opens (<data dir>/offline.duckdb)
    const t0 = performance.now();
    const { DuckDbOfflineStore, duckDbFileName } = await import('../stores/offline/duckdb-offline-store.ts');
    mkdirSync(path.join(caseDir, 'data'), { recursive: true });
    const store = await DuckDbOfflineStore.open({
      path: path.join(caseDir, 'data', duckDbFileName),
      sqlDir: path.join(dir, 'sql'),
    });
    await store.runTransform('bench/gen.sql', { logicalDate: '2024-03-10' });
    await store.close();
    console.error(
      `  source duckdb: ${fmt.format(rows)} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  const r = await cliUpsync(featureName, env, caseDir);
  if (r.rowsWritten !== rows)
    throw new Error(`wrote ${r.rowsWritten} of ${rows} rows (${r.rowsDeadLettered} dead-lettered)`);
  return {
    case: name,
    rows: r.rowsRead,
    seconds: r.seconds,
    rowsPerSecond: r.rowsRead / r.seconds,
    peakRssMb: Math.round(r.peak.rss),
    idleRssMb: Math.round(r.idle.rss),
    idleAnonMb: Math.round(r.idle.anon),
    idleFileMb: Math.round(r.idle.file),
    peakAnonMb: Math.round(r.peak.anon),
    peakFileMb: Math.round(r.peak.file),
    peakHeapMb: 0,
    deadLettered: r.rowsDeadLettered,
  };
}

function child(
  name: CaseName,
  rows: number,
  dir: string,
  keyspace: string,
  dataset: string,
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [
        // e.g. FERRY_BENCH_CHILD_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a case
        ...(process.env.FERRY_BENCH_CHILD_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
        '--expose-gc', // as bin/ferry.js starts `ferry worker`
        ...tsxIfSources(import.meta.url),
        import.meta.filename,
        '--child',
        name,
        '--rows',
        String(rows),
        '--dir',
        dir,
        '--keyspace',
        keyspace,
        '--dataset',
        dataset,
        ...(chunkRows ? ['--chunk-rows', String(chunkRows)] : []),
        ...(pageSize ? ['--page-size', String(pageSize)] : []),
        ...(pagesInFlight ? ['--pages-in-flight', String(pagesInFlight)] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.on('exit', (code) => {
      const lines = out.split('\n');
      const line = lines.find((l) => l.startsWith('RESULT '));
      // whatever else the case printed (--trace-gc and the like) goes to stderr
      const other = lines.filter((l) => l !== '' && l !== line);
      if (code === 0 && other.length > 0) process.stderr.write(`${other.join('\n')}\n`);
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as Result);
      else reject(new Error(`case ${name} failed (exit ${code}):\n${out}`));
    });
  });
}

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Busy and total CPU time of the whole machine so far (/proc/stat, in clock ticks). */
function cpuTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * Waits until the machine is quiet: Cassandra compacts for a minute or more after a million rows,
 * on the same two cores, and would slow whichever case comes next. Quiet = under 15% busy over 2 s;
 * gives up after `maxMs` and says so.
 */
async function waitForQuietMachine(maxMs = 180_000): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const a = cpuTicks();
    await new Promise((r) => setTimeout(r, 2000));
    const b = cpuTicks();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy < 0.15) return;
    if (performance.now() - t0 > maxMs) {
      console.error(`machine still ${(busy * 100).toFixed(0)}% busy after ${maxMs / 1000} s; going on`);
      return;
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      'chunk-rows': { type: 'string' },
      'page-size': { type: 'string' },
      'pages-in-flight': { type: 'string' },
      repeat: { type: 'string', default: '1' },
      cases: { type: 'string' },
      json: { type: 'boolean' },
      harness: { type: 'boolean' },
      child: { type: 'string' },
      dir: { type: 'string' },
      keyspace: { type: 'string' },
      dataset: { type: 'string' },
    },
  });
  const rows = Number(values.rows);
  if (!Number.isSafeInteger(rows) || rows < 1 || gcd(spread, rows) !== 1)
    throw new Error(`--rows: a positive integer that is not a multiple of ${spread}, got ${values.rows}`);
  if (values['chunk-rows']) chunkRows = Number(values['chunk-rows']);
  if (values['page-size']) pageSize = Number(values['page-size']);
  if (values['pages-in-flight']) pagesInFlight = Number(values['pages-in-flight']);
  const repeat = Math.max(1, Number(values.repeat));
  const harness = values.harness === true;
  if (values.child) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const sampler = setInterval(sampleMemory, 20);
    watchGc();
    const r = await runCase(values.child as CaseName, rows, values.dir!, values.keyspace!, values.dataset!);
    clearInterval(sampler);
    sampleMemory();
    r.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    r.peakAnonMb = Math.round(peaks.anon);
    r.peakFileMb = Math.round(peaks.file);
    r.peakHeapMb = Math.round(peaks.heap);
    r.gcMajorMs = Math.round(gcTime.majorMs);
    r.gcMajorCount = gcTime.majorCount;
    r.gcMinorMs = Math.round(gcTime.minorMs);
    console.log(`RESULT ${JSON.stringify(r)}`);
    process.exit(0);
  }
  const wanted = (values.cases?.split(',') ?? [...cases]) as CaseName[];
  for (const c of wanted)
    if (!cases.includes(c)) throw new Error(`unknown case ${c} (known: ${cases.join(', ')})`);
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-upsync-'));
  if (harness) {
    // bundled once, as `ferry worker --workflow-bundle` takes it: webpack's memory is not the upsync's
    const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
    writeFileSync(path.join(dir, workflowBundleFile), code);
  }
  const tag = `${Date.now().toString(36)}${process.pid}`;
  const keyspace = `ferry_bench_${tag}`;
  const dataset = `ferry_bench_${tag}`;
  mkdirSync(path.join(dir, 'sql', 'bench'), { recursive: true });
  writeFileSync(path.join(dir, 'sql', 'bench', 'gen.duckdb.sql'), genDuckDb(rows));
  writeFileSync(path.join(dir, 'sql', 'bench', 'gen.bigquery.sql'), genBigQuery(rows));
  const results: Result[] = [];
  try {
    for (const kind of ['duckdb', 'bigquery'] as const) {
      if (!wanted.some((c) => c.startsWith(kind === 'duckdb' ? 'duckdb' : 'emulator'))) continue;
      if (kind === 'duckdb' && !harness) continue; // each case makes its own DuckDB file
      const t0 = performance.now();
      const store = await openOffline(kind, dir, dataset);
      const r = await store.runTransform('bench/gen.sql', { logicalDate: '2024-03-10' });
      await store.close();
      console.error(
        `source ${kind}: ${fmt.format(r.rowsWritten)} rows generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    for (let round = 0; round < repeat; round++)
      for (const c of wanted) {
        await waitForQuietMachine();
        const r =
          c.startsWith('baseline') || harness
            ? await child(c, rows, dir, keyspace, dataset)
            : await runCliCase(c, rows, dir, keyspace, dataset, tag);
        results.push(r);
        console.error(
          `${c}: ${fmt.format(r.rowsPerSecond)} rows/s, ${r.seconds.toFixed(1)} s` +
            (r.activitySeconds ? ` (${r.activitySeconds.toFixed(1)} s in activities)` : '') +
            (r.idleRssMb === undefined
              ? ''
              : `, ferry worker idle ${r.idleRssMb} MB (anonymous ${r.idleAnonMb} MB, file-backed ${r.idleFileMb} MB)`) +
            `, peak RSS ${r.peakRssMb} MB ` +
            `(anonymous ${r.peakAnonMb} MB, file-backed ${r.peakFileMb} MB)` +
            (r.gcMajorCount === undefined
              ? ''
              : `; V8 heap ${r.peakHeapMb} MB; GC: ${r.gcMajorCount} full ${r.gcMajorMs} ms, young ${r.gcMinorMs} ms`),
        );
      }
  } finally {
    if (wanted.some((c) => c.startsWith('emulator'))) {
      const store = (await openOffline('bigquery', dir, dataset)) as OfflineStore & {
        dropDataset(): Promise<void>;
      };
      await store.dropDataset().catch(() => undefined);
      await store.close();
    }
    if (wanted.some((c) => c.endsWith('cassandra'))) {
      const store = (await openOnline('cassandra', dir, keyspace)) as OnlineStore & {
        client: { execute(q: string): Promise<unknown> };
      };
      await store.client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
      await store.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
  // one line per case: the median run by rows/s (runs alternate between cases, so the machine's
  // load at the time weighs on the baseline and the upsync alike), the highest peak memory
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const byCase = new Map<CaseName, Result[]>();
  for (const r of results) byCase.set(r.case, [...(byCase.get(r.case) ?? []), r]);
  const summary = [...byCase.entries()].map(([c, runs]) => {
    const rps = median(runs.map((r) => r.rowsPerSecond));
    const mid = runs.find((r) => r.rowsPerSecond === rps)!;
    return {
      case: c,
      runs: runs.length,
      rows: mid.rows,
      seconds: mid.seconds,
      rowsPerSecond: rps,
      allRowsPerSecond: runs.map((r) => Math.round(r.rowsPerSecond)),
      inActivities: runs.map((r) => (r.activitySeconds ? Math.round(r.rows / r.activitySeconds) : undefined)),
      peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
      peakAnonMb: Math.max(...runs.map((r) => r.peakAnonMb)),
      peakFileMb: Math.max(...runs.map((r) => r.peakFileMb)),
      peakHeapMb: Math.max(...runs.map((r) => r.peakHeapMb)),
      idleRssMb: Math.max(...runs.map((r) => r.idleRssMb ?? 0)),
    };
  });
  const table = summary.map((r) => {
    const b = summary.find((x) => x.case === `baseline-${r.case.split('-')[1]}`)?.rowsPerSecond;
    return { ...r, ratio: r.case.startsWith('baseline') || !b ? undefined : r.rowsPerSecond / b };
  });
  if (values.json) {
    console.log(JSON.stringify(table, null, 2));
    return;
  }
  console.log(
    `| case${harness ? ' (harness: a diagnostic)' : ''} | runs | rows | seconds | rows/s (median) | all runs (rows/s) | in activities (rows/s) | vs raw write loop | worker idle RSS (MB) | peak RSS (MB) | anonymous (MB) | V8 heap (MB) | file-backed (MB) |`,
  );
  console.log('|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of table) {
    console.log(
      `| ${r.case} | ${r.runs} | ${fmt.format(r.rows)} | ${r.seconds.toFixed(1)} | ${fmt.format(r.rowsPerSecond)} | ${r.allRowsPerSecond
        .map((x) => fmt.format(x))
        .join(
          ', ',
        )} | ${r.inActivities.map((x) => (x === undefined ? '' : fmt.format(x))).join(', ')} | ${r.ratio === undefined ? '(baseline)' : r.ratio.toFixed(2)} | ${r.idleRssMb || ''} | ${r.peakRssMb} | ${r.peakAnonMb} | ${r.peakHeapMb || ''} | ${r.peakFileMb} |`,
    );
  }
}

await main();
