import { applyPlan } from '../apply/apply-definitions.ts';
import { planApply } from '../apply/apply-plan.ts';
import { readSettings } from '../config/settings.ts';
import { loadLocalDefinitions, openApplyContext } from './apply-context.ts';
import type { Command } from './command.ts';
import { formatPlan, planJson } from './format-plan.ts';
import { parseOptions } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry apply [--json]

Carries out the plan (see \`ferry plan\`) against the configured stores: creates
online and offline tables, topics and schedules, and records each definition in the
registry that workers and readers share. Idempotent: a second apply changes nothing
and says so. Refuses to change anything while a feature has incompatible changes.

Options:
  --json   print {"plan", "applied", "retired"} as JSON`;

export const applyCommand: Command = {
  name: 'apply',
  usage,
  run: (args) =>
    runCommand('apply', usage, async () => {
      const { values } = parseOptions(args, { json: { type: 'boolean' } }, false);
      const settings = readSettings();
      const local = await loadLocalDefinitions(settings);
      const ctx = await openApplyContext(settings);
      try {
        const plan = await planApply(local, ctx.registry, ctx.targets);
        if (!values.json) console.log(formatPlan(plan));
        if (plan.refused) {
          if (values.json)
            console.log(JSON.stringify({ plan: planJson(plan), applied: [], retired: [] }, null, 2));
          console.error('apply refused; nothing was changed.');
          return 1;
        }
        const result = await applyPlan(
          plan,
          ctx.registry,
          ctx.targets,
          values.json ? undefined : (l) => console.log(l),
        );
        if (values.json) console.log(JSON.stringify({ plan: planJson(plan), ...result }, null, 2));
        else if (result.applied.length + result.retired.length === 0)
          console.log('Nothing to do: already applied.');
        else console.log(`Applied ${result.applied.length}, retired ${result.retired.length}.`);
        return 0;
      } finally {
        await ctx.close();
      }
    }),
};
