import { getHeapStatistics } from 'node:v8';
import { readSettings } from '../config/settings.ts';

/**
 * Soft heap limit of bulk copies (upsync, backfill): when the heap has grown this much during a
 * copy, a page boundary runs a full collection. V8 sizes its heap for throughput (on a large machine it lets the garbage of
 * promoted pages pile up to hundreds of MB before collecting), while a worker copying a million
 * rows needs about 40 MB of live heap. FERRY_WORKER_HEAP_SOFT_LIMIT_MB (0 turns it off).
 *
 * The collection needs `gc`, which Node exposes only when started with --expose-gc: `ferry`
 * (bin/ferry.js) starts Node with it. Started without it, the limit is off.
 */
const softLimitBytes = readSettings().workerHeapSoftLimitMb * 2 ** 20;

/** True when this process can keep to the soft limit (Node started with --expose-gc, limit not 0). */
export function heapSoftLimitActive(): boolean {
  return softLimitBytes > 0 && typeof (globalThis as { gc?: unknown }).gc === 'function';
}

/**
 * The heap budget of one bulk copy (a sync chunk): the soft limit counts from the heap in use when
 * the copy began, not from zero, so that what the process holds anyway (a Temporal worker with its
 * workflow bundle: about 100 MB) does not make every page boundary collect.
 */
export class HeapBudget {
  private readonly base = getHeapStatistics().used_heap_size;
  /** Heap size that triggers the next collection: the budget, or twice the growth the last one kept. */
  private next = this.base + softLimitBytes;

  /**
   * Runs a full collection when the V8 heap has outgrown the budget (a cheap check otherwise).
   * When much of the growth is live (many writes in flight), collecting again at once would only
   * burn CPU: the next collection then waits until the growth is twice what survived.
   */
  collectIfOver(): boolean {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (softLimitBytes === 0 || !gc) return false;
    // the heap in use, garbage included: V8's reserve above it (total_heap_size) is not the copy's
    if (getHeapStatistics().used_heap_size <= this.next) return false;
    gc();
    const kept = Math.max(0, getHeapStatistics().used_heap_size - this.base);
    this.next = this.base + Math.max(softLimitBytes, 2 * kept);
    return true;
  }
}
