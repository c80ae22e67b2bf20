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
    name: 'worker',
    summary: 'run a Temporal worker: upsync, backfill, retention, replay and command consumers',
    load: async () => (await import('./worker-command.ts')).workerCommand,
  },
  {
    name: 'upsync',
    summary: 'copy a feature from the offline store to the online store (--wait shows progress)',
    load: async () => (await import('./upsync-command.ts')).upsyncCommand,
  },
  {
    name: 'backfill',
    summary: 're-sync a time range of a feature in bounded chunks',
    load: async () => (await import('./backfill-command.ts')).backfillCommand,
  },
  {
    name: 'replay',
    summary: 're-validate and re-apply the dead letters of a feature',
    load: async () => (await import('./replay-command.ts')).replayCommand,
  },
  {
    name: 'send',
    summary: 'publish one feature command to Kafka, for testing by hand',
    load: async () => (await import('./send-command.ts')).sendCommand,
  },
  {
    name: 'downsync',
    summary: 'start or stop the Kafka command consumer (applies commands, writes sampled offline copies)',
    load: async () => (await import('./downsync-command.ts')).downsyncCommand,
  },
  {
    name: 'events',
    summary: "try a feature's from_events rules on a sample event (what they would write)",
    load: async () => (await import('./events-command.ts')).eventsCommand,
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
