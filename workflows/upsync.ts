// upsyncWorkflow and backfillWorkflow: copy offline rows into the online store in chunks. The
// chunks run as activities that heartbeat and save their position after every page, so a worker
// that dies mid-chunk costs at most one page of rework; the workflow continues as new every few
// chunks so that a long copy never grows one history without bound.
import {
  ApplicationFailure,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { FerryActivities } from '../workflow-contract/activities.ts';
import { storeRetry } from '../workflow-contract/retry.ts';
import type {
  BackfillInput,
  ChunkProgress,
  IncrementalCursor,
  SyncCarry,
  SyncMode,
  SyncOptions,
  SyncProgress,
  UpsyncInput,
} from '../workflow-contract/types.ts';
import { rootMessage, rootType } from './failure.ts';
import { chunkProgressSignal, syncProgressQuery } from './queries.ts';

const { syncChunk } = proxyActivities<FerryActivities>({
  startToCloseTimeout: '1 hour',
  // a dead worker is noticed within 30 s and the chunk retried elsewhere, from its last saved page
  heartbeatTimeout: '30 seconds',
  retry: storeRetry,
});

const { planSync, finishSync } = proxyActivities<FerryActivities>({
  startToCloseTimeout: '2 minutes',
  retry: storeRetry,
});

/** Chunks per workflow run: about 6 history events each, so a run stays far below Temporal's limits. */
export const defaultChunksPerRun = 40;

interface SyncArgs {
  workflow: 'upsync' | 'backfill';
  feature: string;
  mode: SyncMode;
  fromMs?: number;
  toMs?: number;
  options?: SyncOptions;
  carry?: SyncCarry;
  continueWith(carry: SyncCarry): Promise<never>;
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

async function runSync(args: SyncArgs): Promise<SyncProgress> {
  const info = workflowInfo();
  const started = Date.now();
  let progress: SyncProgress = args.carry?.progress ?? {
    feature: args.feature,
    workflow: args.workflow,
    mode: args.mode,
    state: 'planning',
    rowsRead: 0,
    rowsWritten: 0,
    rowsDeadLettered: 0,
    watermark: null,
    chunks: 0,
    runs: 1,
    startedAtMs: started,
    updatedAtMs: started,
    ...(args.fromMs !== undefined ? { fromMs: args.fromMs } : {}),
    ...(args.toMs !== undefined ? { toMs: args.toMs } : {}),
  };
  // the chunk under way reports its counts every few seconds; the query adds them to the finished chunks'
  let token = '';
  let current: ChunkProgress | undefined;
  setHandler(chunkProgressSignal, (p) => {
    if (p.token === token) current = p;
  });
  setHandler(syncProgressQuery, () =>
    current
      ? {
          ...progress,
          rowsRead: progress.rowsRead + current.rowsRead,
          rowsWritten: progress.rowsWritten + current.rowsWritten,
          rowsDeadLettered: progress.rowsDeadLettered + current.rowsDeadLettered,
          watermark: maxOf(progress.watermark, current.maxWatermark),
          ...(current.cursor ? { cursor: current.cursor } : {}),
        }
      : progress,
  );
  let carry: SyncCarry | undefined;
  try {
    const plan =
      args.carry?.plan ??
      (await planSync({
        feature: args.feature,
        mode: args.mode,
        ...(args.fromMs !== undefined ? { fromMs: args.fromMs } : {}),
        ...(args.toMs !== undefined ? { toMs: args.toMs } : {}),
        ...(args.options ? { options: args.options } : {}),
      }));
    let cursor: IncrementalCursor | undefined = args.carry ? args.carry.cursor : plan.startCursor;
    if (!args.carry) {
      progress = {
        ...progress,
        mode: plan.mode,
        state: 'syncing',
        source: plan.source,
        sourceTable: plan.sourceTable,
        watermark: plan.startWatermark,
        ...(cursor ? { cursor } : {}),
        ...(plan.missingFields.length > 0 ? { missingFields: plan.missingFields } : {}),
        updatedAtMs: Date.now(),
      };
    }
    const chunksPerRun = Math.max(1, args.options?.chunksPerRun ?? defaultChunksPerRun);
    let done = false;
    for (let n = 0; !done; n++) {
      if (n >= chunksPerRun || (n > 0 && workflowInfo().continueAsNewSuggested)) {
        carry = { plan, ...(cursor ? { cursor } : {}), progress: { ...progress, runs: progress.runs + 1 } };
        break;
      }
      token = `${info.workflowId}/${info.runId}/${n}`;
      current = undefined;
      const r = await syncChunk({ plan, token, ...(cursor ? { cursor } : {}) });
      current = undefined;
      cursor = r.cursor ?? cursor;
      done = r.done;
      progress = {
        ...progress,
        rowsRead: progress.rowsRead + r.rowsRead,
        rowsWritten: progress.rowsWritten + r.rowsWritten,
        rowsDeadLettered: progress.rowsDeadLettered + r.rowsDeadLettered,
        watermark: maxOf(progress.watermark, r.maxWatermark),
        chunks: progress.chunks + 1,
        ...(cursor ? { cursor } : {}),
        updatedAtMs: Date.now(),
      };
    }
    if (!carry) {
      progress = { ...progress, state: 'finishing' };
      await finishSync({
        plan,
        progress,
        workflowId: info.workflowId,
        runId: info.runId,
        ...(cursor ? { cursor } : {}),
      });
      progress = { ...progress, state: 'done', updatedAtMs: Date.now() };
      return progress;
    }
  } catch (e) {
    if (e instanceof ContinueAsNew) throw e;
    const message = rootMessage(e);
    progress = {
      ...progress,
      state: isCancellation(e) ? 'cancelled' : 'failed',
      error: message,
      updatedAtMs: Date.now(),
    };
    if (isCancellation(e)) throw e;
    throw ApplicationFailure.create({
      message: `${args.workflow} of ${args.feature} failed: ${message}`,
      type: rootType(e) ?? 'SyncFailed',
      nonRetryable: true,
      details: [progress],
      cause: e instanceof Error ? e : undefined,
    });
  }
  return args.continueWith(carry);
}

/**
 * Copies a feature's offline rows into the online store: with `incremental_update`, only the rows
 * after the stored cursor (`state/upsync/<feature>`), else (or with `full`) every row. Workflow id
 * `upsync/<feature>`: one at a time per feature. Answers the `progress` query.
 */
export async function upsyncWorkflow(input: UpsyncInput): Promise<SyncProgress> {
  return runSync({
    workflow: 'upsync',
    feature: input.feature,
    mode: input.full ? 'full' : 'incremental',
    ...(input.options ? { options: input.options } : {}),
    ...(input.carry ? { carry: input.carry } : {}),
    continueWith: (carry) => continueAsNew<typeof upsyncWorkflow>({ ...input, carry }),
  });
}

/**
 * Re-syncs the rows whose watermark lies in [fromMs, toMs), in bounded chunks with continue-as-new.
 * The feature's incremental cursor does not move. Its own position (`state/backfill/...`) is saved
 * per page, so a backfill of the same range started again after a crash continues where it was.
 */
export async function backfillWorkflow(input: BackfillInput): Promise<SyncProgress> {
  return runSync({
    workflow: 'backfill',
    feature: input.feature,
    mode: 'backfill',
    fromMs: input.fromMs,
    toMs: input.toMs,
    ...(input.options ? { options: input.options } : {}),
    ...(input.carry ? { carry: input.carry } : {}),
    continueWith: (carry) => continueAsNew<typeof backfillWorkflow>({ ...input, carry }),
  });
}
