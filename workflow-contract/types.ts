// The data that workflows, activities and the CLI exchange. Types only (plain JSON), so the
// workflow bundle pulls in no store code.

import type { FeatureType } from '../domain/kinds/feature-kinds.ts';
import type { IncrementalCursor } from '../stores/offline/offline-store.ts';

export type { IncrementalCursor };

/**
 * incremental: from the stored cursor, moving it; full: every row, the cursor moves to the end
 * when the run finishes; backfill: the rows of a watermark range, the cursor does not move.
 */
export type SyncMode = 'incremental' | 'full' | 'backfill';

/** Tuning knobs, mostly for tests and benchmarks; defaults suit production. */
export interface SyncOptions {
  /** Most rows one chunk activity handles (default 1,000,000; fewer under a throughput limit). */
  chunkRows?: number;
  /** Longest a chunk activity reads before it hands back to the workflow (default 600 s). */
  chunkSeconds?: number;
  /** Rows per page: one online write call and one heartbeat (default: the online store's bulkWriteRows). */
  pageSize?: number;
  /** Pages written at once (default: the online store's bulkWritesInFlight). */
  pagesInFlight?: number;
  /** Chunks per workflow run before it continues as new (default 40). */
  chunksPerRun?: number;
  /**
   * What a backfill reads: the feature's upsync source (default), or `events`: the table of its
   * `from_events.backfill`, each row an event run through the feature's rules.
   */
  source?: 'upsync' | 'events';
}

export interface UpsyncInput {
  /** Full feature name, e.g. `azar-lounge::user-stats`. */
  feature: string;
  /** Copy every row, not only those past the stored cursor. */
  full?: boolean;
  options?: SyncOptions;
  /** Set by the workflow itself when it continues as new. */
  carry?: SyncCarry;
}

export interface BackfillInput {
  feature: string;
  /** Watermark range [fromMs, toMs): epoch ms (or the raw value of a Long watermark column). */
  fromMs: number;
  toMs: number;
  options?: SyncOptions;
  carry?: SyncCarry;
}

/** What a sync reads and how: resolved once per workflow (by the planSync activity). */
export interface SyncPlan {
  feature: string;
  /** Registry revision of the definition the plan was made from. */
  revision: number;
  featureType: FeatureType;
  mode: SyncMode;
  /** The offline table read: a transform's destination, or the configured table. */
  sourceTable: string;
  /** For people: `transform azar/user_profile.sql → azar__user_profile__upsync` or `table x`. */
  source: string;
  watermarkColumn: string;
  /** The column that gives each row's event time (`_last_updated_at_ms`, else the watermark). */
  eventTimeColumn: string;
  keyFields: string[];
  /** Key fields usable as the read's tie-breaker (Text/Long/Int columns of the source). */
  tieBreaker: string[];
  /** Value fields the source has (others are left untouched online). */
  valueFields: string[];
  /** Value fields of the definition that the source lacks. */
  missingFields: string[];
  /** Columns the read selects: keys, value fields, watermark and event time. */
  readColumns: string[];
  /** Where the read starts (undefined: the beginning). */
  startCursor?: IncrementalCursor;
  /** Incremental: the highest watermark synced before this run; null when none, and for full copies and backfills. */
  startWatermark: number | null;
  /** Backfill: rows with a watermark at or past this are not read. */
  untilWatermark?: number;
  /** Online metadata key where progress is saved after every page. */
  stateKey: string;
  chunkRows: number;
  chunkSeconds: number;
  pageSize: number;
  /** Pages written at once (the online store's bulkWritesInFlight; plans from before it: 2). */
  pagesInFlight?: number;
  maxRowsPerSecond?: number;
  /** The rows are domain events: each goes through the feature's from_events rules. */
  events?: boolean;
  /**
   * An Aggregation's events backfill: the rows become each key's history, up to the key's live
   * start, or this time for a key with no live state yet (the range's end, at most the plan's now).
   */
  historyCutMs?: number;
}

export interface SyncCounts {
  rowsRead: number;
  rowsWritten: number;
  rowsDeadLettered: number;
}

export interface ChunkInput {
  plan: SyncPlan;
  cursor?: IncrementalCursor;
  /** Identifies the chunk (workflow id, run id, chunk number): a retried attempt resumes its own progress. */
  token: string;
}

export interface ChunkResult extends SyncCounts {
  cursor?: IncrementalCursor;
  /** Highest watermark among the rows of this chunk, null when it had none. */
  maxWatermark: number | null;
  /** True when the source has no more rows (for this sync). */
  done: boolean;
  pages: number;
}

/** What a running chunk reports (signal `chunkProgress`): its counts so far. */
export interface ChunkProgress extends SyncCounts {
  token: string;
  maxWatermark: number | null;
  cursor?: IncrementalCursor;
}

export type SyncState = 'planning' | 'syncing' | 'finishing' | 'done' | 'failed' | 'cancelled';

