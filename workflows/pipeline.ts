// transformAndUpsyncWorkflow and scheduledUpsyncWorkflow: SQL transforms in the warehouse, then the
// upsync of the features that read them (the seed's `[transform_a, transform_b] >> upsync` DAG).
import {
  ApplicationFailure,
  type ChildWorkflowHandle,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { FerryActivities } from '../workflow-contract/activities.ts';
import { upsyncWorkflowId } from '../workflow-contract/ids.ts';
import { storeRetry } from '../workflow-contract/retry.ts';
import type {
  FeatureStep,
  PipelineInput,
  PipelineProgress,
  ScheduledUpsyncInput,
  ScheduledUpsyncResult,
  SyncOptions,
  TransformStep,
} from '../workflow-contract/types.ts';
import { scheduledWindow } from './cron-window.ts';
import { isAlreadyStarted, rootMessage } from './failure.ts';
import { pipelineProgressQuery } from './queries.ts';
import { upsyncWorkflow } from './upsync.ts';

const { runTransform } = proxyActivities<FerryActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  // SQL errors fail at once (non-retryable); a lost warehouse connection is tried a few times
  retry: { ...storeRetry, maximumAttempts: 5 },
});

const { describeSources } = proxyActivities<FerryActivities>({
  startToCloseTimeout: '1 minute',
  retry: storeRetry,
});

/** How long a pipeline waits for a running upsync of the same feature before it reports it. */
const waitForRunningUpsync = { pollMs: 15_000, maxMs: 3_600_000 };

interface RunOptions {
  /** A feature whose upsync is already running: wait for it, then upsync again; or report it at once. */
  onAlreadyRunning: 'wait' | 'report';
  options?: SyncOptions;
}

async function upsyncFeature(step: FeatureStep, run: RunOptions): Promise<void> {
  const workflowId = upsyncWorkflowId(step.feature);
  step.workflowId = workflowId;
  const deadline = Date.now() + waitForRunningUpsync.maxMs;
  for (;;) {
    let handle: ChildWorkflowHandle<typeof upsyncWorkflow>;
    try {
      handle = await startChild(upsyncWorkflow, {
        workflowId,
        args: [{ feature: step.feature, ...(run.options ? { options: run.options } : {}) }],
        // cancelling the pipeline stops the upsync after its current page (its position is saved)
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      });
    } catch (e) {
      if (!isAlreadyStarted(e)) throw e;
      if (run.onAlreadyRunning === 'report' || Date.now() >= deadline) {
        step.status = 'already running';
        step.error = `${workflowId} is already running; this run did not start another`;
        return;
      }
      await sleep(waitForRunningUpsync.pollMs);
      continue;
    }
    step.status = 'running';
    try {
      step.result = await handle.result();
      step.status = 'done';
    } catch (e) {
      step.status = 'failed';
      step.error = rootMessage(e);
    }
    return;
  }
}

/** Runs the transforms in order, then upsyncs the features (in parallel) whose sources succeeded. */
async function runPipeline(input: PipelineInput, run: RunOptions): Promise<PipelineProgress> {
  const progress: PipelineProgress = {
    pipeline: input.pipeline,
    logicalDate: input.logicalDate,
    ...(input.windowStartMs !== undefined ? { windowStartMs: input.windowStartMs } : {}),
    ...(input.windowEndMs !== undefined ? { windowEndMs: input.windowEndMs } : {}),
    state: 'transforming',
    transforms: input.transforms.map((transform): TransformStep => ({ transform, status: 'pending' })),
    features: input.features.map((feature): FeatureStep => ({ feature, status: 'pending' })),
  };
  // steps change in place; a query serializes the object at once, so it never sees half an update
  setHandler(pipelineProgressQuery, () => progress);

  const sources = await describeSources({ features: input.features });
  for (const t of progress.transforms) {
    t.status = 'running';
    try {
      const r = await runTransform({
        transform: t.transform,
        logicalDate: input.logicalDate,
        ...(input.windowStartMs !== undefined ? { windowStartMs: input.windowStartMs } : {}),
        ...(input.windowEndMs !== undefined ? { windowEndMs: input.windowEndMs } : {}),
      });
      t.status = 'done';
      t.destination = r.destination;
      t.rowsWritten = r.rowsWritten;
    } catch (e) {
      t.status = 'failed';
      t.error = rootMessage(e);
    }
  }

  progress.state = 'upsyncing';
  await Promise.all(
    progress.features.map(async (step, i) => {
      const source = sources[i]!;
      if (source.error) {
        step.status = 'failed';
        step.error = source.error;
        return;
      }
      if (source.kind === 'transform' && source.transform && input.transforms.includes(source.transform)) {
        step.transform = source.transform;
        const t = progress.transforms.find((x) => x.transform === source.transform)!;
        if (t.status === 'failed') {
          step.status = 'skipped';
          step.error = `not upsynced: its source transform ${t.transform} failed: ${t.error}`;
          return;
        }
      }
      await upsyncFeature(step, run);
    }),
  );
  const failedTransforms = progress.transforms.filter((t) => t.status === 'failed');
  const failedFeatures = progress.features.filter((f) => f.status === 'failed');
  progress.state = failedTransforms.length + failedFeatures.length > 0 ? 'failed' : 'done';
  return progress;
}

