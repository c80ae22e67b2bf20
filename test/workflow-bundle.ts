import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowsPath } from '../cli/worker-command.ts';

let bundle: Promise<string> | undefined;

/**
 * The production workflow bundle (workflows/index.ts, what `ferry worker` bundles), built once per
 * test file into a temporary file: pass it to `ferry worker --workflow-bundle` or to a test worker.
 */
export function productionWorkflowBundle(): Promise<string> {
  bundle ??= (async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ferry-wf-')), 'workflows.js');
    await writeFile(file, code);
    return file;
  })();
  return bundle;
}
