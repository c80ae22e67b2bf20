import { fileURLToPath } from 'node:url';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { heapSoftLimitActive } from '../activities/heap-soft-limit.ts';
import { createActivities } from '../activities/index.ts';
import { siblingModule } from '../config/module-files.ts';
import { readSettings, type Settings } from '../config/settings.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { ConsumerStatsBoard } from '../streaming/commands/consumer-stats-board.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import { serveWorkerMetrics } from './worker-metrics-server.ts';
import { prebuiltWorkflowBundle } from './workflow-bundle-file.ts';

const usage = `Usage: ferry worker [--task-queue <name>] [--workflow-bundle <file>]
                    [--max-activities <n>] [--log-level <level>]

Runs Ferry's Temporal worker: the upsync, backfill, transform-and-upsync, scheduled upsync,
retention, dead-letter replay and Kafka command consumer workflows and their activities
(every workflow that \`ferry upsync\`, \`backfill\`, \`replay\`, \`downsync start\` and the
Schedules start). It connects to FERRY_TEMPORAL_ADDRESS (namespace FERRY_TEMPORAL_NAMESPACE),
opens the configured online and offline stores, and polls FERRY_TEMPORAL_TASK_QUEUE until
SIGINT or SIGTERM; then it stops taking work, lets running activities finish their current
page (up to 20 s; their position is saved per page, so anything cut off resumes on another
worker), stops a running command consumer after its batch (its offsets committed; Temporal
starts it again on another worker), closes the stores and exits.

With FERRY_WORKER_METRICS_PORT set, it serves GET /metrics (Prometheus): the command and event
consumers' counters, events by feature and rule (mapped, failed, skipped).

Run it from the project folder (or set FERRY_SQL_DIR): transforms are read from sql/.
Memory: an upsync's live heap stays near 40 MB, but V8 lets the garbage of copied rows
grow the heap by a few hundred MB before it collects; NODE_OPTIONS=--max-old-space-size=128
keeps the process small at little cost (BENCHMARKS.md, "Upsync").
With the embedded DuckDB offline store, the worker holds the DuckDB file: run transforms
through the worker (workflows), not with \`ferry transform run\`, while it is up.

Options:
  --task-queue <name>       task queue (default: $FERRY_TEMPORAL_TASK_QUEUE or ferry)
  --workflow-bundle <file>  a workflow bundle built beforehand (bundleWorkflowCode), instead of
                            the one npm run build writes (dist/workflows.bundle.js; when it
                            is missing or older than the build, workflows/ is bundled at
                            start: a few seconds, and ~70 MB the worker keeps)
  --max-activities <n>      activities run at once (default 16): each command or event consumer
                            holds one while it runs (one per topic), upsyncs, backfills and
                            replays share the rest
  --log-level <level>       SDK log level: ERROR, WARN, INFO, DEBUG (default WARN)`;

/** The folder of workflow code the worker bundles. */
export const workflowsPath = fileURLToPath(siblingModule(import.meta.url, '../workflows/index'));

export interface FerryWorkerOptions {
  connection: NativeConnection;
  settings: Settings;
  online: OnlineStore;
  offline: OfflineStore;
  taskQueue?: string;
  /** Path of a bundle made with bundleWorkflowCode (default: the build's, else bundle workflows/ now). */
  workflowBundlePath?: string;
  /** Or the bundle's code itself (tests bundle once per file). */
  workflowBundleCode?: string;
  maxConcurrentActivities?: number;
  /** Where the command and event consumers report their counters (the worker's /metrics). */
  consumerStats?: ConsumerStatsBoard;
}

/** Creates (does not run) a worker with Ferry's workflows and activities bound to the given stores. */
export async function createFerryWorker(options: FerryWorkerOptions): Promise<Worker> {
  const { Worker } = await import('@temporalio/worker');
  const prebuiltBundle = prebuiltWorkflowBundle();
  const bundle = options.workflowBundleCode
    ? { workflowBundle: { code: options.workflowBundleCode } }
    : options.workflowBundlePath
      ? { workflowBundle: { codePath: options.workflowBundlePath } }
      : prebuiltBundle !== undefined
        ? { workflowBundle: { codePath: prebuiltBundle } }
        : { workflowsPath };
  return Worker.create({
    connection: options.connection,
    namespace: options.settings.temporalNamespace,
    taskQueue: options.taskQueue ?? options.settings.temporalTaskQueue,
    ...bundle,
    activities: createActivities({
      online: options.online,
      offline: options.offline,
      settings: options.settings,
      ...(options.consumerStats ? { consumerStats: options.consumerStats } : {}),
    }),
    // a consumer (one per command or event topic) holds its slot for as long as it runs: four
    // topics used to leave no slot for a replay or an upsync
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 16,
    shutdownGraceTime: '20 seconds',
  });
}

