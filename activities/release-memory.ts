import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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
