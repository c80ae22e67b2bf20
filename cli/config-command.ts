import { readSettings, type SettingName, settingSpecs } from '../core/config/settings.ts';
import type { Command } from './command.ts';
import { parseOptions } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry config [--json]

Prints every setting, the environment variable that sets it, and the value in force.

Options:
  --json   print {setting: value} as JSON`;

export const configCommand: Command = {
  name: 'config',
  usage,
  run: (args) =>
    runCommand('config', usage, async () => {
      const { values } = parseOptions(args, { json: { type: 'boolean' } }, false);
      const settings = readSettings();
      if (values.json) {
        console.log(JSON.stringify(settings, null, 2));
        return 0;
      }
      for (const name of Object.keys(settingSpecs) as SettingName[]) {
        const secret = name === 'cassandraPassword' && settings[name] !== '';
        console.log(`${settingSpecs[name].env.padEnd(32)} ${secret ? '(set)' : settings[name] || '(empty)'}`);
      }
      return 0;
    }),
};
