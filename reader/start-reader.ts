import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { runsFromSources } from '../config/module-files.ts';
import { readSettings, type Settings } from '../config/settings.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import type { CommandPublisher } from '../streaming/commands/command-publisher.ts';
import type { MetricsSnapshot } from './metrics.ts';
import { type ReaderConfig, readReaderConfig } from './reader-config.ts';
import { ReaderRuntime } from './reader-runtime.ts';
import { loadTokensFile, type TokenEntry } from './tokens.ts';
import { serveUws } from './uws-server.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-protocol.ts';

/**
 * What a serving thread runs: the compiled reader-worker.js; from the sources (tests), an entry
 * that registers tsx first, since a worker thread does not inherit the main thread's loader.
 */
const readerThreadEntry = runsFromSources(import.meta.url)
  ? new URL('./reader-worker-entry.mjs', import.meta.url)
  : new URL('./reader-worker.js', import.meta.url);

export interface ReaderOptions {
  /** Default: readSettings() (FERRY_* variables). */
  settings?: Settings;
  /** Default: readReaderConfig() (FERRY_READER_* variables and the cache file). */
  config?: ReaderConfig;
  /** Default: settings.readerHost. */
  host?: string;
  /** Default: settings.readerPort; 0 picks a free port. */
  port?: number;
  /** Serving threads; default: config.threads (one per core). 1 serves in the calling thread. */
  threads?: number;
  /**
   * Serve with this store in the calling thread (threads must be 1); close() leaves it open.
   * Default: each serving thread opens the store the settings name.
   */
  store?: OnlineStore;
  /** Default: read from settings.tokensFile. */
  tokens?: TokenEntry[];
  /** Where pushed commands go; default: applied directly to the store (only with threads 1). */
  publisher?: CommandPublisher;
  log?: (message: string) => void;
  /** The time cached rows are fresh against (default Date.now); with one thread only. */
  clock?: () => number;
}

export interface ReaderHandle {
  host: string;
  port: number;
  threads: number;
  /** Reloads the applied definitions now in every thread (they also reload every refreshMs). */
  refresh(): Promise<void>;
  /** Graceful shutdown: stops accepting, finishes in-flight requests (bounded), closes everything. */
  close(): Promise<void>;
}

/** Resolves true when something accepts connections on host:port. */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The port to serve on: a free one when `port` is 0, else `port` after checking that no
 * server answers there. uWS listens with SO_REUSEPORT, which would otherwise let a second
 * reader silently share the port of a running one. (A bind probe would also trip over the
 * TIME_WAIT connections a restarted reader leaves, which SO_REUSEPORT itself tolerates.)
 */
async function claimPort(host: string, port: number): Promise<number> {
  if (port !== 0) {
    if (await answers(host, port)) throw new Error(`cannot listen on ${host}:${port}: the port is in use`);
    return port;
  }
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (e) => reject(new Error(`cannot listen on ${host}: ${e.message}`)));
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const got = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(got));
    });
  });
}

/**
 * Starts the read API. With one thread it serves in the calling thread; with more, each
 * worker thread runs its own uWS app on the same port (the kernel spreads connections
 * between the listening sockets with SO_REUSEPORT), its own store client and cache; a push
 * in one thread drops the changed keys from every thread's cache, and /metrics on any thread
 * sums every thread's counters.
 */