/** What the `progress` query answers for upsync and backfill workflows (also in the Temporal UI). */
export interface SyncProgress extends SyncCounts {
  feature: string;
  workflow: 'upsync' | 'backfill';
  mode: SyncMode;
  state: SyncState;
  source?: string;
  sourceTable?: string;
  /** Highest watermark synced so far (incremental: since the feature's first upsync; else in this run). */
  watermark: number | null;
  /** Where the read will continue. */
  cursor?: IncrementalCursor;
  /** Backfill range. */
  fromMs?: number;
  toMs?: number;
  chunks: number;
  /** Workflow runs so far (continue-as-new keeps history small). */
  runs: number;
  startedAtMs: number;
  updatedAtMs: number;
  /** Value fields the source lacks (not written). */
  missingFields?: string[];
  error?: string;
}

export interface SyncCarry {
  plan: SyncPlan;
  cursor?: IncrementalCursor;
  progress: SyncProgress;
}

export interface PipelineInput {
  /** Name in the workflow id `pipeline/<name>/<logicalDate>`. */
  pipeline: string;
  /** Transforms to run first, in this order (names relative to `sql/`). */
  transforms: string[];
  /** Features to upsync afterwards; a feature whose source transform failed is skipped. */
  features: string[];
  /** `YYYY-MM-DD`, bound to `@logical_date`. */
  logicalDate: string;
  /** Incremental window for `@window_start`/`@window_end` (default: the logical date's UTC day). */
  windowStartMs?: number;
  windowEndMs?: number;
  options?: SyncOptions;
}

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped' | 'already running';

export interface TransformStep {
  transform: string;
  status: StepStatus;
  destination?: string;
  rowsWritten?: number;
  /** The warehouse's message (with file and line) when it failed. */
  error?: string;
}

export interface FeatureStep {
  feature: string;
  status: StepStatus;
  /** The transform this feature's upsync reads from, when it is in the pipeline. */
  transform?: string;
  workflowId?: string;
  result?: SyncProgress;
  error?: string;
}

export interface PipelineProgress {
  pipeline: string;
  logicalDate: string;
  windowStartMs?: number;
  windowEndMs?: number;
  state: 'transforming' | 'upsyncing' | 'done' | 'failed';
  transforms: TransformStep[];
  features: FeatureStep[];
}

export interface ScheduledUpsyncInput {
  feature: string;
  /** The feature's `upsync.schedule`: the window of a scheduled transform is [previous fire, this fire). */
  cron?: string;
  /** Run the feature's source transform first, when it has one (default true). */
  runTransform?: boolean;
  options?: SyncOptions;
}

/** What `describeSources` says about a feature's upsync source. */
export interface SourceInfo {
  feature: string;
  kind: 'transform' | 'table';
  transform?: string;
  /** Known only for a table source (a transform's destination comes from its header). */
  table?: string;
}

export interface RetentionInput {
  /** How long dead letters are kept (default 30 days). */
  deadLetterRetentionMs?: number;
}

export interface RetentionTarget {
  feature: string;
  onlineMs?: number;
  offlineMs?: number;
}

export interface RetentionFeatureResult {
  feature: string;
  offlineTable?: string;
  offlineRowsDeleted: number;
  onlineValuesSwept: number;
  error?: string;
}

export interface RetentionResult {
  features: RetentionFeatureResult[];
  deadLettersDeleted: number;
  deadLetterCutoffMs: number;
}

export interface ReplayInput {
  feature: string;
  /**
   * Replay the dead letters of this other feature (the one `feature` replaced, e.g. `-v1` for a
   * `-v2`) into `feature`: those that pass against `feature`'s definition are written to it and
   * removed; those that still fail stay with the old feature, unchanged.
   */
  fromFeature?: string;
  /** Range of the dead letters' `occurred_at`, [fromMs, toMs). */
  fromMs?: number;
  toMs?: number;
  /** Dead letters per activity call (default 1,000). */
  batchSize?: number;
  carry?: ReplayProgress;
}

/** Position among a feature's dead letters (ordered by occurred_at, id). */
export interface ReplayCursor {
  occurredAtMs: number;
  id: string;
}

export interface ReplayBatchResult {
  read: number;
  applied: number;
  stillFailing: number;
  /** Up to five distinct reasons of the letters that still fail (first seen first). */
  reasons?: string[];
  /** Origins other than upsync and command (downsync, transform) are left alone. */
  skipped: number;
  cursor?: ReplayCursor;
  done: boolean;
}

export interface ReplayProgress {
  feature: string;
  /** The feature whose dead letters are replayed, when not `feature` itself. */
  fromFeature?: string;
  state: 'replaying' | 'done' | 'failed';
  fromMs?: number;
  toMs?: number;
  read: number;
  applied: number;
  stillFailing: number;
  skipped: number;
  /** Up to five distinct reasons of the letters that still fail. */
  reasons?: string[];
  batches: number;
  cursor?: ReplayCursor;
  startedAtMs: number;
  updatedAtMs: number;
  error?: string;
}

export interface ScheduledUpsyncResult {
  feature: string;
  status: 'done' | 'already running' | 'failed' | 'skipped';
  transform?: TransformStep;
  upsync?: SyncProgress;
  message?: string;
}
