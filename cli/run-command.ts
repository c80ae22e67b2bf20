import { UsageError } from './parse-options.ts';

/** Runs a command body, turning usage errors into exit code 2 and failures into 1 with a message. */
export async function runCommand(name: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`ferry ${name}: ${e.message}\n\n${usage}`);
      return 2;
    }
    console.error(`ferry ${name}: ${(e as Error).message}`);
    return 1;
  }
}
