import { statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot, runsFromSources } from '../config/module-files.ts';

// The workflow bundle `npm run build` writes beside the compiled code (dist/workflows.bundle.js),
// so that `ferry worker` and `ferry start` load it instead of running webpack at every start:
// bundling at start left ~70 MB of webpack's memory in the worker for its whole life (a worker
// idle at 282 MB resident against 211 MB with the bundle built beforehand).

/** Where the build writes the bundle. */
export const workflowBundleFile = path.join(projectRoot, 'dist', 'workflows.bundle.js');

/**
 * The prebuilt bundle, when this code runs compiled and the bundle is at least as new as the
 * last compile (dist/.tsbuildinfo); otherwise undefined (bundle the workflows now).
 */
export function prebuiltWorkflowBundle(importMetaUrl: string = import.meta.url): string | undefined {
  if (runsFromSources(importMetaUrl)) return undefined;
  try {
    const bundle = statSync(workflowBundleFile).mtimeMs;
    const compiled = statSync(path.join(projectRoot, 'dist', '.tsbuildinfo')).mtimeMs;
    return bundle >= compiled ? workflowBundleFile : undefined;
  } catch {
    return undefined;
  }
}
