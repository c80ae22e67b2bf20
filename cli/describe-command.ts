import { readSettings } from '../config/settings.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import type { Command } from './command.ts';
import { describeFeature } from './describe-feature.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry describe <feature> [--json]

Shows an applied feature as the registry holds it: type, revision and schema
fingerprint, owner, fields with types and defaults, sync settings, retention, access.

Options:
  --json   print the registry entry as JSON`;

export const describeCommand: Command = {
  name: 'describe',
  usage,
  run: (args) =>
    runCommand('describe', usage, async () => {
      const { values, positionals } = parseOptions(args, { json: { type: 'boolean' } });
      if (positionals.length !== 1) throw new UsageError('name exactly one feature');
      const name = positionals[0]!;
      const online = await openOnlineStore(readSettings());
      try {
        const applied = await new DefinitionRegistry(online).get(name);
        if (!applied || applied.retiredAtMs !== undefined) {
          console.error(
            `ferry describe: no applied feature "${name}" (run \`ferry list\`, or \`ferry apply\` first)`,
          );
          return 1;
        }
        console.log(values.json ? JSON.stringify(applied, null, 2) : describeFeature(applied));
        return 0;
      } finally {
        await online.close();
      }
    }),
};
