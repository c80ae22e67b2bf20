import { ApplicationFailure } from '@temporalio/activity';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { layoutOf } from '../domain/kinds/feature-kinds.ts';
import { type ObjectWrite, type OnlineStore, OnlineStoreInputError } from '../stores/online/online-store.ts';

export interface RejectedWrite {
  /** Index in the batch given to writeIsolating. */
  index: number;
  reason: string;
}

/** Errors about the feature rather than a row: every row would fail alike, so the sync stops. */
function isFeatureLevel(e: OnlineStoreInputError): boolean {
  return e.field === 'feature_name' || e.field === 'feature_type' || e.field === 'limit';
}

function write(online: OnlineStore, def: FeatureDefinition, writes: readonly ObjectWrite[]): Promise<void> {
  return layoutOf(def) === 'entries' ? online.appendHistory(def, writes) : online.writeObjects(def, writes);
}

/**
 * Writes a batch to the online store; when the store refuses it for a bad row (it validates the
 * whole call before writing anything), finds the rows it refuses and writes the others. The store
 * names the first bad item (OnlineStoreInputError.item), so the rows before it are known to pass: they are written, the bad one
 * is returned with the store's reason, and the rest is tried again. Other errors (the store is
 * unreachable, a timeout) are thrown for the activity to retry.
 */
export async function writeIsolating(
  online: OnlineStore,
  def: FeatureDefinition,
  writes: readonly ObjectWrite[],
  /** Writes `batch`, the writes from index `from` on (default: the feature's layout's write). */
  writeBatch: (batch: readonly ObjectWrite[], from: number) => Promise<unknown> = (batch) =>
    write(online, def, batch),
): Promise<RejectedWrite[]> {
  const rejected: RejectedWrite[] = [];
  const run = async (start: number, end: number): Promise<void> => {
    while (start < end) {
      try {
        await writeBatch(writes.slice(start, end), start);
        return;
      } catch (e) {
        if (!(e instanceof OnlineStoreInputError)) throw e;
        if (isFeatureLevel(e)) {
          throw ApplicationFailure.nonRetryable(`online store: ${e.message}`, 'OnlineStoreNotReady');
        }
        const item = e.item ?? (end - start === 1 ? 0 : undefined);
        if (item === undefined || item >= end - start) {
          // the store named no item: split and try each half
          const mid = start + Math.floor((end - start) / 2);
          await run(start, mid);
          await run(mid, end);
          return;
        }
        if (item > 0) await run(start, start + item);
        rejected.push({ index: start + item, reason: `${e.feature}.${e.field}: ${e.reason}` });
        start += item + 1;
      }
    }
  };
  await run(0, writes.length);
  return rejected;
}
