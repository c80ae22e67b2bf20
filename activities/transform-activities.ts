import { ApplicationFailure, Context } from '@temporalio/activity';
import { TransformError } from '../domain/transforms/transform-error.ts';
import { TransformDefinitionError, type TransformResult } from '../domain/transforms/transform-file.ts';
import type { RunTransformInput } from '../workflow-contract/activities.ts';
import type { ActivityDeps } from './deps.ts';

const transientCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** Whether a failure lies with the connection to the warehouse (worth retrying) rather than the SQL. */
function isTransient(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 5; depth++) {
    const err = c as { code?: unknown; errno?: unknown; cause?: unknown; message?: unknown };
    if (typeof err.code === 'string' && transientCodes.has(err.code)) return true;
    if (typeof err.errno === 'string' && transientCodes.has(err.errno)) return true;
    if (typeof err.code === 'number' && (err.code === 429 || err.code >= 500)) return true;
    if (
      typeof err.message === 'string' &&
      /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up)\b/.test(err.message)
    )
      return true;
    c = err.cause;
  }
  return false;
}

export function createTransformActivities(deps: ActivityDeps) {
  /**
   * Runs a SQL transform into its destination. A warehouse rejection (SQL error, missing table)
   * fails for good with the warehouse's message, file and line; a lost connection is retried.
   */
  async function runTransform(input: RunTransformInput): Promise<TransformResult> {
    const ctx = Context.current();
    const ticker = setInterval(() => ctx.heartbeat(), 5_000);
    try {
      return await deps.offline.runTransform(input.transform, {
        logicalDate: input.logicalDate,
        ...(input.windowStartMs !== undefined ? { windowStart: input.windowStartMs } : {}),
        ...(input.windowEndMs !== undefined ? { windowEnd: input.windowEndMs } : {}),
      });
    } catch (e) {
      if (e instanceof TransformDefinitionError) {
        throw ApplicationFailure.nonRetryable(e.message, 'TransformDefinitionError', {
          file: e.file,
          line: e.line,
        });
      }
      if (e instanceof TransformError && !isTransient(e.cause)) {
        throw ApplicationFailure.nonRetryable(e.message, 'TransformError', {
          transform: e.transform,
          file: e.file,
          line: e.line ?? null,
          column: e.column ?? null,
          warehouseMessage: e.warehouseMessage,
        });
      }
      if (e instanceof Error && /^(logical date|window (start|end))/.test(e.message)) {
        throw ApplicationFailure.nonRetryable(e.message, 'TransformDefinitionError');
      }
      throw e;
    } finally {
      clearInterval(ticker);
    }
  }
  return { runTransform };
}
