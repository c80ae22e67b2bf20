#!/usr/bin/env -S node --expose-gc
// Entry point of the `ferry` command: runs the compiled JavaScript in dist/ (`npm run build`,
// which `npm install` runs). --expose-gc lets a worker keep its heap near
// FERRY_WORKER_HEAP_SOFT_LIMIT_MB during bulk copies (activities/heap-soft-limit.ts).
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(
    `ferry: Node ${process.versions.node} is too old; Ferry needs Node 22.12 or later (README: Install)`,
  );
  process.exit(1);
}

// `ferry list | head` closes the pipe early: that is not an error
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('ferry: dist/ is missing; build it first: npm run build (npm install does it)');
  process.exit(1);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
