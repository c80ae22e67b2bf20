/**
 * Where an idle `ferry worker`'s memory goes (issue 16): the steps `ferry worker` takes at start,
 * one after the other in this process, with its resident memory (anonymous and file-backed, from
 * /proc) and V8's heap after a full collection at each. A diagnostic: the worker itself is
 * measured by bench:upsync (idle and peak), this says what makes up the idle figure.
 *
 *   npm run bench:worker-memory      (needs Temporal: bash infra/up.sh temporal)
 *
 * Runs on the embedded stores in a temporary folder, on a task queue of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { procMemoryMb } from './process-stats.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:worker-memory does)');
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0).padStart(4);
const lines = [
  '| step | RSS MB | anonymous MB | file-backed MB | V8 heap used / reserved MB | external MB |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
];
function step(name: string): void {
  gc!();
  const m = process.memoryUsage();
  const p = procMemoryMb(process.pid);
  lines.push(
    `| ${name} | ${p.rss.toFixed(0)} | ${p.anon.toFixed(0)} | ${p.file.toFixed(0)} | ${mb(m.heapUsed).trim()} / ${mb(m.heapTotal).trim()} | ${mb(m.external).trim()} |`,
  );
}

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-worker-memory-'));
try {
  step('Node started');
  const { readSettings } = await import('../config/settings.ts');
  const settings = readSettings({ ...process.env, FERRY_DATA_DIR: dir });
  const { createFerryWorker } = await import('../cli/worker-command.ts');
  step("Ferry's modules imported");
  const { DefaultLogger, NativeConnection, Runtime } = await import('@temporalio/worker');
  step('@temporalio/worker imported (it loads webpack too)');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: settings.temporalAddress });
  step("Temporal's core runtime and a connection");
  const { openOnlineStore } = await import('../stores/online/open-online-store.ts');
  const online = await openOnlineStore(settings);
  step('LMDB online store open');
  const { openOfflineStore } = await import('../stores/offline/open-offline-store.ts');
  const offline = await openOfflineStore(settings);
  step('DuckDB offline store open');
  const worker = await createFerryWorker({
    connection,
    settings,
    online,
    offline,
    taskQueue: `memory-probe-${process.pid}`,
  });
  step('Worker.create (the workflow thread loads the prebuilt bundle)');
  const run = worker.run();
  await new Promise((r) => setTimeout(r, 3000));
  step('polling, idle 3 s');
  worker.shutdown();
  await run;
  await online.close();
  await offline.close();
  await connection.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(lines.join('\n'));
