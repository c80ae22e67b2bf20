import { readSettings } from '../config/settings.ts';
import { replayWorkflowId } from '../workflow-contract/ids.ts';
import type { ReplayProgress } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import type { Command } from './command.ts';
import { UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import { parseRangeCommand, resolveFeature, runWorkflowFromCli } from './workflow-cli.ts';

const usage = `Usage: ferry replay <feature> [--from-feature <old>] [--from <time>] [--to <time>] [--wait] [--json]

Replays a feature's dead letters (rows an upsync refused, commands and events that failed) on the
Temporal worker (workflow replay/<feature>): each is validated again against the applied
definition; those that pass now are written to the online store (event time decides, as
always) and removed from the dead letters; those that still fail stay, with the new reason.
Fix the cause first (\`ferry apply\` a corrected definition, repair the source).

A value too large for its type (30000000000 in an Int field): declare the field Long (or Double)
and \`ferry apply\` (a widening applies in place), then replay. For a change apply refuses, publish
the feature under a new version name and replay the old one's letters into it with --from-feature.

Options:
  --from-feature <old>  replay the dead letters of feature <old> (e.g. the -v1 that <feature>
                        replaced; retired features too) into <feature>: those that pass against
                        <feature>'s definition are written to it and removed; the others stay with
                        <old> as they were (workflow replay/<feature>/from/<old>)
  --from <time>         only dead letters that occurred at or after this time
                        (2024-03-01, 2024-03-01T05:00:00Z or epoch ms)
  --to <time>           only those before this time
  --wait                wait for the end, showing the counts
  --json                print the start (or, with --wait, the result) as JSON

Exit codes: 0 started or done (some may still fail: see the counts), 1 the replay failed,
2 bad usage.`;

export const replayCommand: Command = {
  name: 'replay',
  usage,
  run: (args) =>
    runCommand('replay', usage, async () => {
      const range = parseRangeCommand(args, ['from-feature']);
      const { fromMs, toMs } = range;
      const settings = readSettings();
      const feature = await resolveFeature(settings, range.feature);
      const fromName = range.options['from-feature'];
      if (fromName === '')
        throw new UsageError('--from-feature: name the feature whose dead letters to replay');
      const fromFeature =
        fromName === undefined
          ? undefined
          : await resolveFeature(settings, fromName, { includeRetired: true });
      if (fromFeature === feature) throw new UsageError(`--from-feature names ${feature} itself`);
      const workflowId = replayWorkflowId(feature, fromFeature);
      return runWorkflowFromCli<ReplayProgress>({
        command: 'replay',
        settings,
        workflowType: workflowTypes.replay,
        workflowId,
        args: [
          {
            feature,
            ...(fromFeature !== undefined ? { fromFeature } : {}),
            ...(fromMs !== undefined ? { fromMs } : {}),
            ...(toMs !== undefined ? { toMs } : {}),
          },
        ],
        wait: range.wait,
        json: range.json,
        describe: (joined, runId) =>
          `${joined ? 'joined the replay already running' : 'started'} ${workflowId} (run ${runId})`,
        summarize: (done) =>
          `replay of ${fromFeature ? `${fromFeature}'s dead letters into ${feature}` : feature}: ` +
          `${done.read} dead letters read, ${done.applied} applied and removed, ` +
          `${done.stillFailing} still failing (kept ${fromFeature ? `with ${fromFeature} as they were` : 'with their reason'})` +
          (done.skipped ? `, ${done.skipped} of other origins left alone` : '') +
          (done.reasons?.length
            ? `\n  still failing because: ${done.reasons.join('\n                        ')}`
            : ''),
      });
    }),
};
