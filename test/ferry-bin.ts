import path from 'node:path';
import { projectRoot } from '../config/module-files.ts';

// `ferry` as users run it: bin/ferry.js executed itself (its #! line starts Node with the flags
// Ferry needs), the compiled code in dist/ (test/build-dist.ts builds it before the tests).

export { projectRoot as root } from '../config/module-files.ts';
export const ferryBin = path.join(projectRoot, 'bin/ferry.js');

/** An environment for a ferry child: `env` (default: this process's), with this Node first on PATH. */
export function ferryEnv(
  env: Record<string, string | undefined> = process.env,
): Record<string, string | undefined> {
  return {
    ...env,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${env.PATH ?? process.env.PATH ?? ''}`,
  };
}
