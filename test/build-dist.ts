import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { rules } from '../scripts/check-imports.ts';
import { root } from './ferry-bin.ts';

// Vitest global setup: the tests start `ferry` (bin/ferry.js), which runs the compiled dist/.
// Rebuild it (npm run build: tsc, incremental, then the workflow bundle) when a source is newer than the last build, so that a
// test never runs yesterday's code. A compile error fails the run with tsc's output.

/** What tsconfig.build.json compiles: every folder with import rules but scripts/ (run by tsx). */
const compiled = Object.keys(rules).filter((folder) => folder !== 'scripts');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function lastBuild(): number {
  try {
    return statSync(path.join(root, 'dist/.tsbuildinfo')).mtimeMs;
  } catch {
    return 0;
  }
}

export default function buildDist(): void {
  const newest = Math.max(
    statSync(path.join(root, 'tsconfig.build.json')).mtimeMs,
    ...compiled.map((d) => newestSource(path.join(root, d))),
  );
  if (newest <= lastBuild()) return;
  try {
    execFileSync(
      process.execPath,
      [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: root,
        stdio: 'pipe',
      },
    );
    // tsc leaves the build info alone when no output changed (a source only touched)
    const now = new Date();
    utimesSync(path.join(root, 'dist/.tsbuildinfo'), now, now);
    // then the workflow bundle `ferry worker` loads, as npm run build makes it
    execFileSync(process.execPath, [path.join(root, 'dist/cli/build-workflow-bundle.js')], {
      cwd: root,
      stdio: 'pipe',
    });
  } catch (e) {
    const out = (e as { stdout?: Buffer }).stdout?.toString() ?? String(e);
    throw new Error(`npm run build failed; the tests run the compiled dist/:\n${out}`);
  }
}
