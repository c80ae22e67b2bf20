import { readSettings } from '../config/settings.ts';
import { replayWorkflowId } from '../workflow-contract/ids.ts';
import type { ReplayProgress } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import type { Command } from './command.ts';
import { runCommand } from './run-command.ts';
import { parseRangeCommand, resolveFeature, runWorkflowFromCli } from './workflow-cli.ts';

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
      const range = parseRangeCommand(args);
      const { fromMs, toMs } = range;
      const settings = readSettings();
      const feature = await resolveFeature(settings, range.feature);
      const workflowId = replayWorkflowId(feature);
      return runWorkflowFromCli<ReplayProgress>({
        command: 'replay',
        settings,
        workflowType: workflowTypes.replay,
        workflowId,
        args: [
          { feature, ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}) },
        ],
        wait: range.wait,
        json: range.json,
        describe: (joined, runId) =>
          `${joined ? 'joined the replay already running' : 'started'} ${workflowId} (run ${runId})`,
        summarize: (done) =>
          `replay of ${feature}: ${done.read} dead letters read, ${done.applied} applied and removed, ` +
          `${done.stillFailing} still failing (kept with their reason)` +
          (done.skipped ? `, ${done.skipped} of other origins left alone` : ''),
      });
    }),
};
