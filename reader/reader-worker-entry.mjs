// Entry of a reader worker thread when the reader runs from the TypeScript sources (the tests):
// a worker thread does not inherit the loader of the main thread, so register tsx here. The
// compiled reader (dist/) starts reader-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./reader-worker.ts');
