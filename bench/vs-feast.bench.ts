/**
 * Ferry next to Feast (issue 16), on the same generated rows, the same keys and the same load:
 * - materialize/upsync: Feast's `materialize` (the local provider, Parquet file source, SQLite
 *   online store) against `ferry upsync --full --wait` through `ferry worker` (DuckDB → LMDB);
 *   rows/s and the peak memory of the process that copies (Feast's Python process, Ferry's
 *   worker);
 * - reads: Feast's Python feature server (`feast serve`, HTTP, one worker per core, no access
 *   log, no worker restarts) against `ferry serve` (its defaults: one thread per core, the 64 MB
 *   row cache), single keys and 100-key batches, keys uniform over every row, from Debian's `wrk`
 *   (-t1, a separate process, 127.0.0.1 only).
 * Targets: Ferry at least 10x Feast on the copy and on both reads.
 *
 *   npm run bench:vs-feast -- [--rows 1000000] [--seconds 10] [--connections 50] [--rounds 1]
 *
 * Feast comes from PyPI into a virtual environment this script makes on first use
 * (.cache/feast-<version>/, about 600 MB; FERRY_FEAST_PYTHON names another python3 ≥ 3.10).
 * The rows: a Long key, five values of four types (level, score, country, active, last_seen_at),
 * event times that do not follow the key, written once as Parquet by DuckDB; Feast reads that file,
 * Ferry a DuckDB table made from it. Ferry's upsync needs the local Temporal server (`bash
 * infra/up.sh temporal`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { projectRoot } from '../config/module-files.ts';
import { sha256Hex } from '../reader/tokens.ts';
import { benchCountries, benchFeatureYaml } from './bench-feature.ts';
import { cliUpsync } from './ferry-cli-upsync.ts';
import { ferryServe, type MeasuredServer } from './ferry-serve-process.ts';
import { procCpuSeconds, procMemoryMb, procTree } from './process-stats.ts';
import { requireWrk, runWrk, type WrkResult } from './wrk-load.ts';

const feastVersion = '0.67.0';
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '10' },
    'warm-seconds': { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
  },
});
const rows = Number(args.rows);
const seconds = Number(args.seconds);
const warmSeconds = Number(args['warm-seconds']);
const connections = Number(args.connections);
const rounds = Math.max(1, Number(args.rounds));
const BASE = 1_700_000_000_000;
const spread = 7919;
const token = 'bench-token';
const feastRefs = ['level', 'score', 'country', 'active', 'last_seen_at'].map((f) => `user_profile:${f}`);
const countries = benchCountries;
const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

requireWrk();

// ------------------------------------------------------------------ Feast's environment

/** The venv's bin/ folder, made (python3 -m venv, pip install feast) when missing. */
function feastEnvironment(): string {
  const venv = path.join(projectRoot, '.cache', `feast-${feastVersion}`);
  const bin = path.join(venv, 'bin');
  if (existsSync(path.join(bin, 'feast'))) return bin;
  const python = process.env.FERRY_FEAST_PYTHON || 'python3';
  const version = spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']);
  const [major, minor] = (version.stdout?.toString().trim() ?? '0.0').split('.').map(Number);
  if (version.status !== 0 || major! < 3 || (major === 3 && minor! < 10))
    throw new Error(`Feast ${feastVersion} needs Python ≥ 3.10: set FERRY_FEAST_PYTHON to one`);
  console.error(`setting up Feast ${feastVersion} in ${venv} (once; pip from PyPI, a few minutes)`);
  rmSync(venv, { recursive: true, force: true });
  const run = (cmd: string, cmdArgs: string[]) => {
    const r = spawnSync(cmd, cmdArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) {
      rmSync(venv, { recursive: true, force: true });
      throw new Error(`${cmd} ${cmdArgs.join(' ')} failed (exit ${r.status})`);
    }
  };
  run(python, ['-m', 'venv', venv]);
  run(path.join(bin, 'pip'), ['install', '--quiet', '--progress-bar', 'off', `feast==${feastVersion}`]);
  return bin;
}

// ------------------------------------------------------------------ the rows

