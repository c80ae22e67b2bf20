// Entry of a reader worker thread: worker threads do not inherit the TypeScript loader that
// the main thread may have registered programmatically (bin/ferry.js), so register it here.
import { register } from 'tsx/esm/api';

register();
await import('./reader-worker.ts');