const logLevels = ['ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE'] as const;
const closeTimeoutMs = 10_000;

/** Closes a store or connection, giving up (with a message) after `ms`. */
async function closeWithin(r: { close(): Promise<void>; kind?: string }, ms: number): Promise<void> {
  const name = r.kind ? `the ${r.kind} store` : 'the Temporal connection';
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    r.close().then(
      () => 'closed',
      (e: unknown) => `failed: ${(e as Error).message}`,
    ),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`did not close within ${ms / 1000} s`), ms);
    }),
  ]);
  clearTimeout(timer);
  if (outcome !== 'closed') console.error(`ferry worker: ${name} ${outcome}`);
}

export const workerCommand: Command = {
  name: 'worker',
  usage,
  run: (args) =>
    runCommand('worker', usage, async () => {
      const { values } = parseOptions(
        args,
        {
          'task-queue': { type: 'string' },
          'workflow-bundle': { type: 'string' },
          'max-activities': { type: 'string' },
          'log-level': { type: 'string' },
        },
        false,
      );
      const level = (values['log-level'] ?? 'WARN').toUpperCase();
      if (!(logLevels as readonly string[]).includes(level)) {
        throw new UsageError(
          `--log-level must be one of ${logLevels.join(', ')}, got "${values['log-level']}"`,
        );
      }
      const maxText = values['max-activities'];
      const max = maxText === undefined ? undefined : Number(maxText);
      if (max !== undefined && !(Number.isSafeInteger(max) && max >= 1)) {
        throw new UsageError(`--max-activities: expected an integer ≥ 1, got "${maxText}"`);
      }
      const settings = readSettings();
      const taskQueue = values['task-queue'] ?? settings.temporalTaskQueue;
      const { DefaultLogger, NativeConnection, Runtime } = await import('@temporalio/worker');
      Runtime.install({ logger: new DefaultLogger(level as (typeof logLevels)[number]) });

      // stop as soon as asked, even while still starting
      let stopSignal: NodeJS.Signals | undefined;
      let stop: (() => void) | undefined;
      const onSignal = (s: NodeJS.Signals) => {
        stopSignal ??= s;
        stop?.();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const opened: { close(): Promise<void>; kind?: string }[] = [];
      try {
        const online = await openOnlineStore(settings);
        opened.push(online);
        const offline = await openOfflineStore(settings);
        opened.push(offline);
        const connection = await NativeConnection.connect({ address: settings.temporalAddress });
        opened.push(connection);
        const consumerStats = new ConsumerStatsBoard();
        if (settings.workerMetricsPort > 0) {
          const metrics = await serveWorkerMetrics(
            consumerStats,
            settings.workerMetricsHost,
            settings.workerMetricsPort,
          );
          opened.push(metrics);
          console.log(`ferry worker: metrics on ${metrics.url}`);
        }
        const worker = await createFerryWorker({
          connection,
          settings,
          online,
          offline,
          taskQueue,
          consumerStats,
          ...(values['workflow-bundle'] ? { workflowBundlePath: values['workflow-bundle'] } : {}),
          ...(max !== undefined ? { maxConcurrentActivities: max } : {}),
        });
        if (stopSignal) return 0;
        stop = () => {
          if (worker.getState() === 'RUNNING') worker.shutdown();
        };
        const running = worker.run();
        if (settings.workerHeapSoftLimitMb > 0 && !heapSoftLimitActive())
          console.error(
            'ferry worker: Node was started without --expose-gc, so the heap soft limit ' +
              '(FERRY_WORKER_HEAP_SOFT_LIMIT_MB) is off; run bin/ferry.js itself, or node --expose-gc',
          );
        console.log(
          `ferry worker: polling task queue ${taskQueue} on ${settings.temporalAddress} ` +
            `(namespace ${settings.temporalNamespace}; ${online.kind} online store, ${offline.kind} offline store)`,
        );
        await running;
        console.log(`ferry worker: ${stopSignal ?? 'stopped'}, shut down cleanly`);
        return 0;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        for (const r of opened.reverse()) await closeWithin(r, closeTimeoutMs);
        // a driver may leave a timer behind (the Cassandra driver's reconnection after an outage):
        // once everything is closed, nothing is left to wait for
        setTimeout(() => process.exit(), 2_000).unref();
      }
    }),
};
