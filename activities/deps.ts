import type { Settings } from '../config/settings.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import type { ConsumerStatsBoard } from '../streaming/commands/consumer-stats-board.ts';

/**
 * What the activities use, injected by the worker (cli/worker-command.ts) and by tests, which pass
 * real embedded stores. Activities open nothing themselves.
 */
export interface ActivityDeps {
  online: OnlineStore;
  offline: OfflineStore;
  settings: Settings;
  /** The clock (retention cut-offs, dead-letter times); tests may fix it. */
  now?: () => number;
  /**
   * How an upsync's rate limit (`max_rows_per_second`) tells time and waits (default
   * performance.now and the activity's cancellable sleep); tests step a fake clock instead.
   */
  rateLimitClock?: { now(): number; sleep(ms: number): Promise<void> };
  /** Where command and event consumers report their counters (the worker's /metrics). */
  consumerStats?: ConsumerStatsBoard;
}

export { nonRetryableErrorTypes } from '../workflow-contract/retry.ts';
