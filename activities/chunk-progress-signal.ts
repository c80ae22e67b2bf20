import type { Context } from '@temporalio/activity';
import { chunkProgressSignalName } from '../workflow-contract/ids.ts';
import type { ChunkProgress } from '../workflow-contract/types.ts';

/** How often a chunk tells its workflow its progress (a signal: a few history events each). */
const reportEveryMs = 2_000;

/**
 * Live progress of a sync chunk for its workflow's `progress` query: `report()` signals the
 * workflow the chunk's counts so far, at most every 2 s (no-op without a workflow or a client).
 */
export function chunkProgressSignal(ctx: Context, progress: () => ChunkProgress): () => void {
  const execution = ctx.info.workflowExecution;
  let lastReport = 0;
  return () => {
    const t = Date.now();
    if (!execution || t - lastReport < reportEveryMs) return;
    lastReport = t;
    let client: typeof ctx.client;
    try {
      client = ctx.client;
    } catch {
      return; // no client (a test environment)
    }
    client.workflow
      .getHandle(execution.workflowId, execution.runId)
      .signal(chunkProgressSignalName, progress())
      .catch(() => undefined);
  };
}