export async function startReader(options: ReaderOptions = {}): Promise<ReaderHandle> {
  const settings = options.settings ?? readSettings();
  const config = options.config ?? readReaderConfig();
  const host = options.host ?? settings.readerHost;
  const requested = options.port ?? settings.readerPort;
  const threads = options.store ? 1 : Math.max(1, options.threads ?? config.threads);
  if (options.store && options.threads !== undefined && options.threads > 1) {
    throw new Error('startReader: a given store is served by one thread; omit store to serve with several');
  }
  if (options.publisher && threads > 1) throw new Error('startReader: a given publisher needs threads: 1');
  if (options.clock && threads > 1) throw new Error('startReader: a given clock needs threads: 1');
  const log = options.log ?? ((m: string) => console.error(m));
  const tokens = options.tokens ?? (await loadTokensFile(settings.tokensFile));

  if (threads === 1) {
    if (requested !== 0 && (await answers(host, requested))) {
      throw new Error(`cannot listen on ${host}:${requested}: the port is in use`);
    }
    const store = options.store ?? (await openOnlineStore(settings));
    try {
      const runtime = await ReaderRuntime.create({
        store,
        config,
        tokens,
        ...(options.publisher ? { publisher: options.publisher } : {}),
        redisUrl: settings.redisUrl,
        threads: 1,
        cacheBytes: config.cache.maxBytes,
        log,
        ...(options.clock ? { clock: options.clock } : {}),
      });
      const server = await serveUws(runtime.api, {
        host,
        port: requested,
        maxBodyBytes: config.maxBodyBytes,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        metrics: runtime.metrics,
      }).catch(async (e: unknown) => {
        await runtime.close();
        throw e;
      });
      let closing: Promise<void> | undefined;
      return {
        host,
        port: server.port,
        threads: 1,
        refresh: async () => {
          await runtime.refresh();
        },
        close: () => {
          closing ??= (async () => {
            await server.close();
            await runtime.close();
            if (!options.store) await store.close();
          })();
          return closing;
        },
      };
    } catch (e) {
      if (!options.store) await store.close();
      throw e;
    }
  }

  // several threads: every worker listens on one port, which must be known before they start
  const port = await claimPort(host, requested);
  const start: Omit<WorkerStart, 'threads'> = {
    settings,
    config,
    tokens,
    host,
    port,
    channel: `ferry-reader-${randomUUID()}`,
  };
  const workers: Worker[] = [];
  const exited = new Map<Worker, Promise<void>>();
  let closing: Promise<void> | undefined;
  let nextId = 0;
  const waiting = new Map<
    number,
    { need: number; got: MetricsSnapshot[]; done: (s: MetricsSnapshot[]) => void }
  >();
  const refreshes = new Map<number, { need: number; done: () => void }>();

  const gather = (from: Worker, replyId: number) => {
    const id = ++nextId;
    const finish = (snaps: MetricsSnapshot[]) => {
      if (!waiting.delete(id)) return;
      from.postMessage({ type: 'gathered', id: replyId, snapshots: snaps } satisfies ToWorker);
    };
    waiting.set(id, { need: workers.length, got: [], done: finish });
    for (const w of workers) w.postMessage({ type: 'snapshot', id } satisfies ToWorker);
    setTimeout(() => finish(waiting.get(id)?.got ?? []), 1000).unref();
  };

  const spawn = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = new Worker(readerThreadEntry, {
        workerData: { ...start, threads } satisfies WorkerStart,
      });
      let ready = false;
      exited.set(
        w,
        new Promise((r) => {
          w.once('exit', (code) => {
            if (!ready) reject(new Error(`reader worker exited with code ${code} before it was ready`));
            else if (closing === undefined)
              log(`reader: a serving thread exited (code ${code}); the others keep serving the port`);
            r();
          });
        }),
      );
      w.on('error', (e) => {
        if (!ready) reject(e);
        else log(`reader: worker error: ${e.stack ?? e.message}`);
      });
      w.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            resolve(w);
            break;
          case 'failed':
            reject(new Error(m.message));
            break;
          case 'gather':
            gather(w, m.id);
            break;
          case 'snapshot': {
            const g = waiting.get(m.id);
            if (g) {
              g.got.push(m.snapshot);
              if (g.got.length >= g.need) g.done(g.got);
            }
            break;
          }
          case 'refreshed': {
            const r = refreshes.get(m.id);
            if (r && --r.need === 0) r.done();
            break;
          }
          case 'closed':
            break;
        }
      });
    });

  const closeAll = async () => {
    for (const w of workers) w.postMessage({ type: 'close' } satisfies ToWorker);
    const deadline = config.shutdownTimeoutMs + 5000;
    await Promise.all(
      workers.map(async (w) => {
        const timer = setTimeout(() => void w.terminate(), deadline);
        await exited.get(w);
        clearTimeout(timer);
      }),
    );
  };

  try {
    for (let i = 0; i < threads; i++) workers.push(await spawn());
  } catch (e) {
    closing = closeAll();
    await closing;
    throw e;
  }
  return {
    host,
    port,
    threads,
    refresh: () =>
      new Promise<void>((resolve) => {
        const id = ++nextId;
        refreshes.set(id, {
          need: workers.length,
          done: () => {
            refreshes.delete(id);
            resolve();
          },
        });
        for (const w of workers) w.postMessage({ type: 'refresh', id } satisfies ToWorker);
      }),
    close: () => {
      closing ??= closeAll();
      return closing;
    },
  };
}
