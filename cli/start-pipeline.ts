import type { Client } from '@temporalio/client';
import type { Settings } from '../config/settings.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { type SampleConfig, sampleLogicalDateOf } from '../samples/sample-options.ts';
import { pipelineWorkflowId } from '../workflow-contract/ids.ts';
import type { PipelineInput, PipelineProgress } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import { type DataDir, writeState } from './start-data-dir.ts';
import { int, type StartRun } from './start-run.ts';

// The first transforms and upsyncs of `ferry start`: one transformAndUpsync workflow over the
// sample data, for the features not upsynced on an earlier start, with its progress as it goes.

/** Runs the transforms and upsyncs of the features not done on an earlier start; a failure is reported, not fatal. */
export async function transformsAndUpsync(
  run: StartRun,
  dirs: DataDir,
  local: readonly FeatureDefinition[],
  client: Client,
  settings: Settings,
): Promise<void> {
  const { state, config } = dirs;
  const { say } = run;
  const done = new Set(state.upsynced?.features ?? []);
  const pending = local.filter((d) => d.upsync?.enabled && !done.has(d.name));
  if (pending.length > 0) {
    const input = pipelineInput(pending, config);
    const workflowId = pipelineWorkflowId(input.pipeline, input.logicalDate);
    say(
      `transforms and upsync: workflow ${workflowId} (${input.transforms.length} transforms, ` +
        `${input.features.length} features${done.size > 0 ? ' added since the last start' : ''})`,
    );
    const outcome = await run.step(
      run.timed('transforms and upsync', () => {
        const pipeline = client.connection.withAbortSignal(run.abort.signal, () =>
          runPipeline(client, settings, input, workflowId, say),
        );
        run.inFlight.push(pipeline.catch(() => undefined));
        return pipeline;
      }),
    );
    for (const f of outcome.progress?.features ?? []) if (f.status === 'done') done.add(f.feature);
    state.upsynced = { atMs: Date.now(), workflowId, features: [...done].sort() };
    writeState(dirs.dataDir, state);
    if (outcome.error) {
      say(
        `warning: the transforms and upsync failed (Temporal UI: workflow ${workflowId}):\n${outcome.error}\n` +
          'Ferry keeps running; fix the cause and start again: the features not upsynced are tried again.',
      );
    }
  } else {
    say('transforms and upsync: done on an earlier start (the schedules keep them going)');
  }
}

/** The pipeline over all the sample data: every transform that an upsync reads, then those upsyncs. */
function pipelineInput(defs: readonly FeatureDefinition[], config: SampleConfig): PipelineInput {
  const upsynced = defs.filter((d) => d.upsync?.enabled);
  const transforms = [
    ...new Set(
      upsynced.flatMap((d) => (d.upsync!.source.kind === 'transform' ? [d.upsync!.source.transform] : [])),
    ),
  ];
  return {
    pipeline: 'quickstart',
    transforms,
    features: upsynced.map((d) => d.name),
    logicalDate: sampleLogicalDateOf(config),
    // from before the first sign-up: the first run sees every profile and event
    windowStartMs: Date.UTC(2000, 0, 1),
    windowEndMs: config.endMs,
  };
}

async function runPipeline(
  client: Client,
  settings: Settings,
  input: PipelineInput,
  workflowId: string,
  say: (l: string) => void,
): Promise<{ progress?: PipelineProgress; error?: string }> {
  const { startOrJoin } = await import('./workflow-cli.ts');
  const { handle } = await startOrJoin(client, workflowTypes.transformAndUpsync, {
    workflowId,
    taskQueue: settings.temporalTaskQueue,
    args: [input],
  });
  const reported = new Set<string>();
  const report = (p: PipelineProgress) => {
    for (const t of p.transforms) {
      const id = `t ${t.transform} ${t.status}`;
      if ((t.status === 'done' || t.status === 'failed') && !reported.has(id)) {
        reported.add(id);
        say(
          t.status === 'done'
            ? `  transform ${t.transform} → ${t.destination}: ${int.format(t.rowsWritten ?? 0)} rows`
            : `  transform ${t.transform} failed: ${t.error}`,
        );
      }
    }
    for (const f of p.features) {
      const id = `f ${f.feature} ${f.status}`;
      if (['done', 'failed', 'skipped', 'already running'].includes(f.status) && !reported.has(id)) {
        reported.add(id);
        const r = f.result;
        say(
          f.status === 'done' && r
            ? `  upsync ${f.feature}: ${int.format(r.rowsWritten)} rows written` +
                (r.rowsDeadLettered ? `, ${int.format(r.rowsDeadLettered)} dead-lettered` : '')
            : `  upsync ${f.feature}: ${f.status}${f.error ? ` (${f.error})` : ''}`,
        );
      }
    }
  };
  const result = handle.result() as Promise<PipelineProgress>;
  let done = false;
  result.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  while (!done) {
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1_000))]);
    if (done) break;
    try {
      report((await handle.query('progress')) as PipelineProgress);
    } catch {
      // no answer yet
    }
  }
  try {
    const p = await result;
    report(p);
    return { progress: p };
  } catch (e) {
    // the workflow fails with its progress as the failure's details
    const cause = (e as { cause?: { message?: string; details?: unknown[] } }).cause;
    const progress = cause?.details?.[0] as PipelineProgress | undefined;
    if (progress?.features) report(progress);
    return {
      ...(progress?.features ? { progress } : {}),
      error: cause?.message ?? (e as Error).message,
    };
  }
}
