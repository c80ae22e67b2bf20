import { BroadcastChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import type { MetricsSnapshot } from './metrics.ts';
import { ReaderRuntime } from './reader-runtime.ts';
import { serveUws } from './uws-server.ts';
import type { CacheMessage, FromWorker, ToWorker, WorkerStart } from './worker-protocol.ts';

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
/** Pushes waiting for the other threads to drop the keys they changed: answers still due. */
const invalidations = new Map<number, { due: number; done: () => void }>();
let invalidationId = 0;
/** A thread that does not answer (exiting, stuck) holds a push up at most this long. */
const invalidationAckMs = 1_000;

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
    onPushed: (cachePrefix, ids) => {
      if (start.threads === 1) return Promise.resolve();
      const id = ++invalidationId;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          invalidations.delete(id);
          resolve();
        }, invalidationAckMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        invalidations.set(id, { due: start.threads - 1, done });
        channel.postMessage({
          type: 'invalidate',
          from: threadId,
          id,
          cachePrefix,
          ids,
        } satisfies CacheMessage);
      });
    },
  });
  channel.onmessage = (event) => {
    const m = (event as { data: CacheMessage }).data;
    if (m.type === 'invalidate') {
      runtime.reader.invalidateLocal(m.cachePrefix, m.ids);
      channel.postMessage({ type: 'invalidated', to: m.from, id: m.id } satisfies CacheMessage);
    } else if (m.to === threadId) {
      const waiting = invalidations.get(m.id);
      if (waiting && --waiting.due === 0) {
        invalidations.delete(m.id);
        waiting.done();
      }
    }
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
