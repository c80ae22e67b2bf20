/**
 * Offline store: incremental read of N rows (default 1,000,000), streamed page by page, on DuckDB
 * and on the BigQuery emulator. For each store one child process generates the rows in the
 * warehouse (a per-dialect transform), then a fresh child process opens the store, reads every row
 * with readIncremental and is measured: rows/s, time to the first page and peak resident memory
 * (sampled every 20 ms and at every page), which must stay under 300 MB. Runs of 10 rows share a
 * watermark and the read uses the key as tie-breaker, as upsync does; the reader checks that no row
 * is skipped or repeated.
 *
 *   npx tsx bench/offline-read.bench.ts [--rows N] [--page-size N] [--stores duckdb,bigquery] [--json]
 *
 * The BigQuery side needs the emulator (`bash infra/up.sh bigquery`); FERRY_BIGQUERY_PORT and
 * FERRY_BIGQUERY_PROJECT are honoured. A store that cannot run is reported, not fatal.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import { tsxIfSources } from './node-loader.ts';

const rssLimitMb = 300;

interface Result {
  store: string;
  rows: number;
  pages: number;
  pageSize: number;
  generateSeconds: number;
  readSeconds: number;
  rowsPerSecond: number;
  baselineRssMb: number;
  peakRssMb: number;
  firstPageMs: number;
  ok: boolean;
  note?: string;
}

const generateSql: Record<string, string> = {
  duckdb: `-- ferry:destination bench_rows
SELECT
  i AS user_id,
  'user-' || CAST(i AS VARCHAR) AS name,
  CAST(i % 100 AS BIGINT) AS level,
  i / 7.0 AS score,
  ['a', 'b'] AS tags,
  CAST(1700000000000 + (i // 10) AS BIGINT) AS _last_updated_at_ms
FROM range(@rows) AS r(i)
`,
  bigquery: `-- ferry:destination bench_rows
SELECT
  i AS user_id,
  CONCAT('user-', CAST(i AS STRING)) AS name,
  MOD(i, 100) AS level,
  i / 7.0 AS score,
  ['a', 'b'] AS tags,
  1700000000000 + DIV(i, 10) AS _last_updated_at_ms
FROM UNNEST(GENERATE_ARRAY(0, @rows - 1)) AS i
`,
};

interface Place {
  dir: string;
  dataset: string;
}

async function openStore(kind: string, place: Place): Promise<OfflineStore> {
  const sqlDir = path.join(place.dir, 'sql');
  if (kind === 'duckdb') {
    const { DuckDbOfflineStore } = await import('../stores/offline/duckdb-offline-store.ts');
    return DuckDbOfflineStore.open({ path: path.join(place.dir, 'offline.duckdb'), sqlDir });
  }
  const { BigQueryOfflineStore } = await import('../stores/offline/bigquery-offline-store.ts');
  return BigQueryOfflineStore.open({
    projectId: process.env.FERRY_BIGQUERY_PROJECT ?? 'ferry-local',
    dataset: place.dataset,
    location: 'US',
    endpoint: `http://127.0.0.1:${process.env.FERRY_BIGQUERY_PORT ?? '9050'}`,
    sqlDir,
  });
}

/** Child, first process: generates the rows in the warehouse. Prints `{ seconds }`. */
async function generate(kind: string, place: Place, rows: number): Promise<void> {
  const sqlDir = path.join(place.dir, 'sql');
  mkdirSync(sqlDir, { recursive: true });
  // the row count is a literal: transform parameters are only the run's date and window
  writeFileSync(
    path.join(sqlDir, `generate.${kind}.sql`),
    generateSql[kind]!.replace(/@rows/g, String(rows)),
  );
  const store = await openStore(kind, place);
  try {
    const t0 = performance.now();
    const generated = await store.runTransform('generate.sql', { logicalDate: '2024-03-10' });
    if (generated.rowsWritten !== rows)
      throw new Error(`generated ${generated.rowsWritten} rows, wanted ${rows}`);
    process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - t0) / 1000 })}\n`);
  } finally {
    await store.close();
  }
}

/**
 * Child, second process: opens the store on the existing table, reads everything incrementally and
 * measures. Prints one JSON line; removes the data (folder, dataset) at the end.
 */
async function read(kind: string, place: Place, rows: number, pageSize: number): Promise<void> {
  const store = await openStore(kind, place);
  try {
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sample = () => {
      const rss = process.memoryUsage.rss();
      if (rss > peak) peak = rss;
    };
    const timer = setInterval(sample, 20);
    let count = 0;
    let pages = 0;
    let lastId = -1;
    let firstPageMs = 0;
    const t0 = performance.now();
    for await (const page of store.readIncremental('bench_rows', {
      watermarkColumn: '_last_updated_at_ms',
      tieBreaker: ['user_id'],
      pageSize,
    })) {
      if (pages === 0) firstPageMs = performance.now() - t0;
      pages++;
      for (const row of page.rows) {
        const id = row.user_id as number;
        if (id !== lastId + 1) throw new Error(`row ${id} after ${lastId}: skipped or repeated`);
        lastId = id;
      }
      count += page.rows.length;
      sample();
    }
    const readSeconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    const peakRssMb = Math.round(peak / 2 ** 20);
    const result: Omit<Result, 'generateSeconds'> = {
      store: kind,
      rows: count,
      pages,
      pageSize,
      readSeconds: Math.round(readSeconds * 10) / 10,
      rowsPerSecond: Math.round(count / readSeconds),
      baselineRssMb: Math.round(baseline / 2 ** 20),
      peakRssMb,
      firstPageMs: Math.round(firstPageMs),
      ok: count === rows && peakRssMb < rssLimitMb,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (kind === 'bigquery')
      await (store as unknown as { dropDataset(): Promise<void> }).dropDataset().catch(() => undefined);
    await store.close();
  }
}

function runNode(args: string[]): Promise<{ json?: Record<string, unknown>; error?: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...tsxIfSources(import.meta.url), import.meta.filename, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('close', (code) => {
      try {
        resolve({ json: JSON.parse(out.trim().split('\n').at(-1) ?? '') as Record<string, unknown> });
      } catch {
        const reason = err.split('\n').find((l) => /Error|error|ECONN/.test(l)) ?? `exit code ${code}`;
        resolve({ error: reason.trim().slice(0, 200) });
      }
    });
  });
}

async function measure(kind: string, rows: number, pageSize: number): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-offline-'));
  const place = ['--dir', dir, '--dataset', `ferry_bench_${Date.now()}`];
  const failed = (note: string): Result => ({
    store: kind,
    rows: 0,
    pages: 0,
    pageSize,
    generateSeconds: 0,
    readSeconds: 0,
    rowsPerSecond: 0,
    baselineRssMb: 0,
    peakRssMb: 0,
    firstPageMs: 0,
    ok: false,
    note,
  });
  try {
    const g = await runNode(['--child', 'generate', '--store', kind, '--rows', String(rows), ...place]);
    if (!g.json) return failed(`did not run: ${g.error}`);
    const r = await runNode([
      '--child',
      'read',
      '--store',
      kind,
      '--rows',
      String(rows),
      '--page-size',
      String(pageSize),
      ...place,
    ]);
    if (!r.json) return failed(`read failed: ${r.error}`);
    return {
      ...(r.json as unknown as Result),
      generateSeconds: Math.round((g.json.seconds as number) * 10) / 10,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cpuModel(): string {
  try {
    return execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim();
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      store: { type: 'string' },
      dir: { type: 'string' },
      dataset: { type: 'string' },
      rows: { type: 'string', default: '1000000' },
      'page-size': { type: 'string', default: '10000' },
      stores: { type: 'string', default: 'duckdb,bigquery' },
      json: { type: 'boolean' },
    },
  });
  const rows = Number(values.rows);
  const pageSize = Number(values['page-size']);
  if (values.child) {
    const place = { dir: values.dir!, dataset: values.dataset! };
    if (values.child === 'generate') return generate(values.store!, place, rows);
    return read(values.store!, place, rows, pageSize);
  }

  const results: Result[] = [];
  for (const kind of values.stores.split(',').map((s) => s.trim())) {
    if (!(kind in generateSql)) throw new Error(`unknown store ${kind}`);
    results.push(await measure(kind, rows, pageSize));
  }
  if (values.json) {
    console.log(JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, results }, null, 2));
    return;
  }
  console.log(
    `Offline incremental read: ${rows.toLocaleString('en')} rows, pages of ${pageSize.toLocaleString('en')}, tie-breaker user_id`,
  );
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpuModel()}), ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}`,
  );
  console.log('');
  console.log(
    '| store | rows read | pages | generate (s) | read (s) | rows/s | first page (ms) | RSS before read (MB) | peak RSS (MB) | < 300 MB |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of results) {
    if (r.note) {
      console.log(`| ${r.store} | ${r.note} | | | | | | | | |`);
      continue;
    }
    console.log(
      `| ${r.store} | ${r.rows.toLocaleString('en')} | ${r.pages} | ${r.generateSeconds} | ${r.readSeconds} | ${r.rowsPerSecond.toLocaleString('en')} | ${r.firstPageMs} | ${r.baselineRssMb} | ${r.peakRssMb} | ${r.peakRssMb < rssLimitMb ? 'yes' : 'NO'} |`,
    );
  }
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

await main();
