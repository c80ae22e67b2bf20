/**
 * Online store benchmark (issue 4): the embedded LMDB store and real Cassandra, each next to
 * a raw baseline on the same data (a raw cassandra-driver loop on the same table with the
 * same prepared statements; raw LMDB get + decode for the embedded store).
 *
 *   npx tsx bench/online-store.bench.ts [--only=size,embedded,cassandra] [--seconds=12] [--rounds=8]
 *
 * Each measurement runs every variant for `seconds` in total, cut into `rounds` slices that
 * alternate between the variants (adapter, baseline, adapter, ...), and sums the slices.
 *
 * Every loop is bounded (a time limit and an operation cap) and talks to 127.0.0.1 only.
 * Cassandra: FERRY_CASSANDRA_PORT (default 9042); a keyspace `ferry_bench_<pid>` is created
 * and dropped. Closed-loop measurements keep a fixed number of calls in flight; the paced
 * one issues single-key reads at a fixed rate (2,000/s) and reports their latency.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from 'cassandra-driver';
import { type Database, open } from 'lmdb';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import {
  type CassandraOnlineStore,
  openCassandraOnlineStore,
} from '../stores/online/cassandra-online-store.ts';
import { featureTableName, q } from '../stores/online/cassandra-schema.ts';
import { compileFeature } from '../stores/online/compiled-feature.ts';
import { decodeObjectEntry } from '../stores/online/embedded-entry-codec.ts';
import { openEmbeddedOnlineStore } from '../stores/online/embedded-online-store.ts';
import type { ObjectWrite } from '../stores/online/online-store.ts';
import { formatValueSizes, measureValueSizes } from './online-value-size.ts';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'size,embedded,cassandra' },
    seconds: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '8' },
  },
});
const only = new Set(args.only!.split(','));
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const cassandraPort = Number(process.env.FERRY_CASSANDRA_PORT ?? 9042);
const featureName = 'azar::user-profile';

// ------------------------------------------------------------------ measuring

interface Result {
  /** Calls completed. */
  calls: number;
  /** Keys (reads) or values (writes) per second. */
  perSecond: number;
  p50us: number;
  p99us: number;
  maxUs: number;
  /** CPU time of this process (user + system) per call: the client-side cost, less noisy than throughput. */
  cpuUsPerCall: number;
}

/** What one slice of a measurement saw. */
interface Sample {
  lat: Float64Array;
  items: number;
  elapsedMs: number;
  cpuUs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function summarise(samples: readonly Sample[]): Result {
  const n = samples.reduce((sum, x) => sum + x.lat.length, 0);
  const all = new Float64Array(n);
  let at = 0;
  for (const x of samples) {
    all.set(x.lat, at);
    at += x.lat.length;
  }
  all.sort();
  const items = samples.reduce((sum, x) => sum + x.items, 0);
  const ms = samples.reduce((sum, x) => sum + x.elapsedMs, 0);
  const cpu = samples.reduce((sum, x) => sum + x.cpuUs, 0);
  return {
    calls: n,
    perSecond: items / (ms / 1000),
    p50us: percentile(all, 0.5),
    p99us: percentile(all, 0.99),
    maxUs: all[n - 1] ?? Number.NaN,
    cpuUsPerCall: cpu / n,
  };
}

/** `concurrency` loops call `op` back to back until the time or the call cap runs out. */
async function closedLoop(
  op: (i: number) => Promise<unknown>,
  opts: { concurrency: number; ms: number; maxCalls: number; itemsPerCall: number },
): Promise<Sample> {
  const lat = new Float64Array(opts.maxCalls);
  let n = 0;
  let next = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const deadline = start + opts.ms;
  const loop = async () => {
    while (next < opts.maxCalls && performance.now() < deadline) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      await op(i);
      lat[n++] = Number(process.hrtime.bigint() - t0) / 1000;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const used = process.cpuUsage(cpu);
  return {
    lat: lat.slice(0, n),
    items: n * opts.itemsPerCall,
    elapsedMs: performance.now() - start,
    cpuUs: used.user + used.system,
  };
}

/** Starts one call every 1/rate seconds (open loop) for `ms`; latency counts from the scheduled start. */
async function pacedLoop(op: (i: number) => Promise<unknown>, rate: number, ms: number): Promise<Sample> {
  const total = Math.floor((rate * ms) / 1000);
  const lat = new Float64Array(total);
  let done = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      op(i).then(() => {
        lat[done++] = (performance.now() - due) * 1000;
      }),
    );
    if (pending.length >= 512) await Promise.all(pending.splice(0, 256));
  }
  await Promise.all(pending);
  const used = process.cpuUsage(cpu);
  return {
    lat: lat.slice(0, done),
    items: done,
    elapsedMs: performance.now() - start,
    cpuUs: used.user + used.system,
  };
}

