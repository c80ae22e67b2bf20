// The contract between Ferry's workflows and its activities: every activity a workflow may call,
// with its input and result. Workflows proxy this interface (type-only, so nothing of the
// activities' I/O reaches the workflow bundle); createActivities (activities/index.ts) must
// implement it, so the compiler refuses an activity that drifts from what the workflows call.

import type { TransformResult } from '../domain/transforms/transform-file.ts';
import type { IncrementalCursor } from '../stores/offline/offline-store.ts';
import type { CommandConsumerStats } from '../streaming/commands/command-consumer.ts';
import type {
  ChunkInput,
  ChunkResult,
  ReplayBatchResult,
  ReplayCursor,
  RetentionFeatureResult,
  RetentionTarget,
  SourceInfo,
  SyncMode,
  SyncOptions,
  SyncPlan,
  SyncProgress,
} from './types.ts';

export interface PlanSyncInput {
  feature: string;
  mode: SyncMode;
  /** Backfill range [fromMs, toMs). */
  fromMs?: number;
  toMs?: number;
  options?: SyncOptions;
}

export interface FinishSyncInput {
  plan: SyncPlan;
  cursor?: IncrementalCursor;
  progress: SyncProgress;
  workflowId: string;
  runId: string;
}

export interface ReplayBatchInput {
  feature: string;
  /** Whose dead letters to read (default `feature`); see ReplayInput.fromFeature. */
  fromFeature?: string;
  fromMs?: number;
  toMs?: number;
  after?: ReplayCursor;
  batchSize: number;
}

export interface RunTransformInput {
  transform: string;
  logicalDate: string;
  windowStartMs?: number;
  windowEndMs?: number;
}

/** What the command consumer workflow passes to each run of the consumer activity. */
export interface CommandConsumerInput {
  /** Default: settings.kafkaCommandsTopic. */
  topic?: string;
  /** Kafka consumer group (default `ferry-commands`). */
  groupId?: string;
  /** Default `<topic>.dead-letters`. */
  deadLetterTopic?: string;
  /** The topic carries domain events for features' from_events rules, not commands. */
  events?: boolean;
  sessionTimeoutMs?: number;
  partitionsConsumedConcurrently?: number;
  /** Downsync batching: rows per offline write, their longest wait, lateness allowance. */
  downsync?: {
    maxRows?: number;
    maxAgeMs?: number;
    latenessMs?: number;
    maxBufferedRows?: number;
    /** A partition caught up and quiet this long closes its pending rows by the wall clock (default 2 s). */
    idleMs?: number;
  };
  /** How often the registry of applied definitions is reloaded (default 30 s). */
  catalogRefreshMs?: number;
  /** The activity returns after this long so the workflow can start a fresh one (default 6 h). */
  maxRunMs?: number;
  /** Heartbeat period (default 2 s; keep it well under the activity's heartbeat timeout). */
  heartbeatEveryMs?: number;
}

export interface CommandConsumerResult {
  stoppedBy: 'max-run' | 'cancel';
  stats: CommandConsumerStats;
}

/** Every activity Ferry's workflows call. */
export interface FerryActivities {
  planSync(input: PlanSyncInput): Promise<SyncPlan>;
  syncChunk(input: ChunkInput): Promise<ChunkResult>;
  finishSync(input: FinishSyncInput): Promise<void>;
  describeSources(input: { features: string[] }): Promise<(SourceInfo & { error?: string })[]>;
  runTransform(input: RunTransformInput): Promise<TransformResult>;
  listRetentionTargets(): Promise<RetentionTarget[]>;
  applyRetention(input: { feature: string; nowMs: number }): Promise<RetentionFeatureResult>;
  purgeDeadLetters(input: { cutoffMs: number }): Promise<number>;
  replayDeadLetterBatch(input: ReplayBatchInput): Promise<ReplayBatchResult>;
  runCommandConsumer(input?: CommandConsumerInput): Promise<CommandConsumerResult>;
}