async function writeParquet(file: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const at = `${BASE} + (range * ${spread}) % ${rows}`;
  await c.run(`COPY (
    SELECT range AS user_id, range % 100 AS level, (range % 1000) / 7.0 AS score,
      ['${countries.join("','")}'][(range % 8) + 1] AS country, range % 3 = 0 AS active,
      make_timestamp((${at}) * 1000) AS last_seen_at, make_timestamp((${at}) * 1000) AS event_timestamp
    FROM range(1, ${rows + 1})
  ) TO '${file}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
}

// ------------------------------------------------------------------ Ferry

const ferryFeature = 'bench::user-profile';
const ferryYaml = benchFeatureYaml(ferryFeature, 'bench_src');

async function ferryCase(dir: string, parquet: string, round: number): Promise<CaseResult> {
  const home = path.join(dir, `ferry-${round}`);
  mkdirSync(path.join(home, 'features'), { recursive: true });
  mkdirSync(path.join(home, 'data'), { recursive: true });
  writeFileSync(path.join(home, 'features', 'bench.yaml'), ferryYaml);
  writeFileSync(
    path.join(home, 'tokens.yaml'),
    `tokens:\n  - service: bench\n    sha256: ${sha256Hex(token)}\n`,
  );
  const db = await DuckDBInstance.create(path.join(home, 'data', 'offline.duckdb'));
  const c = await db.connect();
  await c.run(`CREATE TABLE bench_src AS SELECT user_id, level, score, country, active, last_seen_at,
      epoch_ms(event_timestamp) AS _last_updated_at_ms FROM read_parquet('${parquet}')`);
  c.closeSync();
  db.closeSync();
  const env = {
    FERRY_DATA_DIR: path.join(home, 'data'),
    FERRY_FEATURES_DIR: path.join(home, 'features'),
    FERRY_OFFLINE_STORE: 'duckdb',
    FERRY_ONLINE_STORE: 'embedded',
    FERRY_TEMPORAL_TASK_QUEUE: `bench-vs-feast-${process.pid}-${round}`,
    FERRY_TOKENS_FILE: path.join(home, 'tokens.yaml'),
    FERRY_REDIS_URL: '',
  };
  const u = await cliUpsync(ferryFeature, env, home);
  if (u.rowsWritten !== rows) throw new Error(`ferry upsync wrote ${u.rowsWritten} of ${rows} rows`);
  console.error(
    `  ferry upsync: ${fmt.format(rows / u.seconds)} rows/s (${u.seconds.toFixed(1)} s), worker peak ${fmt.format(u.peak.rss)} MB`,
  );
  const server = await ferryServe(env);
  try {
    const check = await fetch(`http://127.0.0.1:${server.port}/v1/features/lookup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ feature: ferryFeature, keys: [rows] }),
    });
    const row = (
      (await check.json()) as { results: { rows: { found: boolean; values: { level: number } }[] }[] }
    ).results[0]!.rows[0]!;
    if (!row.found || row.values.level !== rows % 100) throw new Error(`ferry serve: row ${rows} is wrong`);
    return {
      copy: { rowsPerSecond: rows / u.seconds, seconds: u.seconds, peakMb: u.peak.rss },
      single: await load(server, ferryFeature, 1, 'ferry'),
      batch: await load(server, ferryFeature, 100, 'ferry'),
    };
  } finally {
    await server.close();
  }
}

// ------------------------------------------------------------------ Feast

const featureStoreYaml = `project: ferry_bench
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
`;

const definitionsPy = (parquet: string) => `from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float64, Int64, String, UnixTimestamp

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
source = FileSource(path="${parquet}", timestamp_field="event_timestamp")
user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="level", dtype=Int64),
        Field(name="score", dtype=Float64),
        Field(name="country", dtype=String),
        Field(name="active", dtype=Bool),
        Field(name="last_seen_at", dtype=UnixTimestamp),
    ],
    online=True,
    source=source,
)
`;

const materializePy = `import json, resource, sys, time
from datetime import datetime, timezone
from feast import FeatureStore

store = FeatureStore(repo_path=sys.argv[1])
t0 = time.perf_counter()
store.materialize(start_date=datetime(2023, 1, 1, tzinfo=timezone.utc), end_date=datetime(2024, 1, 1, tzinfo=timezone.utc))
seconds = time.perf_counter() - t0
print("RESULT " + json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function runPython(bin: string, cmd: string, cmdArgs: string[], cwd: string): string {
  const r = spawnSync(path.join(bin, cmd), cmdArgs, { cwd, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${cmdArgs.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function feastServe(bin: string, repo: string): Promise<MeasuredServer> {
  const port = await freePort();
  const child = spawn(
    path.join(bin, 'feast'),
    [
      'serve',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-w',
      String(os.cpus().length),
      '--no-access-log',
      '--max-requests',
      '1000000000',
      '--registry_ttl_sec',
      '3600',
    ],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => {
    log += d;
  });
  child.stderr.on('data', (d) => {
    log += d;
  });
  const pid = child.pid!;
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) throw new Error(`feast serve exited (${child.exitCode}):\n${log}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) break;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(
      peak,
      procTree(pid).reduce((a, p) => a + procMemoryMb(p).rss, 0),
    );
  }, 200);
  return {
    port,
    cpuSeconds: () => procTree(pid).reduce((a, p) => a + procCpuSeconds(p), 0),
    peakRssMb: () => peak,
    close: () =>
      new Promise((done) => {
        clearInterval(sampler);
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

async function feastCase(bin: string, dir: string, parquet: string, round: number): Promise<CaseResult> {
  const repo = path.join(dir, `feast-${round}`);
  mkdirSync(path.join(repo, 'data'), { recursive: true });
  writeFileSync(path.join(repo, 'feature_store.yaml'), featureStoreYaml);
  writeFileSync(path.join(repo, 'definitions.py'), definitionsPy(parquet));
  writeFileSync(path.join(dir, 'materialize.py'), materializePy);
  runPython(bin, 'feast', ['apply'], repo);
  const out = runPython(bin, 'python', [path.join(dir, 'materialize.py'), repo], repo);
  const m = JSON.parse(/RESULT (\{.*\})/.exec(out)![1]!) as { seconds: number; peak_rss_mb: number };
  console.error(
    `  feast materialize: ${fmt.format(rows / m.seconds)} rows/s (${m.seconds.toFixed(1)} s), peak ${fmt.format(m.peak_rss_mb)} MB`,
  );
  const server = await feastServe(bin, repo);
  try {
    const check = await fetch(`http://127.0.0.1:${server.port}/get-online-features`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: feastRefs, entities: { user_id: [rows] } }),
    });
    const text = await check.text();
    if (check.status !== 200 || !text.includes(`${rows % 100}`))
      throw new Error(`feast serve: row ${rows}: ${text}`);
    return {
      copy: { rowsPerSecond: rows / m.seconds, seconds: m.seconds, peakMb: m.peak_rss_mb },
      single: await load(server, feastRefs.join(','), 1, 'feast'),
      batch: await load(server, feastRefs.join(','), 100, 'feast'),
    };
  } finally {
    await server.close();
  }
}