/**
 * Runs each variant in `rounds` slices of `seconds / rounds`, the variants taking turns, and
 * sums the slices: load that comes and goes on a shared machine hits every variant alike.
 * Every variant first runs one untimed second (JIT, prepared statements, connections).
 */
async function compare(
  variants: Record<string, (sliceMs: number) => Promise<Sample>>,
): Promise<Record<string, Result>> {
  const sliceMs = (seconds * 1000) / rounds;
  for (const run of Object.values(variants)) await run(1_000);
  const runs: Record<string, Sample[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(variants)) {
      const sample = await run(sliceMs);
      runs[name] = [...(runs[name] ?? []), sample];
    }
  }
  const out: Record<string, Result> = {};
  for (const [name, samples] of Object.entries(runs)) out[name] = summarise(samples);
  return out;
}

// ------------------------------------------------------------------ printing

interface Row {
  store: string;
  op: string;
  mode: string;
  adapter: Result;
  baseline?: Result;
  target?: string;
}

const rows: Row[] = [];
const fmtUs = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);
const fmtRate = (r: number) =>
  r >= 10_000 ? `${Math.round(r / 1000)}k` : r >= 1000 ? `${(r / 1000).toFixed(1)}k` : `${Math.round(r)}`;

function table(): string {
  const lines = [
    '| store | operation | load | p50 | p99 | keys or writes/s | CPU/call | baseline p50 | baseline p99 | baseline /s | baseline CPU/call | ratio /s | target |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const a = r.adapter;
    const b = r.baseline;
    lines.push(
      `| ${r.store} | ${r.op} | ${r.mode} | ${fmtUs(a.p50us)} | ${fmtUs(a.p99us)} | ${fmtRate(a.perSecond)} | ${fmtUs(a.cpuUsPerCall)} | ` +
        `${b ? fmtUs(b.p50us) : '-'} | ${b ? fmtUs(b.p99us) : '-'} | ${b ? fmtRate(b.perSecond) : '-'} | ` +
        `${b ? fmtUs(b.cpuUsPerCall) : '-'} | ${b ? (a.perSecond / b.perSecond).toFixed(2) : '-'} | ${r.target ?? ''} |`,
    );
  }
  return lines.join('\n');
}

function log(msg: string) {
  process.stderr.write(`[bench] ${msg}\n`);
}

// ------------------------------------------------------------------ data

async function profileDefinition(): Promise<FeatureDefinition> {
  const { definitions, errors } = await loadDefinitions(['features']);
  if (errors.length > 0) throw new Error(`features/ does not load: ${JSON.stringify(errors[0])}`);
  const def = definitions.find((d) => d.name === featureName);
  if (!def) throw new Error(`no ${featureName} in features/`);
  return def;
}

const countries = ['KR', 'JP', 'US', 'TR', 'ID', 'VN', 'TW', 'DE'];
function profileWrite(id: number, eventTimeMs: number): ObjectWrite {
  return {
    keys: { user_id: id },
    eventTimeMs,
    values: {
      gender: id % 2 === 0 ? 'MALE' : 'FEMALE',
      country_code: countries[id % countries.length],
      age: 18 + (id % 40),
      level: id % 100,
      avg_chat_sec: (id % 600) + 0.5,
    },
  };
}

function shuffledIds(n: number, count: number): number[] {
  const out = new Array<number>(count);
  let x = 123456789;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = 1 + (x % n);
  }
  return out;
}

// ------------------------------------------------------------------ embedded

