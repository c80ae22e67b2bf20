import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Settings } from '../config/settings.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import { CommandConsumer, type CommandConsumerStats } from '../streaming/commands/command-consumer.ts';
import { deadLetterTopicOf, kafkaBrokersOf } from '../streaming/commands/command-kafka.ts';
import type { FeatureResolver } from '../streaming/commands/command-processor.ts';
import type { ConsumerStatsBoard } from '../streaming/commands/consumer-stats-board.ts';
import { RegistryFeatureResolver } from '../streaming/commands/feature-resolver.ts';
import type { CommandConsumerInput, CommandConsumerResult } from '../workflow-contract/activities.ts';
import { defaultCommandGroup } from '../workflow-contract/command-consumer-ids.ts';

export interface CommandConsumerActivityDeps {
  online: OnlineStore;
  offline: OfflineStore;
  settings: Settings;
  /** Where the consumer's counters go (the worker's /metrics). */
  consumerStats?: ConsumerStatsBoard;
  /** Default: the registry of applied definitions in the online store. */
  resolver?: FeatureResolver;
}

export { defaultCommandGroup };

/** The consumer activity with its stores injected (the worker opens them once). */
export function createCommandConsumerActivities(deps: CommandConsumerActivityDeps) {
  return {
    /**
     * Runs the command consumer until cancelled or `maxRunMs` passes, heartbeating its
     * progress. A cancellation (workflow cancelled, worker shutting down) stops it cleanly and
     * ends the activity as cancelled; a crash of the Kafka client fails it (Temporal retries).
     */
    async runCommandConsumer(input: CommandConsumerInput = {}): Promise<CommandConsumerResult> {
      const ctx = Context.current();
      const topic = input.topic ?? deps.settings.kafkaCommandsTopic;
      const groupId = input.groupId ?? defaultCommandGroup;
      const resolver =
        deps.resolver ??
        new RegistryFeatureResolver(new DefinitionRegistry(deps.online), input.catalogRefreshMs);
      const consumer = new CommandConsumer(
        { online: deps.online, offline: deps.offline, resolver },
        {
          brokers: kafkaBrokersOf(deps.settings),
          topic,
          groupId,
          deadLetterTopic: input.deadLetterTopic ?? deadLetterTopicOf(topic),
          ...(input.events ? { events: true } : {}),
          clientId: `ferry-worker-${process.pid}`,
          sessionTimeoutMs: input.sessionTimeoutMs,
          partitionsConsumedConcurrently: input.partitionsConsumedConcurrently,
          downsync: input.downsync,
          downsyncIdleMs: input.downsync?.idleMs,
          log: (level, message) =>
            level === 'error'
              ? ctx.log.error(message)
              : level === 'warn'
                ? ctx.log.warn(message)
                : ctx.log.info(message),
        },
      );
      const stop = new AbortController();
      let stoppedBy: CommandConsumerResult['stoppedBy'] = 'cancel';
      const onCancel = () => stop.abort();
      ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
      const maxRun = setTimeout(
        () => {
          stoppedBy = 'max-run';
          stop.abort();
        },
        input.maxRunMs ?? 6 * 3_600_000,
      );
      const every = input.heartbeatEveryMs ?? 2_000;
      let lastBeat = 0;
      const beat = (stats?: CommandConsumerStats) => {
        const now = Date.now();
        if (now - lastBeat < every) return;
        lastBeat = now;
        ctx.heartbeat(
          stats
            ? {
                received: stats.received,
                applied: stats.applied,
                rejected: stats.rejected,
                downsyncWritten: stats.downsync.written,
                rebalances: stats.rebalances,
                committed: stats.committed,
                ...(Object.keys(stats.events).length > 0 ? { events: stats.events } : {}),
              }
            : undefined,
        );
      };
      // heartbeats also while connecting (before the first progress report)
      const beating = setInterval(() => beat(), every);
      beat();
      const counters = deps.consumerStats?.track(topic);
      try {
        const stats = await consumer.run(stop.signal, {
          onProgress: (s) => {
            counters?.update(s);
            beat(s);
          },
        });
        counters?.update(stats);
        if (stoppedBy === 'cancel' && ctx.cancellationSignal.aborted) {
          const reason = ctx.cancellationSignal.reason;
          const message = reason instanceof Error ? reason.message : String(reason ?? 'cancelled');
          // a worker that shuts down: the consumer stopped cleanly; start it again elsewhere now
          // (a retryable failure) instead of waiting for the heartbeat timeout
          if (message === 'WORKER_SHUTDOWN')
            throw ApplicationFailure.retryable(
              'the worker shut down; the consumer stopped cleanly',
              'WorkerShutdown',
            );
          throw reason instanceof CancelledFailure ? reason : new CancelledFailure(message);
        }
        return { stoppedBy, stats };
      } finally {
        counters?.finish();
        clearInterval(beating);
        clearTimeout(maxRun);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },
  };
}

export type CommandConsumerActivities = ReturnType<typeof createCommandConsumerActivities>;
