import path from 'node:path';
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