async function benchEmbedded(def: FeatureDefinition): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-'));
  const keys = 100_000;
  const ids = shuffledIds(keys, 1_000_000);
  try {
    const store = await openEmbeddedOnlineStore({ path: dir });
    await store.ensureFeature(def);
    const now = Date.now();
    log(`embedded: loading ${keys} keys`);
    for (let i = 1; i <= keys; i += 1000) {
      await store.writeObjects(
        def,
        Array.from({ length: Math.min(1000, keys - i + 1) }, (_, j) => profileWrite(i + j, now)),
      );
    }
    const one = (i: number) => ({ user_id: ids[i % ids.length]! });

    log('embedded: single-key reads');
    const single = await compare({
      adapter: (ms) =>
        closedLoop((i) => store.readObjects(def, [one(i)]), {
          concurrency: 1,
          ms,
          maxCalls: 2_000_000,
          itemsPerCall: 1,
        }),
    });
    const singleRow =
      rows.push({
        store: 'embedded',
        op: 'read 1 key',
        mode: '1 in flight',
        ...split(single),
        target: 'p99 < 50 µs',
      }) - 1;

    for (const batch of [10, 100]) {
      log(`embedded: ${batch}-key reads`);
      const r = await compare({
        adapter: (ms) =>
          closedLoop(
            (i) =>
              store.readObjects(
                def,
                Array.from({ length: batch }, (_, j) => one(i * batch + j)),
              ),
            { concurrency: 1, ms, maxCalls: 1_000_000, itemsPerCall: batch },
          ),
      });
      rows.push({ store: 'embedded', op: `read ${batch} keys`, mode: '1 in flight', adapter: r.adapter! });
    }

    log('embedded: writes');
    let t = now + 1;
    const w = await compare({
      adapter: (ms) =>
        closedLoop((i) => store.writeObjects(def, [profileWrite(ids[i % ids.length]!, t++)]), {
          concurrency: 64,
          ms,
          maxCalls: 2_000_000,
          itemsPerCall: 1,
        }),
    });
    rows.push({
      store: 'embedded',
      op: 'write 1 key (full value)',
      mode: '64 in flight',
      adapter: w.adapter!,
    });
    const wb = await compare({
      adapter: (ms) =>
        closedLoop(
          (i) =>
            store.writeObjects(
              def,
              Array.from({ length: 100 }, (_, j) => profileWrite(ids[(i * 100 + j) % ids.length]!, t++)),
            ),
          { concurrency: 4, ms, maxCalls: 1_000_000, itemsPerCall: 100 },
        ),
    });
    rows.push({
      store: 'embedded',
      op: 'write 100 keys per call',
      mode: '4 in flight',
      adapter: wb.adapter!,
    });
    await store.close();
    // the raw baseline on the same LMDB file, opened once the store is closed (one process
    // should not hold two handles of one LMDB environment): get + decode of the entry bytes
    log('embedded: raw LMDB baseline');
    const raw = open({ path: dir, maxDbs: 1_100 });
    const rawDb: Database<Buffer, number[]> = raw.openDB({ name: `object:${def.name}`, encoding: 'binary' });
    const base = await compare({
      baseline: (ms) =>
        closedLoop(async (i) => decodeObjectEntry(rawDb.get([ids[i % ids.length]!])!), {
          concurrency: 1,
          ms,
          maxCalls: 2_000_000,
          itemsPerCall: 1,
        }),
    });
    rows[singleRow]!.baseline = base.baseline!;
    await raw.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function split(r: Record<string, Result>): { adapter: Result; baseline?: Result } {
  return { adapter: r.adapter!, ...(r.baseline ? { baseline: r.baseline } : {}) };
}

// ------------------------------------------------------------------ cassandra

async function benchCassandra(def: FeatureDefinition): Promise<void> {
  const keyspace = `ferry_bench_${process.pid}`;
  const contactPoints = [`127.0.0.1:${cassandraPort}`];
  let store: CassandraOnlineStore;
  try {
    store = await openCassandraOnlineStore({
      contactPoints,
      localDataCenter: 'datacenter1',
      keyspace,
      replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
      consistency: 'ONE',
    });
  } catch (e) {
    log(
      `cassandra: not reachable on 127.0.0.1:${cassandraPort} (${(e as Error).message.split('\n')[0]}); skipped`,
    );
    return;
  }
  const client: Client = store.client;
  try {
    await store.ensureFeature(def);
    const keys = 20_000;
    const ids = shuffledIds(keys, 1_000_000);
    const now = Date.now();
    log(`cassandra: loading ${keys} keys`);
    for (let i = 1; i <= keys; i += 500) {
      await store.writeObjects(
        def,
        Array.from({ length: Math.min(500, keys - i + 1) }, (_, j) => profileWrite(i + j, now)),
      );
    }
    const feature = compileFeature(def);
    const table = `${q(keyspace)}.${featureTableName(def)}`;
    // the raw loop runs exactly the statements the adapter runs, with values already encoded
    const select =
      `SELECT ${feature.valueFields.flatMap((f, i) => [`${q(f.name)} AS v${i}`, `WRITETIME(${q(f.name)}) AS t${i}`]).join(', ')} ` +
      `FROM ${table} WHERE ${q('user_id')} = ?`;
    const update =
      `UPDATE ${table} USING TTL ? AND TIMESTAMP ? SET ${feature.valueFields.map((f) => `${q(f.name)} = ?`).join(', ')} ` +
      `WHERE ${q('user_id')} = ?`;
    const options = store.queryOptions;
    const encoded = profileWrite(1, now);
    const cells = feature.valueFields.map((f) => f.codec.encode(encoded.values[f.name] as never));
    const rawRead = (id: number) => client.execute(select, [BigInt(id)], options).then((rs) => rs.first());
    const one = (i: number) => ({ user_id: ids[i % ids.length]! });

    log('cassandra: single-key reads');
    const single = await compare({
      adapter: (ms) =>
        closedLoop((i) => store.readObjects(def, [one(i)]), {
          concurrency: 32,
          ms,
          maxCalls: 1_000_000,
          itemsPerCall: 1,
        }),
      baseline: (ms) =>
        closedLoop((i) => rawRead(ids[i % ids.length]!), {
          concurrency: 32,
          ms,
          maxCalls: 1_000_000,
          itemsPerCall: 1,
        }),
    });
    rows.push({
      store: 'cassandra',
      op: 'read 1 key',
      mode: '32 in flight',
      ...split(single),
      target: 'ratio ≥ 0.8',
    });

    for (const [batch, conc] of [
      [10, 4],
      [100, 1],
    ] as const) {
      log(`cassandra: ${batch}-key reads`);
      const r = await compare({
        adapter: (ms) =>
          closedLoop(
            (i) =>
              store.readObjects(
                def,
                Array.from({ length: batch }, (_, j) => one(i * batch + j)),
              ),
            { concurrency: conc, ms, maxCalls: 1_000_000, itemsPerCall: batch },
          ),
        baseline: (ms) =>
          closedLoop(
            (i) =>
              Promise.all(
                Array.from({ length: batch }, (_, j) => rawRead(ids[(i * batch + j) % ids.length]!)),
              ),
            {
              concurrency: conc,
              ms,
              maxCalls: 1_000_000,
              itemsPerCall: batch,
            },
          ),
      });
      rows.push({
        store: 'cassandra',
        op: `read ${batch} keys`,
        mode: `${conc} call${conc > 1 ? 's' : ''} in flight`,
        ...split(r),
        target: 'ratio ≥ 0.8',
      });
    }

    log('cassandra: writes');
    let t = now + 1;
    const ttl = 365 * 86_400;
    const w = await compare({
      adapter: (ms) =>
        closedLoop((i) => store.writeObjects(def, [profileWrite(ids[i % ids.length]!, t++)]), {
          concurrency: 64,
          ms,
          maxCalls: 1_000_000,
          itemsPerCall: 1,
        }),
      baseline: (ms) =>
        closedLoop(
          (i) =>
            client.execute(
              update,
              [ttl, BigInt(t++) * 1000n, ...cells, BigInt(ids[i % ids.length]!)],
              options,
            ),
          {
            concurrency: 64,
            ms,
            maxCalls: 1_000_000,
            itemsPerCall: 1,
          },
        ),
    });
    rows.push({
      store: 'cassandra',
      op: 'write 1 key (full value)',
      mode: '64 in flight',
      ...split(w),
      target: 'ratio ≥ 0.8',
    });

    log('cassandra: paced single-key reads at 2,000/s');
    const paced = await compare({
      adapter: (ms) => pacedLoop((i) => store.readObjects(def, [one(i)]), 2_000, Math.max(ms, 2_000)),
      baseline: (ms) => pacedLoop((i) => rawRead(ids[i % ids.length]!), 2_000, Math.max(ms, 2_000)),
    });
    rows.push({
      store: 'cassandra',
      op: 'read 1 key',
      mode: 'paced 2,000/s',
      ...split(paced),
      target: 'p99 < 5 ms',
    });
  } finally {
    await client.execute(`DROP KEYSPACE IF EXISTS ${q(keyspace)}`).catch(() => {});
    await store.close();
  }
}

// ------------------------------------------------------------------ main

const started = new Date();
const header = [
  `date: ${started.toISOString()}`,
  `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, ${os.platform()} ${os.release()}`,
  `command: npx tsx bench/online-store.bench.ts --only=${args.only} --seconds=${seconds} --rounds=${rounds}`,
  `each figure: ${seconds} s per variant in ${rounds} alternating slices, summed`,
  `load average at start (1/5/15 min): ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}`,
];
console.log(header.join('\n'));
if (only.has('size')) {
  console.log('\nStored size of one value (bytes):\n');
  console.log(formatValueSizes(await measureValueSizes()));
}
const def = await profileDefinition();
if (only.has('embedded')) await benchEmbedded(def);
if (only.has('cassandra')) await benchCassandra(def);
if (rows.length > 0) {
  console.log(
    `\nReads and writes of ${featureName} (5 value fields; baseline: raw LMDB get + entry decode / raw cassandra-driver):\n`,
  );
  console.log(table());
}
