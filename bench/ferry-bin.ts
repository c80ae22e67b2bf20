import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../config/module-files.ts';

// `ferry` as the benchmarks start it: bin/ferry.js itself (its #! line starts Node with Ferry's
// flags and runs the compiled dist/), settings in its environment.

export const ferryBin = path.join(projectRoot, 'bin', 'ferry.js');

/** This process's environment with `env` over it, and this Node first on PATH (for bin/ferry.js's #!). */
export function ferryChildEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    ...process.env,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    ...env,
  };
}

/** Runs `ferry <args>` with `env` in `cwd`; throws with its output when it fails. */
export async function runFerryCli(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(ferryBin, args, {
      env: ferryChildEnv(env),
      cwd,
      maxBuffer: 64 * 2 ** 20,
    });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`ferry ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`);
  }
}
