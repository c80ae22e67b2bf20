import { planApply } from '../apply/apply-plan.ts';
import { readSettings } from '../config/settings.ts';
import { loadLocalDefinitions, openApplyContext } from './apply-context.ts';
import type { Command } from './command.ts';
import { formatPlan, planJson } from './format-plan.ts';
import { parseOptions } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry plan [--json] [--all]

Shows what \`ferry apply\` would do: features added, changed (field by field),
refused (incompatible changes, with the reason), retired; and the tables, topics
and schedules it would create or change. Changes nothing.
Exit code: 0 when the plan can be applied, 1 when some feature is refused or invalid.

Options:
  --json   print the plan as JSON
  --all    also list unchanged features`;

export const planCommand: Command = {
  name: 'plan',
  usage,
  run: (args) =>
    runCommand('plan', usage, async () => {
      const { values } = parseOptions(args, { json: { type: 'boolean' }, all: { type: 'boolean' } }, false);
      const settings = readSettings();
      const local = await loadLocalDefinitions(settings);
      const ctx = await openApplyContext(settings);
      try {
        const plan = await planApply(local, ctx.registry, ctx.targets);
        console.log(
          values.json
            ? JSON.stringify(planJson(plan), null, 2)
            : formatPlan(plan, { showUnchanged: values.all === true }),
        );
        return plan.refused ? 1 : 0;
      } finally {
        await ctx.close();
      }
    }),
};
