import type { Settings } from '../config/settings.ts';
import type { MetricsSnapshot } from './metrics.ts';
import type { ReaderConfig } from './reader-config.ts';
import type { KeyId } from './row-cache.ts';
import type { TokenEntry } from './tokens.ts';

/** What a serving worker thread gets at start. */
export interface WorkerStart {
  settings: Settings;
  config: ReaderConfig;
  tokens: TokenEntry[];
  host: string;
  port: number;
  threads: number;
  /** Name of the BroadcastChannel the workers use to drop keys a push changed. */
  channel: string;
}

/** Messages from the main thread to a worker. */
export type ToWorker =
  | { type: 'snapshot'; id: number }
  | { type: 'gathered'; id: number; snapshots: MetricsSnapshot[] }
  | { type: 'refresh'; id: number }
  | { type: 'close' };

/** Messages from a worker to the main thread. */
export type FromWorker =
  | { type: 'ready'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'snapshot'; id: number; snapshot: MetricsSnapshot }
  | { type: 'gather'; id: number }
  | { type: 'refreshed'; id: number }
  | { type: 'closed' };

/**
 * On the threads' broadcast channel: a push in one thread tells the others which cached keys to
 * drop (`invalidate`), and each answers once it has (`invalidated`), so that the push is answered
 * only when no thread can serve the old value from its cache.
 */
export type CacheMessage =
  | { type: 'invalidate'; from: number; id: number; cachePrefix: string; ids: readonly KeyId[] }
  | { type: 'invalidated'; to: number; id: number };
