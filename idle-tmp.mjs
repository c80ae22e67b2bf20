const mb = (x) => (x / 1048576).toFixed(0);
const step = (name) => {
  globalThis.gc();
  const m = process.memoryUsage();
  const s = require_fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)[1]) / 1024;
  console.log(
    `${name.padEnd(44)} rss ${kb('VmRSS').toFixed(0).padStart(4)}  anon ${kb('RssAnon').toFixed(0).padStart(4)}  file ${kb('RssFile').toFixed(0).padStart(4)}  heapUsed ${mb(m.heapUsed).padStart(3)} heapTotal ${mb(m.heapTotal).padStart(3)} external ${mb(m.external).padStart(3)} threads ${s.match(/^Threads:\s+(\d+)/m)[1]}`,
  );
};
const require_fs = await import('node:fs');
step('node started');
const { readSettings } = await import('./dist/config/settings.js');
const settings = readSettings({ ...process.env, FERRY_DATA_DIR: '/tmp/wk2' });
const { createFerryWorker } = await import('./dist/cli/worker-command.js');
step('ferry modules imported');
const { NativeConnection, Runtime, DefaultLogger } = await import('@temporalio/worker');
step('@temporalio/worker imported');
Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address: settings.temporalAddress });
step('Temporal core runtime + connection');
const { openOnlineStore } = await import('./dist/stores/online/open-online-store.js');
const online = await openOnlineStore(settings);
step('LMDB online store open');
const { openOfflineStore } = await import('./dist/stores/offline/open-offline-store.js');
const offline = await openOfflineStore(settings);
step('DuckDB offline store open');
const worker = await createFerryWorker({
  connection,
  settings,
  online,
  offline,
  taskQueue: 'idle-probe-2',
  ...(process.env.BUNDLE ? { workflowBundlePath: process.env.BUNDLE } : {}),
});
step('Worker.create (bundles the workflows)');
const run = worker.run();
await new Promise((r) => setTimeout(r, 3000));
step('worker running, idle 3 s');
worker.shutdown();
await run;
await online.close();
await offline.close();
await connection.close();
