import { ActivityCancellationType, continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CommandConsumerInput, FerryActivities } from '../workflow-contract/activities.ts';

export interface CommandConsumerWorkflowInput extends CommandConsumerInput {
  /** The server retries the activity when no heartbeat came for this long (default 30 s). */
  heartbeatTimeout?: string;
  /** Longest wait between restarts of a failing consumer (default 30 s). */
  maxRetryInterval?: string;
}

/**
 * Keeps one command consumer running: the long-running activity consumes the commands topic
 * and heartbeats; when its worker dies the heartbeat timeout expires and the server starts it
 * again (on any worker of the task queue), without limit. The activity returns after its maximum
 * run time and is started afresh; the history is renewed with continue-as-new. Cancelling the
 * workflow cancels the activity and waits for its clean stop.
 */
export async function commandConsumerWorkflow(input: CommandConsumerWorkflowInput = {}): Promise<void> {
  const { runCommandConsumer } = proxyActivities<FerryActivities>({
    // the run itself is bounded by maxRunMs (default 6 h); this is only a backstop
    startToCloseTimeout: '1 day',
    heartbeatTimeout: input.heartbeatTimeout ?? '30 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: input.maxRetryInterval ?? '30 seconds',
      // no maximumAttempts: unlimited
    },
  });
  const { heartbeatTimeout: _h, maxRetryInterval: _m, ...activityInput } = input;
  for (let run = 0; run < 50; run++) {
    await runCommandConsumer(activityInput);
    if (workflowInfo().continueAsNewSuggested) break;
  }
  await continueAsNew<typeof commandConsumerWorkflow>(input);
}
