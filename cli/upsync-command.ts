import { readSettings } from '../config/settings.ts';
import { upsyncWorkflowId } from '../workflow-contract/ids.ts';
import type { SyncProgress } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import { resolveFeature, runWorkflowFromCli, summary } from './workflow-cli.ts';

const usage = `Usage: ferry upsync <feature> [--full] [--wait] [--json]

Starts the upsync of a feature (offline → online) on the Temporal worker: the workflow
upsync/<feature>, which copies the rows of the feature's source (its transform's
destination, or its table) into the online store in chunks. With incremental_update,
only rows past the stored watermark are copied; otherwise every row.

Only one upsync of a feature runs at a time: when upsync/<feature> is already running
(started by hand or by its schedule), this joins it rather than starting another, says so,
and with --wait follows that run.

Options:
  --full   copy every row even when the feature is incremental (the watermark moves to the
           end of the source when the copy finishes)
  --wait   wait for the end, showing rows read, written and dead-lettered and the watermark
           (a bar on a terminal, a line every 5 s otherwise)
  --json   print the start (or, with --wait, the final progress) as JSON

Exit codes: 0 started or done, 1 the upsync failed, 2 bad usage.`;

export const upsyncCommand: Command = {
  name: 'upsync',
  usage,
  run: (args) =>
    runCommand('upsync', usage, async () => {
      const { values, positionals } = parseOptions(args, {
        full: { type: 'boolean' },
        wait: { type: 'boolean' },
        json: { type: 'boolean' },
      });
      if (positionals.length !== 1) throw new UsageError('name one feature');
      const settings = readSettings();
      const feature = await resolveFeature(settings, positionals[0]!);
      const workflowId = upsyncWorkflowId(feature);
      return runWorkflowFromCli<SyncProgress>({
        command: 'upsync',
        settings,
        workflowType: workflowTypes.upsync,
        workflowId,
        args: [{ feature, ...(values.full ? { full: true } : {}) }],
        wait: values.wait === true,
        json: values.json === true,
        describe: (joined, runId) =>
          joined
            ? `joined the upsync already running: ${workflowId} (run ${runId})` +
              (values.full ? '; --full does not apply to it, start again once it ends' : '')
            : `started ${workflowId} (run ${runId})${values.full ? ', full copy' : ''}`,
        summarize: summary,
      });
    }),
};
