/** One `ferry` subcommand: its name, a one-line summary, its full help, and what it does. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}
