import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readSettings } from '../core/config/settings.ts';

let gc: (() => void) | undefined | null;

/**
 * Runs a full garbage collection. Why: `@duckdb/node-api` frees a streaming query's result (and
 * the sorted rows DuckDB keeps pinned for it, up to the store's whole `memory_limit`) only when the
 * JS result object is collected; it has no close. A read stopped before its end (a chunk's budget
 * spent, a backfill past its range) would otherwise leave the next DuckDB query without memory
 * ("failed to pin block") until V8 happens to collect. Costs tens of milliseconds, once per chunk
 * that stops early.
 */
export function releaseNativeMemory(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gc = exposed;
    else {
      try {
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as () => void;
      } catch {
        gc = null;
      }
    }
  }
  gc?.();
}

/**
 * Soft heap limit of bulk copies (upsync, backfill): above it, a page boundary runs a full
 * collection. V8 sizes its heap for throughput (on a large machine it lets the garbage of
 * promoted pages pile up to hundreds of MB before collecting), while a worker copying a million
 * rows needs about 40 MB of live heap. FERRY_WORKER_HEAP_SOFT_LIMIT_MB (0 turns it off).
 */
const softLimitBytes = (() => {
  const raw = readSettings().workerHeapSoftLimitMb.trim();
  const mb = Number(raw);
  if (raw === '' || !Number.isFinite(mb) || mb < 0)
    throw new Error(`FERRY_WORKER_HEAP_SOFT_LIMIT_MB must be a number of MB (0: off), not "${raw}"`);
  return mb * 2 ** 20;
})();

/** Heap size that triggers the next collection: the soft limit, or twice what the last one kept. */
let nextCollectionAt = softLimitBytes;

/**
 * Runs a full collection when the V8 heap has grown past the soft limit (a cheap check
 * otherwise). When much of the heap is live (many writes in flight), collecting again at once
 * would only burn CPU: the next collection then waits until the heap is twice what survived.
 */
export function collectIfHeapAboveSoftLimit(): boolean {
  if (softLimitBytes === 0) return false;
  if (getHeapStatistics().total_heap_size <= nextCollectionAt) return false;
  releaseNativeMemory();
  nextCollectionAt = Math.max(softLimitBytes, 2 * getHeapStatistics().used_heap_size);
  return true;
}
