/** One `ferry` subcommand: its name, its full help, and what it does. */
export interface Command {
  name: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

/** An entry of the command list: loaded only when run, so `ferry validate` does not load database drivers. */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}