function failureOf(progress: PipelineProgress): ApplicationFailure | undefined {
  const lines = [
    ...progress.transforms
      .filter((t) => t.status === 'failed')
      .map((t) => `transform ${t.transform}: ${t.error}`),
    ...progress.features.filter((f) => f.status === 'failed').map((f) => `upsync ${f.feature}: ${f.error}`),
  ];
  const skipped = progress.features.filter((f) => f.status === 'skipped').map((f) => f.feature);
  if (lines.length === 0) return undefined;
  return ApplicationFailure.create({
    message:
      lines.join('\n') +
      (skipped.length > 0 ? `\nnot upsynced (their transform failed): ${skipped.join(', ')}` : ''),
    type: progress.transforms.some((t) => t.status === 'failed') ? 'TransformError' : 'UpsyncFailed',
    nonRetryable: true,
    details: [progress],
  });
}

/**
 * Runs `transforms` in order, then upsyncs `features` as child workflows `upsync/<feature>`. A
 * feature whose source transform failed is not upsynced; the others go on. The workflow fails at the
 * end, with the warehouse's message, when any transform or upsync failed. Workflow id
 * `pipeline/<name>/<logicalDate>`. A feature whose upsync is already running is upsynced again once
 * that run ends (so the rows this pipeline produced are copied).
 */
export async function transformAndUpsyncWorkflow(input: PipelineInput): Promise<PipelineProgress> {
  const progress = await runPipeline(input, {
    onAlreadyRunning: 'wait',
    ...(input.options ? { options: input.options } : {}),
  });
  const failure = failureOf(progress);
  if (failure) throw failure;
  return progress;
}

/** The time the schedule meant this run for (a triggered run: when it was triggered). */
function nominalTime(): number {
  const info = workflowInfo();
  for (const pair of info.typedSearchAttributes.getAll()) {
    if (pair.key.name === 'TemporalScheduledStartTime' && pair.value instanceof Date)
      return pair.value.getTime();
  }
  return info.startTime.getTime();
}

/**
 * The action of the `upsync/<feature>` Schedule. When the feature reads a transform, the transform
 * runs first over the window [previous fire time, this run's time) of the cron; then the child
 * workflow `upsync/<feature>` runs. If that upsync is already running (a manual `ferry upsync`, a
 * previous run), this run reports `already running` and ends: manual and scheduled upsyncs never
 * overlap. Backfills from the Temporal UI run the transform for each past window.
 */
export async function scheduledUpsyncWorkflow(input: ScheduledUpsyncInput): Promise<ScheduledUpsyncResult> {
  const window = scheduledWindow(nominalTime(), input.cron);
  const [source] = await describeSources({ features: [input.feature] });
  const transforms =
    input.runTransform !== false && source?.kind === 'transform' && source.transform
      ? [source.transform]
      : [];
  const progress = await runPipeline(
    { pipeline: input.feature, transforms, features: [input.feature], ...window },
    { onAlreadyRunning: 'report', ...(input.options ? { options: input.options } : {}) },
  );
  const failure = failureOf(progress);
  if (failure) throw failure;
  const step = progress.features[0]!;
  return {
    feature: input.feature,
    status:
      step.status === 'already running' ? 'already running' : step.status === 'done' ? 'done' : 'skipped',
    ...(progress.transforms[0] ? { transform: progress.transforms[0] } : {}),
    ...(step.result ? { upsync: step.result } : {}),
    ...(step.error ? { message: step.error } : {}),
  };
}
