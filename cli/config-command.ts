import { type SettingSpec, settingSpecs } from '../config/settings.ts';
import type { Command } from './command.ts';
import { parseOptions } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry config [--json]

Prints every setting, the environment variable that sets it, and the value in force.

Options:
  --json   print {setting: value} as JSON`;

const secrets = new Set(['FERRY_CASSANDRA_PASSWORD']);

export const configCommand: Command = {
  name: 'config',
  usage,
  run: (args) =>
    runCommand('config', usage, async () => {
      const { values } = parseOptions(args, { json: { type: 'boolean' } }, false);
      const specs: [string, SettingSpec][] = [...Object.entries(settingSpecs)];
      const inForce = specs.map(([name, spec]) => {
        const value = process.env[spec.env] ?? spec.default;
        return { name, env: spec.env, value: secrets.has(spec.env) && value !== '' ? '(set)' : value };
      });
      if (values.json) {
        console.log(JSON.stringify(Object.fromEntries(inForce.map((s) => [s.name, s.value])), null, 2));
        return 0;
      }
      for (const s of inForce) console.log(`${s.env.padEnd(40)} ${s.value || '(empty)'}`);
      return 0;
    }),
};
