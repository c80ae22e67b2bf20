import { readSettings } from '../core/config/settings.ts';
import { replayWorkflowId } from '../workflows/ids.ts';
import type { ReplayProgress } from '../workflows/types.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import { connectClient, parseTime, resolveFeature, startOrJoin, waitWithProgress } from './upsync-command.ts';

const usage = `Usage: ferry replay <feature> [--from <time>] [--to <time>] [--wait] [--json]

Replays a feature's dead letters (rows an upsync refused and commands that failed) on the
Temporal worker (workflow replay/<feature>): each is validated again against the applied
definition; those that pass now are written to the online store (event time decides, as
always) and removed from the dead letters; those that still fail stay, with the new reason.
Fix the cause first (\`ferry apply\` a corrected definition, repair the source).

Options:
  --from <time>   only dead letters that occurred at or after this time
                  (2024-03-01, 2024-03-01T05:00:00Z or epoch ms)
  --to <time>     only those before this time
  --wait          wait for the end, showing the counts
  --json          print the start (or, with --wait, the result) as JSON

Exit codes: 0 started or done (some may still fail: see the counts), 1 the replay failed,
2 bad usage.`;

export const replayCommand: Command = {
  name: 'replay',
  usage,
  run: (args) =>
    runCommand('replay', usage, async () => {
      const { values, positionals } = parseOptions(args, {
        from: { type: 'string' },
        to: { type: 'string' },
        wait: { type: 'boolean' },
        json: { type: 'boolean' },
      });
      if (positionals.length !== 1) throw new UsageError('name one feature');
      const fromMs = parseTime('--from', values.from);
      const toMs = parseTime('--to', values.to);
      if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) {
        throw new UsageError('--from must be before --to');
      }
      const settings = readSettings();
      const feature = await resolveFeature(settings, positionals[0]!);
      const workflowId = replayWorkflowId(feature);
      const { client, close } = await connectClient(settings);
      try {
        const { handle, joined, runId } = await startOrJoin(client, 'replayDeadLettersWorkflow', {
          workflowId,
          taskQueue: settings.temporalTaskQueue,
          args: [
            { feature, ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}) },
          ],
        });
        const what = `${joined ? 'joined the replay already running' : 'started'} ${workflowId} (run ${runId})`;
        if (!values.wait) {
          if (values.json) console.log(JSON.stringify({ workflowId, runId, joined }, null, 2));
          else console.log(what);
          return 0;
        }
        if (!values.json) console.error(what);
        try {
          const done = await waitWithProgress<ReplayProgress>(handle, workflowId);
          if (values.json) console.log(JSON.stringify({ workflowId, runId, joined, result: done }, null, 2));
          else
            console.log(
              `replay of ${feature}: ${done.read} dead letters read, ${done.applied} applied and removed, ` +
                `${done.stillFailing} still failing (kept with their reason)` +
                (done.skipped ? `, ${done.skipped} of other origins left alone` : ''),
            );
          return 0;
        } catch (e) {
          const message = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
          if (values.json)
            console.log(JSON.stringify({ workflowId, runId, joined, error: message }, null, 2));
          else console.error(`ferry replay: ${message}`);
          return 1;
        }
      } finally {
        await close();
      }
    }),
};
