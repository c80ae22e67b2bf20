import { readSettings } from '../config/settings.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import type { Command } from './command.ts';
import { syncSummary } from './describe-feature.ts';
import { parseOptions } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry list [--json]

Lists the applied features with owner, type, field count and sync settings.

Options:
  --json   print the list as JSON`;

export const listCommand: Command = {
  name: 'list',
  usage,
  run: (args) =>
    runCommand('list', usage, async () => {
      const { values } = parseOptions(args, { json: { type: 'boolean' } }, false);
      const online = await openOnlineStore(readSettings());
      try {
        const all = await new DefinitionRegistry(online).list();
        const rows = all.map((a) => ({
          name: a.name,
          type: a.definition.featureType,
          owner: a.definition.owner,
          fields: a.definition.fields.length,
          revision: a.revision,
          sync: syncSummary(a.definition),
        }));
        if (values.json) {
          console.log(JSON.stringify(rows, null, 2));
          return 0;
        }
        if (rows.length === 0) {
          console.log('No applied features. Run `ferry apply`.');
          return 0;
        }
        const w = Math.max(...rows.map((r) => r.name.length));
        console.log(`${'FEATURE'.padEnd(w)}  TYPE     OWNER         FIELDS  REV  SYNC`);
        for (const r of rows) {
          console.log(
            `${r.name.padEnd(w)}  ${r.type.padEnd(7)}  ${r.owner.padEnd(12)}  ${String(r.fields).padStart(6)}  ${String(r.revision).padStart(3)}  ${r.sync}`,
          );
        }
        return 0;
      } finally {
        await online.close();
      }
    }),
};
