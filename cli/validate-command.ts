import path from 'node:path';
import { readSettings } from '../config/settings.ts';
import { formatDefinitionError } from '../domain/definitions/definition-error.ts';
import { listTransforms, loadDefinitions } from '../domain/definitions/load-definitions.ts';
import type { Command } from './command.ts';
import { parseOptions } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry validate [paths...] [--json]

Checks feature definitions (default: the features/ folder) without touching any store:
the YAML shape, field types and defaults, key fields, durations, cron schedules,
transforms named by upsync, and names unique across files. Reports every problem
with file:line:column and exits 1 when there is any; what a GitOps repository runs in CI.

Options:
  --json        print {"ok", "features", "errors"} as JSON
  --sql <dir>   folder of SQL transforms (default: $FERRY_SQL_DIR or sql)`;

export const validateCommand: Command = {
  name: 'validate',
  usage,
  run: (args) =>
    runCommand('validate', usage, async () => {
      const settings = readSettings();
      const { values, positionals } = parseOptions(args, {
        json: { type: 'boolean' },
        sql: { type: 'string' },
      });
      const paths = positionals.length > 0 ? positionals : [settings.featuresDir];
      const transforms = await listTransforms(path.resolve(values.sql ?? settings.sqlDir));
      const { definitions, errors } = await loadDefinitions(paths, { transforms });
      if (values.json) {
        console.log(
          JSON.stringify(
            { ok: errors.length === 0, features: definitions.map((d) => d.name), errors },
            null,
            2,
          ),
        );
      } else if (errors.length > 0) {
        for (const e of errors) console.error(formatDefinitionError(e));
        console.error(`\n${errors.length} problem(s); ${definitions.length} feature(s) valid`);
      } else {
        console.log(`${definitions.length} feature(s) valid in ${paths.join(', ')}`);
      }
      return errors.length === 0 ? 0 : 1;
    }),
};
