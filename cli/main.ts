import type { CommandEntry } from './command.ts';
import { commands } from './commands.ts';

function overview(all: readonly CommandEntry[]): string {
  const width = Math.max(...all.map((c) => c.name.length));
  return [
    'ferry: a feature store for real-time recommender systems',
    '',
    'Usage: ferry <command> [options]',
    '',
    'Commands:',
    ...all.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `ferry <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(overview(commands));
    return name === undefined ? 1 : 0;
  }
  if (name === '--version') {
    console.log('ferry 0.1.0');
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    console.error(`ferry: unknown command '${name}'. Run \`ferry --help\` for the list.`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  return command.run(rest);
}
