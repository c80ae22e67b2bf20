import { getHeapStatistics } from 'node:v8';
import { readSettings } from '../config/settings.ts';

/**
 * Soft heap limit of bulk copies (upsync, backfill): above it, a page boundary runs a full
 * collection. V8 sizes its heap for throughput (on a large machine it lets the garbage of
 * promoted pages pile up to hundreds of MB before collecting), while a worker copying a million
 * rows needs about 40 MB of live heap. FERRY_WORKER_HEAP_SOFT_LIMIT_MB (0 turns it off).
 *
 * The collection needs `gc`, which Node exposes only when started with --expose-gc: `ferry`
 * (bin/ferry.js) starts Node with it. Started without it, the limit is off.
 */
const softLimitBytes = readSettings().workerHeapSoftLimitMb * 2 ** 20;

/** Heap size that triggers the next collection: the soft limit, or twice what the last one kept. */
let nextCollectionAt = softLimitBytes;

/** True when this process can keep to the soft limit (Node started with --expose-gc, limit not 0). */
export function heapSoftLimitActive(): boolean {
  return softLimitBytes > 0 && typeof (globalThis as { gc?: unknown }).gc === 'function';
}

/**
 * Runs a full collection when the V8 heap has grown past the soft limit (a cheap check
 * otherwise). When much of the heap is live (many writes in flight), collecting again at once
 * would only burn CPU: the next collection then waits until the heap is twice what survived.
 */
export function collectIfHeapAboveSoftLimit(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (softLimitBytes === 0 || !gc) return false;
  if (getHeapStatistics().total_heap_size <= nextCollectionAt) return false;
  gc();
  nextCollectionAt = Math.max(softLimitBytes, 2 * getHeapStatistics().used_heap_size);
  return true;
}
