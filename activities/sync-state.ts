import type { IncrementalCursor } from '../stores/offline/offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import type { SyncCounts, SyncMode } from '../workflow-contract/types.ts';

/**
 * Sync progress kept in the online store's metadata (JSON), saved after every page once the page's
 * writes and dead letters are stored. It is what makes an incremental upsync incremental, and what
 * lets a retried chunk continue exactly where the last attempt stopped (heartbeats are throttled by
 * the SDK; this is saved per page).
 */

/** The progress of the chunk that saved last: a retried attempt with the same token resumes from it. */
export interface ChunkMark extends SyncCounts {
  token: string;
  pages: number;
  cursor?: IncrementalCursor;
  maxWatermark: number | null;
}

/** A read position and the highest watermark delivered up to it. */
export interface Lane {
  cursor?: IncrementalCursor;
  /** Highest watermark among the rows synced (written or dead-lettered), null when none. */
  watermark: number | null;
  chunk?: ChunkMark;
}

export interface LastRun extends SyncCounts {
  workflowId: string;
  runId: string;
  mode: SyncMode;
  finishedAtMs: number;
  watermark: number | null;
}

/** `state/upsync/<feature>`: the incremental position, plus a full copy's own while it runs. */
export interface UpsyncStateRecord extends Lane {
  feature: string;
  updatedAtMs: number;
  /** A full copy in progress: its position; the incremental one moves to it when it finishes. */
  full?: Lane & { workflowId: string; startedAtMs: number };
  /** Rows with a NULL watermark when last counted (their samples were dead-lettered then). */
  nullWatermarkRows?: number;
  lastRun?: LastRun;
}

/** `state/backfill/<feature>/<from>-<to>`. */
export interface BackfillStateRecord extends Lane {
  feature: string;
  updatedAtMs: number;
  done?: boolean;
}

export type StateRecord = UpsyncStateRecord & BackfillStateRecord;

export async function readState(online: OnlineStore, key: string, feature: string): Promise<StateRecord> {
  const text = await online.getMeta(key);
  if (text === undefined) return { feature, watermark: null, updatedAtMs: 0 };
  return JSON.parse(text) as StateRecord;
}

export async function writeState(online: OnlineStore, key: string, record: StateRecord): Promise<void> {
  await online.putMeta(key, JSON.stringify(record));
}

export function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}
