import path from 'node:path';

// `ferry` as users run it: bin/ferry.js executed itself (its #! line starts Node with the flags
// Ferry needs), the compiled code in dist/ (test/build-dist.ts builds it before the tests).

export const root = path.resolve(import.meta.dirname, '..');
export const ferryBin = path.join(root, 'bin/ferry.js');

/** An environment for a ferry child: `env` (default: this process's), with this Node first on PATH. */
export function ferryEnv(
  env: Record<string, string | undefined> = process.env,
): Record<string, string | undefined> {
  return {
    ...env,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${env.PATH ?? process.env.PATH ?? ''}`,
  };
}
