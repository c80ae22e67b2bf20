import { readSettings } from '../config/settings.ts';
import { backfillWorkflowId, eventsBackfillWorkflowId } from '../workflow-contract/ids.ts';
import type { SyncProgress } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import type { Command } from './command.ts';
import { UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import {
  formatWatermark,
  parseRangeCommand,
  resolveFeature,
  runWorkflowFromCli,
  summary,
} from './workflow-cli.ts';

const usage = `Usage: ferry backfill <feature> --from <time> --to <time> [--wait] [--json]

Re-syncs the rows of a feature's upsync source whose watermark lies in [from, to), on the
Temporal worker (workflow backfill/<feature>/<from>-<to>), in bounded chunks. The feature's
incremental watermark does not move. Event time still decides: a backfilled value never
replaces a newer one online. Starting the same range again while it runs joins that run;
after a crash it continues where it stopped.

Options:
  --from <time>   start of the range (inclusive): 2024-03-01, 2024-03-01T05:00:00Z or epoch ms
  --to <time>     end of the range (exclusive)
  --wait          wait for the end with a progress bar (the watermark's way through the range)
  --json          print the start (or, with --wait, the final progress) as JSON

Exit codes: 0 started or done, 1 the backfill failed, 2 bad usage.`;

/**
 * `ferry backfill` and `ferry events backfill`: the backfill workflow over a watermark range of the
 * feature's upsync source, or (`events`) of the table that keeps its events.
 */
export async function startBackfill(args: readonly string[], source: 'upsync' | 'events'): Promise<number> {
  const range = parseRangeCommand(args);
  const { fromMs, toMs } = range;
  if (fromMs === undefined || toMs === undefined) throw new UsageError('--from and --to are required');
  const settings = readSettings();
  const feature = await resolveFeature(settings, range.feature);
  const events = source === 'events';
  const workflowId = (events ? eventsBackfillWorkflowId : backfillWorkflowId)(feature, fromMs, toMs);
  const what = events ? 'events backfill' : 'backfill';
  return runWorkflowFromCli<SyncProgress>({
    command: events ? 'events backfill' : 'backfill',
    settings,
    workflowType: workflowTypes.backfill,
    workflowId,
    args: [{ feature, fromMs, toMs, ...(events ? { options: { source: 'events' } } : {}) }],
    wait: range.wait,
    json: range.json,
    describe: (joined, runId) =>
      `${joined ? `joined the ${what} already running` : 'started'} ${workflowId} (run ${runId}): watermarks ${formatWatermark(fromMs)} to ${formatWatermark(toMs)}`,
    summarize: summary,
  });
}

export const backfillCommand: Command = {
  name: 'backfill',
  usage,
  run: (args) => runCommand('backfill', usage, () => startBackfill(args, 'upsync')),
};
