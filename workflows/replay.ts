// replayDeadLettersWorkflow: re-validates and re-applies a feature's dead letters.
import {
  ApplicationFailure,
  ContinueAsNew,
  continueAsNew,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { FerryActivities } from '../workflow-contract/activities.ts';
import { storeRetry } from '../workflow-contract/retry.ts';
import type { ReplayInput, ReplayProgress } from '../workflow-contract/types.ts';
import { rootMessage, rootType } from './failure.ts';
import { replayProgressQuery } from './queries.ts';

const { replayDeadLetterBatch } = proxyActivities<FerryActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: storeRetry,
});

const batchesPerRun = 50;

/** The first five distinct reasons. */
function firstReasons(reasons: string[]): string[] {
  return [...new Set(reasons)].slice(0, 5);
}

/**
 * Replays the dead letters of `feature` that occurred in [fromMs, toMs) (origins upsync, command and event),
 * in batches: the ones that pass against the applied definition now are written to the online store
 * (event time decides, as always) and removed from dead letters; the ones that still fail stay, with
 * the new reason. With `fromFeature`, the dead letters of that feature are replayed into `feature`
 * (a `-v2` published for a change apply refuses takes the `-v1` letters); those that still fail stay
 * with `fromFeature` as they were. Workflow id `replay/<feature>` (`replay/<feature>/from/<other>`).
 * Answers the `progress` query.
 */
export async function replayDeadLettersWorkflow(input: ReplayInput): Promise<ReplayProgress> {
  const started = Date.now();
  let progress: ReplayProgress = input.carry ?? {
    feature: input.feature,
    ...(input.fromFeature !== undefined ? { fromFeature: input.fromFeature } : {}),
    state: 'replaying',
    ...(input.fromMs !== undefined ? { fromMs: input.fromMs } : {}),
    ...(input.toMs !== undefined ? { toMs: input.toMs } : {}),
    read: 0,
    applied: 0,
    stillFailing: 0,
    skipped: 0,
    batches: 0,
    startedAtMs: started,
    updatedAtMs: started,
  };
  setHandler(replayProgressQuery, () => progress);
  try {
    for (let n = 0; ; n++) {
      if (n >= batchesPerRun) {
        await continueAsNew<typeof replayDeadLettersWorkflow>({ ...input, carry: progress });
      }
      const r = await replayDeadLetterBatch({
        feature: input.feature,
        ...(input.fromFeature !== undefined ? { fromFeature: input.fromFeature } : {}),
        batchSize: input.batchSize ?? 1000,
        ...(input.fromMs !== undefined ? { fromMs: input.fromMs } : {}),
        ...(input.toMs !== undefined ? { toMs: input.toMs } : {}),
        ...(progress.cursor ? { after: progress.cursor } : {}),
      });
      progress = {
        ...progress,
        read: progress.read + r.read,
        applied: progress.applied + r.applied,
        stillFailing: progress.stillFailing + r.stillFailing,
        skipped: progress.skipped + r.skipped,
        ...(r.reasons?.length ? { reasons: firstReasons([...(progress.reasons ?? []), ...r.reasons]) } : {}),
        batches: progress.batches + 1,
        ...(r.cursor ? { cursor: r.cursor } : {}),
        updatedAtMs: Date.now(),
      };
      if (r.done) break;
    }
    progress = { ...progress, state: 'done' };
    return progress;
  } catch (e) {
    if (e instanceof ContinueAsNew) throw e;
    progress = { ...progress, state: 'failed', error: rootMessage(e) };
    throw ApplicationFailure.create({
      message: `replay of ${input.feature} failed: ${rootMessage(e)}`,
      type: rootType(e) ?? 'ReplayFailed',
      nonRetryable: true,
      details: [progress],
    });
  }
}
