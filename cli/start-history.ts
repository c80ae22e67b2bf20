import type { Client } from '@temporalio/client';
import type { Settings } from '../config/settings.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { layoutOf } from '../domain/kinds/feature-kinds.ts';
import { periodStartMs } from '../samples/sample-options.ts';
import { eventsBackfillWorkflowId } from '../workflow-contract/ids.ts';
import type { SyncProgress } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import { type DataDir, writeState } from './start-data-dir.ts';
import { int, type StartRun } from './start-run.ts';
import { startOrJoin } from './workflow-cli.ts';

// The history of the Aggregation features in `ferry start`: after the day's events were pushed
// live, `ferry events backfill` over the sample period counts each user's older events from the
// warehouse's event logs, so the 30-day and lifetime values cover the month, not the day.

/** Runs the events backfill of each Aggregation with a backfill table, once per data folder; a failure is reported, not fatal. */
export async function backfillAggregationHistory(
  run: StartRun,
  dirs: DataDir,
  local: readonly FeatureDefinition[],
  client: Client,
  settings: Settings,
): Promise<void> {
  const { state, config } = dirs;
  const done = new Set(state.historyBackfilled?.features ?? []);
  const pending = local.filter(
    (d) => layoutOf(d) === 'aggregates' && d.fromEvents?.backfill !== undefined && !done.has(d.name),
  );
  if (pending.length === 0) return;
  const fromMs = periodStartMs(config);
  const toMs = Date.now();
  for (const def of pending) {
    const table = def.fromEvents!.backfill!.table;
    const workflowId = eventsBackfillWorkflowId(def.name, fromMs, toMs);
    run.say(`history: ${def.name} from the warehouse's ${table} (workflow ${workflowId})`);
    const outcome = await run.step(
      run.timed(`history of ${def.name}`, async () => {
        try {
          const { handle } = await startOrJoin(client, workflowTypes.backfill, {
            workflowId,
            taskQueue: settings.temporalTaskQueue,
            args: [{ feature: def.name, fromMs, toMs, options: { source: 'events' } }],
          });
          const pending = client.connection.withAbortSignal(run.abort.signal, () =>
            handle.result(),
          ) as Promise<SyncProgress>;
          run.inFlight.push(pending.catch(() => undefined));
          return { progress: await pending };
        } catch (e) {
          return { error: (e as Error).message };
        }
      }),
    );
    if (outcome.error !== undefined || !outcome.progress) {
      run.say(
        `warning: the history of ${def.name} failed (Temporal UI: workflow ${workflowId}): ${outcome.error}\n` +
          `Ferry keeps running; its values cover the events pushed live. \`ferry events backfill ${def.name} --from ${fromMs} --to ${toMs}\` tries again.`,
      );
      continue;
    }
    const p = outcome.progress;
    run.say(
      `  ${int.format(p.rowsRead)} events read, ${int.format(p.rowsWritten)} counted as history ` +
        `(the others came live first or count nowhere)` +
        (p.rowsDeadLettered ? `, ${int.format(p.rowsDeadLettered)} dead-lettered` : ''),
    );
    done.add(def.name);
    state.historyBackfilled = { atMs: Date.now(), features: [...done].sort() };
    writeState(dirs.dataDir, state);
  }
}
