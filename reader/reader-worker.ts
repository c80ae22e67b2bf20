import { BroadcastChannel, parentPort, workerData } from 'node:worker_threads';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import type { MetricsSnapshot } from './metrics.ts';
import { ReaderRuntime } from './reader-runtime.ts';
import { serveUws } from './uws-server.ts';
import type { FromWorker, InvalidateMessage, ToWorker, WorkerStart } from './worker-protocol.ts';

/**
 * One serving thread (started by startReader through reader-worker-entry.mjs): its own
 * online store client, cache and uWS app, listening on the shared port (SO_REUSEPORT).
 */
const start = workerData as WorkerStart;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const log = (message: string) => console.error(message);

const gathers = new Map<number, (snaps: MetricsSnapshot[]) => void>();
let gatherId = 0;

try {
  const store = await openOnlineStore(start.settings);
  const channel = new BroadcastChannel(start.channel);
  const runtime = await ReaderRuntime.create({
    store,
    config: start.config,
    tokens: start.tokens,
    redisUrl: start.settings.redisUrl,
    threads: start.threads,
    cacheBytes: Math.floor(start.config.cache.maxBytes / start.threads),
    log,
    gatherMetrics: (own) =>
      new Promise((resolve) => {
        const id = ++gatherId;
        gathers.set(id, resolve);
        post({ type: 'gather', id });
        setTimeout(() => {
          if (gathers.delete(id)) resolve([own()]);
        }, 2000).unref();
      }),
    onPushed: (cachePrefix, ids) => channel.postMessage({ cachePrefix, ids } satisfies InvalidateMessage),
  });
  channel.onmessage = (event) => {
    const m = (event as { data: InvalidateMessage }).data;
    runtime.reader.invalidateLocal(m.cachePrefix, m.ids);
  };
  const server = await serveUws(runtime.api, {
    host: start.host,
    port: start.port,
    maxBodyBytes: start.config.maxBodyBytes,
    shutdownTimeoutMs: start.config.shutdownTimeoutMs,
    metrics: runtime.metrics,
  });
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'snapshot':
        post({ type: 'snapshot', id: m.id, snapshot: runtime.metrics.snapshot() });
        break;
      case 'gathered': {
        const resolve = gathers.get(m.id);
        gathers.delete(m.id);
        resolve?.(m.snapshots);
        break;
      }
      case 'refresh':
        void runtime.refresh().then(() => post({ type: 'refreshed', id: m.id }));
        break;
      case 'close':
        void (async () => {
          await server.close();
          channel.close();
          await runtime.close();
          await store.close();
          post({ type: 'closed' });
          port.close();
        })();
        break;
    }
  });
  post({ type: 'ready', port: server.port });
} catch (e) {
  post({ type: 'failed', message: (e as Error).message });
  port.close();
}