// ------------------------------------------------------------------ load and table

interface ReadResult {
  wrk: WrkResult;
  cpuUsPerRequest: number;
}

interface CaseResult {
  copy: { rowsPerSecond: number; seconds: number; peakMb: number };
  single: ReadResult;
  batch: ReadResult;
}

async function load(
  server: MeasuredServer,
  feature: string,
  batch: number,
  api: 'ferry' | 'feast',
): Promise<ReadResult> {
  const base = {
    port: server.port,
    feature,
    keys: rows,
    batch,
    dist: 'uniform' as const,
    connections,
    token,
    api,
  };
  await runWrk({ ...base, seconds: warmSeconds });
  const cpu0 = server.cpuSeconds();
  const wrk = await runWrk({ ...base, seconds });
  const cpu = server.cpuSeconds() - cpu0;
  console.error(
    `  ${api} ${batch === 1 ? 'single key' : `${batch}-key batch`}: ${fmt.format(wrk.rps)} req/s, ` +
      `p99 ${(wrk.p99_us / 1000).toFixed(2)} ms, errors ${wrk.socket_errors + wrk.non2xx}`,
  );
  return { wrk, cpuUsPerRequest: (cpu * 1e6) / Math.max(1, wrk.requests) };
}

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-vs-feast-'));
try {
  const bin = feastEnvironment();
  const parquet = path.join(dir, 'rows.parquet');
  await writeParquet(parquet);
  console.error(
    `Ferry vs Feast ${feastVersion}: ${fmt.format(rows)} rows, ${os.cpus().length} cores, wrk -t1 -c${connections}, ` +
      `${seconds} s per read run after ${warmSeconds} s of warm-up, ${rounds} round(s)`,
  );
  const ferry: CaseResult[] = [];
  const feast: CaseResult[] = [];
  for (let round = 0; round < rounds; round++) {
    feast.push(await feastCase(bin, dir, parquet, round));
    ferry.push(await ferryCase(dir, parquet, round));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const ms = (us: number) => (us / 1000).toFixed(2);
  const lines = [
    "| measure | Ferry | Feast | Ferry's advantage | target |",
    '| --- | ---: | ---: | ---: | --- |',
  ];
  const row = (
    what: string,
    f: number[],
    b: number[],
    unit: (x: number) => string,
    higherIsBetter: boolean,
  ) => {
    const fm = median(f);
    const bm = median(b);
    lines.push(
      `| ${what} | ${f.map(unit).join(', ')} | ${b.map(unit).join(', ')} | ${(higherIsBetter ? fm / bm : bm / fm).toFixed(1)}x | ${higherIsBetter ? '≥ 10x' : ''} |`,
    );
  };
  row(
    'copy offline → online, rows/s',
    ferry.map((r) => r.copy.rowsPerSecond),
    feast.map((r) => r.copy.rowsPerSecond),
    fmt.format,
    true,
  );
  row(
    'copy: peak memory of the copying process, MB',
    ferry.map((r) => r.copy.peakMb),
    feast.map((r) => r.copy.peakMb),
    fmt.format,
    false,
  );
  for (const kind of ['single', 'batch'] as const) {
    const name = kind === 'single' ? 'single-key reads' : '100-key batches';
    row(
      `${name}, req/s`,
      ferry.map((r) => r[kind].wrk.rps),
      feast.map((r) => r[kind].wrk.rps),
      fmt.format,
      true,
    );
    row(
      `${name}, p99 ms`,
      ferry.map((r) => r[kind].wrk.p99_us),
      feast.map((r) => r[kind].wrk.p99_us),
      ms,
      false,
    );
    row(
      `${name}, server CPU µs/req`,
      ferry.map((r) => r[kind].cpuUsPerRequest),
      feast.map((r) => r[kind].cpuUsPerRequest),
      (x) => x.toFixed(0),
      false,
    );
  }
  console.log(lines.join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
