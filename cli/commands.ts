import type { Command } from './command.ts';

/** Every `ferry` subcommand, in the order `ferry --help` lists them. */
export const commands: readonly Command[] = [];
