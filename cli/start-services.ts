import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { applyPlan } from '../apply/apply-definitions.ts';
import { planApply } from '../apply/apply-plan.ts';
import type { ApplyTarget } from '../apply/apply-target.ts';
import { OfflineStoreTarget } from '../apply/offline-store-target.ts';
import { OnlineStoreTarget } from '../apply/online-store-target.ts';
import { projectRoot } from '../config/module-files.ts';
import type { Settings } from '../config/settings.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { type LoadProgress, loadSampleEventLogs, loadSampleSources } from '../samples/sample-data.ts';
import type { SamplePopulation } from '../samples/sample-users.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import { loadLocalDefinitions } from './apply-context.ts';
import { formatChange } from './format-plan.ts';
import { type DataDir, writeState } from './start-data-dir.ts';
import { int, type StartRun, Stopped } from './start-run.ts';
import { portAnswers, TemporalDevServer, temporalBinary } from './start-temporal.ts';
import { prebuiltWorkflowBundle } from './workflow-bundle-file.ts';

// The services `ferry start` runs in its process or beside it: the Temporal dev server, the
// sample data, the applied features and the worker.

/** Starts the Temporal dev server and resolves once it answers (run.running.clientConnection is then open). */
export function startTemporal(
  run: StartRun,
  dirs: DataDir,
  settings: Settings,
  ports: { temporalPort: number; temporalUiPort: number },
): Promise<TemporalDevServer> {
  const { temporalPort, temporalUiPort } = ports;
  const { dataDir, dbFile, temporalPidFile } = dirs;
  return run.timed('temporal dev server', async () => {
    const binary = await temporalBinary(projectRoot);
    const server = await TemporalDevServer.start({
      binary,
      host: '127.0.0.1',
      port: temporalPort,
      uiPort: temporalUiPort,
      dbFile,
      logFile: path.join(dataDir, 'logs', 'temporal.log'),
      pidFile: temporalPidFile,
      namespace: settings.temporalNamespace,
    });
    run.running.temporal = server;
    const { Connection } = await import('@temporalio/client');
    const deadline = Date.now() + 90_000;
    for (;;) {
      const stopSignal = run.stopSignal();
      if (stopSignal) throw new Stopped(stopSignal);
      if (!server.running) await server.whileRunning(new Promise(() => {}));
      if (await portAnswers('127.0.0.1', temporalPort)) {
        try {
          const connection = await Connection.connect({
            address: settings.temporalAddress,
            connectTimeout: 3_000,
          });
          try {
            await connection.workflowService.describeNamespace({ namespace: settings.temporalNamespace });
            run.running.clientConnection = connection;
            break;
          } catch (e) {
            await connection.close();
            throw e;
          }
        } catch (e) {
          if (Date.now() > deadline)
            throw new Error(`the Temporal dev server did not answer: ${(e as Error).message}`);
        }
      } else if (Date.now() > deadline) {
        throw new Error(
          `the Temporal dev server did not open ${settings.temporalAddress} within 90 s:\n${server.logTail()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    run.say(`Temporal dev server ready (pid ${server.pid})`);
    return server;
  });
}

/** Bundles the workflows for the worker (webpack: seconds), beside the other steps. */
export function bundleWorkflows(run: StartRun): Promise<string> {
  return run.timed('bundle workflows', async () => {
    const prebuilt = prebuiltWorkflowBundle();
    if (prebuilt !== undefined) return readFileSync(prebuilt, 'utf8');
    const { bundleWorkflowCode, DefaultLogger } = await import('@temporalio/worker');
    const { workflowsPath } = await import('./worker-command.ts');
    const b = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
    run.say('workflows bundled');
    return b.code;
  });
}

/** Generates the sample data and loads it into the raw tables, once per data folder. */
export async function loadSampleData(
  run: StartRun,
  dirs: DataDir,
  offline: OfflineStore,
  population: SamplePopulation,
): Promise<void> {
  const { state, config } = dirs;
  if (!state.loaded) {
    run.say(
      `sample data: generating and loading ${int.format(config.users)} users, ${config.days} days of events into DuckDB`,
    );
    const onProgress = (p: LoadProgress) => {
      if (p.done) run.say(`  ${p.table}: ${int.format(p.rows)} rows`);
    };
    const rows = await run.step(
      run.timed('load sample data', async () => ({
        ...(await loadSampleSources(offline, config, { population, onProgress })),
        // the domain events as a Kafka sink keeps them: the Aggregation features' history
        ...(await loadSampleEventLogs(offline, config, { population, onProgress })),
      })),
    );
    state.loaded = { atMs: Date.now(), rows };
    writeState(dirs.dataDir, state);
  } else {
    run.say('sample data: already loaded (--fresh reloads it)');
  }
}

/** Applies the features of features/: online tables, offline tables, Temporal Schedules, the registry. */
export async function applySampleFeatures(
  run: StartRun,
  settings: Settings,
  stores: { online: OnlineStore; offline: OfflineStore },
  client: Client,
): Promise<FeatureDefinition[]> {
  const { online, offline } = stores;
  const { say } = run;
  const local = await run.step(loadLocalDefinitions(settings));
  const registry = new DefinitionRegistry(online);
  const { TemporalSchedulesTarget } = await import('../apply/temporal-schedules-target.ts');
  const targets: ApplyTarget[] = [
    new OnlineStoreTarget(online),
    new OfflineStoreTarget(offline),
    new TemporalSchedulesTarget({ client, taskQueue: settings.temporalTaskQueue }),
  ];
  await run.step(
    run.timed('apply', async () => {
      const plan = await planApply(local, registry, targets);
      if (plan.refused) {
        const lines = plan.features.filter((f) => f.action === 'refused').flatMap((f) => f.refusals);
        throw new Error(`apply refused:\n${lines.join('\n')}`);
      }
      // what changed in a feature applied before (a widened type, a new field), as ferry plan shows it
      for (const f of plan.features)
        if (f.action === 'update') for (const c of f.changes) say(`  ${f.name}: ${formatChange(c)}`);
      const result = await applyPlan(plan, registry, targets, (l) => say(`  ${l}`));
      say(
        result.applied.length + result.retired.length === 0
          ? `apply: ${local.length} features already applied`
          : `apply: ${result.applied.length} applied, ${result.retired.length} retired (tables and schedules made)`,
      );
    }),
  );
  return local;
}

/** Runs Ferry's worker in this process, on the bundled workflows; a worker that stops ends the start. */
export async function startWorker(
  run: StartRun,
  settings: Settings,
  stores: { online: OnlineStore; offline: OfflineStore },
  bundled: Promise<string>,
): Promise<void> {
  const { running } = run;
  const { online, offline } = stores;
  const { NativeConnection } = await import('@temporalio/worker');
  const code = await run.step(bundled);
  running.nativeConnection = await run.step(NativeConnection.connect({ address: settings.temporalAddress }));
  const { createFerryWorker } = await import('./worker-command.ts');
  running.worker = await run.step(
    createFerryWorker({
      connection: running.nativeConnection,
      settings,
      online,
      offline,
      workflowBundleCode: code,
    }),
  );
  running.workerRun = running.worker.run().catch((e: unknown) => {
    run.fail(new Error(`the worker stopped: ${(e as Error).message}`));
  });
  run.say(
    `worker: polling task queue ${settings.temporalTaskQueue} (namespace ${settings.temporalNamespace})`,
  );
}
