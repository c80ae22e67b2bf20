#!/usr/bin/env node
// Entry point of the `ferry` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

// `ferry list | head` closes the pipe early: that is not an error
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
