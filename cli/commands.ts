import type { CommandEntry } from './command.ts';

/** Every `ferry` subcommand, in the order `ferry --help` lists them. */
export const commands: readonly CommandEntry[] = [
  {
    name: 'start',
    summary: 'run Ferry on its embedded default with sample features, data and a Temporal dev server',
    load: async () => (await import('./start-command.ts')).startCommand,
  },
  {
    name: 'validate',
    summary: 'check feature definitions and report every problem with its location',
    load: async () => (await import('./validate-command.ts')).validateCommand,
  },
  {
    name: 'plan',
    summary: 'show what apply would change, field by field',
    load: async () => (await import('./plan-command.ts')).planCommand,
  },
  {
    name: 'apply',
    summary: 'create tables, topics and schedules and record the definitions',
    load: async () => (await import('./apply-command.ts')).applyCommand,
  },
  {
    name: 'transform',
    summary: 'run a SQL transform from sql/ by hand and print rows written',
    load: async () => (await import('./transform-command.ts')).transformCommand,
  },
  {
    name: 'list',
    summary: 'list applied features with owner, type and sync settings',
    load: async () => (await import('./list-command.ts')).listCommand,
  },
  {
    name: 'describe',
    summary: 'show one applied feature: fields, sync settings, access',
    load: async () => (await import('./describe-command.ts')).describeCommand,
  },
  {
    name: 'serve',
    summary: 'run the read API (lookups, push, health, metrics) on uWebSockets.js',
    load: async () => (await import('./serve-command.ts')).serveCommand,
  },
  {
    name: 'config',
    summary: 'print every setting, its environment variable and value',
    load: async () => (await import('./config-command.ts')).configCommand,
  },
];
