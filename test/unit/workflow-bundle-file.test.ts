import { statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prebuiltWorkflowBundle, workflowBundleFile } from '../../cli/workflow-bundle-file.ts';
import { projectRoot } from '../../config/module-files.ts';

// `ferry worker` loads the workflow bundle the build wrote (dist/workflows.bundle.js) instead of
// running webpack at start; the tests' global setup builds it as npm run build does.

describe('the prebuilt workflow bundle', () => {
  const compiledCaller = new URL('file:///work/dist/cli/worker-command.js').href;

  it('is what compiled code loads after a build, and never what the sources load', () => {
    expect(statSync(workflowBundleFile).size).toBeGreaterThan(100_000);
    expect(prebuiltWorkflowBundle(compiledCaller)).toBe(workflowBundleFile);
    expect(prebuiltWorkflowBundle(import.meta.url)).toBeUndefined();
  });

  it('is not loaded once it is older than the last compile (the worker bundles at start instead)', () => {
    const info = path.join(projectRoot, 'dist', '.tsbuildinfo');
    const { atime, mtime } = statSync(workflowBundleFile);
    try {
      utimesSync(workflowBundleFile, atime, new Date(statSync(info).mtimeMs - 60_000));
      expect(prebuiltWorkflowBundle(compiledCaller)).toBeUndefined();
    } finally {
      utimesSync(workflowBundleFile, atime, mtime);
    }
  });
});
