import { readSettings } from '../core/config/settings.ts';
import { backfillWorkflowId } from '../workflows/ids.ts';
import type { SyncProgress } from '../workflows/types.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import {
  connectClient,
  formatWatermark,
  parseTime,
  resolveFeature,
  startOrJoin,
  summary,
  waitWithProgress,
} from './upsync-command.ts';

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

export const backfillCommand: Command = {
  name: 'backfill',
  usage,
  run: (args) =>
    runCommand('backfill', usage, async () => {
      const { values, positionals } = parseOptions(args, {
        from: { type: 'string' },
        to: { type: 'string' },
        wait: { type: 'boolean' },
        json: { type: 'boolean' },
      });
      if (positionals.length !== 1) throw new UsageError('name one feature');
      const fromMs = parseTime('--from', values.from);
      const toMs = parseTime('--to', values.to);
      if (fromMs === undefined || toMs === undefined) throw new UsageError('--from and --to are required');
      if (fromMs >= toMs) throw new UsageError(`--from must be before --to`);
      const settings = readSettings();
      const feature = await resolveFeature(settings, positionals[0]!);
      const workflowId = backfillWorkflowId(feature, fromMs, toMs);
      const { client, close } = await connectClient(settings);
      try {
        const { handle, joined, runId } = await startOrJoin(client, 'backfillWorkflow', {
          workflowId,
          taskQueue: settings.temporalTaskQueue,
          args: [{ feature, fromMs, toMs }],
        });
        const what = `${joined ? 'joined the backfill already running' : 'started'} ${workflowId} (run ${runId}): watermarks ${formatWatermark(fromMs)} to ${formatWatermark(toMs)}`;
        if (!values.wait) {
          if (values.json) console.log(JSON.stringify({ workflowId, runId, joined }, null, 2));
          else console.log(what);
          return 0;
        }
        if (!values.json) console.error(what);
        try {
          const done = await waitWithProgress<SyncProgress>(handle, workflowId);
          if (values.json) console.log(JSON.stringify({ workflowId, runId, joined, result: done }, null, 2));
          else console.log(summary(done));
          return 0;
        } catch (e) {
          const message = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
          if (values.json)
            console.log(JSON.stringify({ workflowId, runId, joined, error: message }, null, 2));
          else console.error(`ferry backfill: ${message}`);
          return 1;
        }
      } finally {
        await close();
      }
    }),
};
