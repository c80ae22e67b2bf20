// retentionWorkflow: the daily clean-up of both stores and of dead letters.
import { ApplicationFailure, proxyActivities, setHandler } from '@temporalio/workflow';
import type { FerryActivities } from '../workflow-contract/activities.ts';
import { storeRetry } from '../workflow-contract/retry.ts';
import type { RetentionFeatureResult, RetentionInput, RetentionResult } from '../workflow-contract/types.ts';
import { rootMessage } from './failure.ts';
import { retentionProgressQuery } from './queries.ts';

const { listRetentionTargets, applyRetention, purgeDeadLetters } = proxyActivities<FerryActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { ...storeRetry, maximumAttempts: 5 },
});

export const defaultDeadLetterRetentionMs = 30 * 86_400_000;

/**
 * For each applied feature with a retention: deletes its offline rows older than
 * `retention.offline` and sweeps online values past `retention.online` that the store does not
 * expire by itself; then deletes dead letters older than `deadLetterRetentionMs` (30 days by default).
 * One feature failing does not stop the others; the workflow fails at the end naming it.
 */
export async function retentionWorkflow(input: RetentionInput = {}): Promise<RetentionResult> {
  const nowMs = Date.now();
  const cutoff = nowMs - (input.deadLetterRetentionMs ?? defaultDeadLetterRetentionMs);
  const result: RetentionResult = { features: [], deadLettersDeleted: 0, deadLetterCutoffMs: cutoff };
  setHandler(retentionProgressQuery, () => result);
  for (const target of await listRetentionTargets()) {
    let r: RetentionFeatureResult;
    try {
      r = await applyRetention({ feature: target.feature, nowMs });
    } catch (e) {
      r = { feature: target.feature, offlineRowsDeleted: 0, onlineValuesSwept: 0, error: rootMessage(e) };
    }
    result.features.push(r);
  }
  let deadLetterError: string | undefined;
  try {
    result.deadLettersDeleted = await purgeDeadLetters({ cutoffMs: cutoff });
  } catch (e) {
    deadLetterError = rootMessage(e);
  }
  const failed = result.features.filter((f) => f.error);
  if (failed.length > 0 || deadLetterError) {
    throw ApplicationFailure.create({
      message: [
        ...failed.map((f) => `retention of ${f.feature} failed: ${f.error}`),
        ...(deadLetterError ? [`dead-letter retention failed: ${deadLetterError}`] : []),
      ].join('\n'),
      type: 'RetentionFailed',
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}
