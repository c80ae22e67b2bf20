import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowsPath } from './worker-command.ts';
import { workflowBundleFile } from './workflow-bundle-file.ts';

// `npm run build`, after tsc: bundles the compiled workflows (dist/workflows/index.js) into
// dist/workflows.bundle.js, which `ferry worker` and `ferry start` load (workflow-bundle-file.ts).

const { code } = await bundleWorkflowCode({
  workflowsPath,
  logger: new DefaultLogger('WARN'),
});
writeFileSync(workflowBundleFile, code);
