import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { applyPlan } from '../apply/apply-definitions.ts';
import { planApply } from '../apply/apply-plan.ts';
import type { ApplyTarget } from '../apply/apply-target.ts';
import { OfflineStoreTarget } from '../apply/offline-store-target.ts';
import { OnlineStoreTarget } from '../apply/online-store-target.ts';
import { projectRoot } from '../config/module-files.ts';
import { readSettings, type Settings } from '../config/settings.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import type { ReaderHandle } from '../reader/start-reader.ts';
import { sha256Hex, type TokenEntry } from '../reader/tokens.ts';
import { loadSampleSources, sampleCommands } from '../samples/sample-data.ts';
import {
  MINUTE,
  resolveSampleOptions,
  type SampleConfig,
  type SampleDataOptions,
  sampleDefaults,
  sampleLogicalDateOf,
} from '../samples/sample-options.ts';
import { SamplePopulation } from '../samples/sample-users.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import { pipelineWorkflowId } from '../workflow-contract/ids.ts';
import type { PipelineInput, PipelineProgress } from '../workflow-contract/types.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import { loadLocalDefinitions } from './apply-context.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import { pushCommands } from './start-push.ts';
import { chooseShowcase, curlLine, pushRequest, send, showcaseRequests } from './start-showcase.ts';
import { freePort, portAnswers, TemporalDevServer, temporalBinary } from './start-temporal.ts';

const usage = `Usage: ferry start [--fresh] [--users N] [--seed N] [--days N] [--data-dir DIR]
                   [--port N] [--temporal-port N] [--temporal-ui-port N] [--json]

Runs Ferry on its embedded default, with nothing to install: DuckDB as the offline store,
LMDB as the online store (both under the data folder), a Temporal dev server that it starts
and stops itself, the worker (in this process) and the read API. Then it applies the
sample features of features/, generates realistic sample data (users, 1:1 matches with chat
durations, lounge events, live rooms), loads it into the raw tables the transforms of sql/
read, runs the transforms and the upsyncs through the Temporal workflows, pushes the
real-time commands (live rooms, recent matches) through the reader's push endpoint, and
prints the reader's and the Temporal UI's addresses, a token and three curl lines.

Ctrl-C (or SIGTERM) stops everything it started and exits 0. Starting again reuses the
data folder (the data, the applied features and the Temporal history are kept; nothing is
loaded twice); --fresh starts from an empty one.

Options:
  --fresh                 delete the data folder first (only one that ferry start made)
  --users N               sample users (default ${sampleDefaults.users.toLocaleString('en-US')}); with --seed and --days, fixed
                          when the data is first loaded
  --seed N                seed of the generator (default ${sampleDefaults.seed})
  --days N                days of match and lounge history (default ${sampleDefaults.days})
  --data-dir DIR          data folder (default: $FERRY_DATA_DIR when set, else .ferry/quickstart)
  --port N                read API port (default: $FERRY_READER_PORT or 8080; 0 picks a free one)
  --temporal-port N       Temporal dev server gRPC port (default 7243; 0 picks a free one)
  --temporal-ui-port N    Temporal Web UI port (default 8243; 0 picks a free one)
  --json                  progress on stderr, then the ready information as one JSON line on
                          stdout (reader URL, token, curl lines and requests, pids)

Example:
  npm start
  curl -s -H 'Authorization: Bearer ferry-sample-app-token' \\
    http://127.0.0.1:8080/v1/features/azar::user-profile/1001`;

/** The token of the sample service in the shipped tokens.yaml (its SHA-256 is listed there). */
export const sampleToken = 'ferry-sample-app-token';
export const sampleService = 'sample-app';
/** The line `ferry start` prints (text mode) when everything is up. */
export const readyLine = 'Ferry is ready';

const stateFile = 'quickstart.json';

/** What the data folder remembers between starts. */
interface QuickstartState {
  version: 1;
  sample: SampleConfig;
  loaded?: { atMs: number; rows: Record<string, number> };
  /** Features whose first transform-and-upsync ran (a feature added later is upsynced on the next start). */
  upsynced?: { atMs: number; workflowId: string; features: string[] };
  pushed?: { atMs: number; commands: number };
}

function readState(dataDir: string): QuickstartState | undefined {
  const file = path.join(dataDir, stateFile);
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as QuickstartState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

function writeState(dataDir: string, state: QuickstartState): void {
  writeFileSync(path.join(dataDir, stateFile), `${JSON.stringify(state, null, 2)}\n`);
}

function intOption(name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const int = new Intl.NumberFormat('en-US');

/** Thrown (internally) when a signal arrives while starting. */
class Stopped extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}

interface Running {
  temporal?: TemporalDevServer;
  online?: OnlineStore;
  offline?: OfflineStore;
  clientConnection?: Connection;
  nativeConnection?: NativeConnection;
  worker?: Worker;
  workerRun?: Promise<void>;
  reader?: ReaderHandle;
  lockFile?: string;
}

async function within<T>(
  what: string,
  ms: number,
  p: Promise<T>,
  say: (l: string) => void,
): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => {
          say(`  ${what} did not finish within ${ms / 1000} s; going on`);
          resolve(undefined);
        }, ms);
      }),
    ]);
  } catch (e) {
    say(`  ${what}: ${(e as Error).message}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops everything in `r`, in order: reader, worker, connections, stores, Temporal. */
async function stopAll(r: Running, say: (l: string) => void): Promise<void> {
  if (r.reader) {
    await within('closing the reader', 15_000, r.reader.close(), say);
    say('  reader stopped');
  }
  if (r.worker) {
    if (r.worker.getState() === 'RUNNING') r.worker.shutdown();
    await within('stopping the worker', 30_000, r.workerRun ?? Promise.resolve(), say);
    say('  worker stopped');
  }
  if (r.nativeConnection)
    await within('closing the worker connection', 5_000, r.nativeConnection.close(), say);
  if (r.clientConnection)
    await within('closing the client connection', 5_000, r.clientConnection.close(), say);
  if (r.online) await within('closing the online store', 10_000, r.online.close(), say);
  if (r.offline) await within('closing the offline store', 10_000, r.offline.close(), say);
  if (r.temporal) {
    await r.temporal.stop();
    say(`  Temporal dev server stopped (pid ${r.temporal.pid})`);
  }
  if (r.lockFile) rmSync(r.lockFile, { force: true });
}

/** The folders of the project that the sample run reads, unless the environment names others. */
function quickstartSettings(dataDir: string, readerPort: number, temporalAddress: string): Settings {
  const base = readSettings();
  const env = process.env;
  return {
    ...base,
    dataDir,
    featuresDir: env.FERRY_FEATURES_DIR ?? path.join(projectRoot, 'features'),
    sqlDir: env.FERRY_SQL_DIR ?? path.join(projectRoot, 'sql'),
    tokensFile: env.FERRY_TOKENS_FILE ?? path.join(projectRoot, 'tokens.yaml'),
    onlineStore: 'embedded',
    offlineStore: 'duckdb',
    kafkaBrokers: '',
    redisUrl: '',
    temporalAddress,
    readerHost: '127.0.0.1',
    readerPort,
  };
}

/** Deletes a data folder for --fresh, refusing one that ferry start did not make. */
function clearDataDir(dataDir: string): void {
  if (!existsSync(dataDir)) return;
  const entries = readdirSync(dataDir);
  if (entries.length > 0 && !entries.includes(stateFile) && !entries.includes('run')) {
    throw new UsageError(
      `--fresh: ${dataDir} is not empty and was not made by ferry start (no ${stateFile}); ` +
        'delete it yourself or choose another --data-dir',
    );
  }
  rmSync(dataDir, { recursive: true, force: true });
}

async function start(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage);
    return 0;
  }
  const { values: o } = parseOptions(
    args,
    {
      fresh: { type: 'boolean' },
      users: { type: 'string' },
      seed: { type: 'string' },
      days: { type: 'string' },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      'temporal-port': { type: 'string' },
      'temporal-ui-port': { type: 'string' },
      json: { type: 'boolean' },
    },
    false,
  );
  const requested: SampleDataOptions = {};
  const users = intOption('users', o.users, 10, 50_000_000);
  const seed = intOption('seed', o.seed, 0, 2 ** 32 - 1);
  const days = intOption('days', o.days, 1, 3650);
  if (users !== undefined) requested.users = users;
  if (seed !== undefined) requested.seed = seed;
  if (days !== undefined) requested.days = days;
  const envSettings = readSettings();
  const readerPortOption =
    o.port !== undefined ? intOption('port', o.port, 0, 65535)! : envSettings.readerPort;
  let temporalPort = intOption('temporal-port', o['temporal-port'] ?? '7243', 0, 65535)!;
  let temporalUiPort = intOption('temporal-ui-port', o['temporal-ui-port'] ?? '8243', 0, 65535)!;
  const dataDir = path.resolve(
    o['data-dir'] ?? process.env.FERRY_DATA_DIR ?? path.join('.ferry', 'quickstart'),
  );
  const json = o.json === true;

  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1).padStart(5);
  const out = json ? process.stderr : process.stdout;
  const say = (line: string) => out.write(`[${secs()}s] ${line}\n`);
  const steps: { step: string; ms: number }[] = [];
  const timed = async <T>(step: string, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    const r = await fn();
    steps.push({ step, ms: Math.round(performance.now() - s) });
    return r;
  };

  // signals: stop wherever we are; a second one forces the Temporal server down and exits
  const running: Running = {};
  /** Cancels the Temporal client calls still waiting (a pipeline's result) when stopping. */
  const abort = new AbortController();
  /** Work that may still use the client connection when a signal cuts a step short. */
  const inFlight: Promise<unknown>[] = [];
  let stopSignal: NodeJS.Signals | undefined;
  let wake: (s: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<never>((_, reject) => {
    wake = (s) => reject(new Stopped(s));
  });
  stopped.catch(() => undefined);
  const onSignal = (s: NodeJS.Signals) => {
    if (stopSignal) {
      out.write(`\n${s} again: killing the Temporal dev server and exiting now\n`);
      running.temporal?.killNow();
      if (running.lockFile) rmSync(running.lockFile, { force: true });
      process.exit(1);
    }
    stopSignal = s;
    abort.abort();
    wake(s);
  };
  const onExit = () => running.temporal?.killNow();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
  /** Awaits a step, or stops at once when a signal arrives. */
  const step = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => undefined);
    return Promise.race([p, stopped]);
  };

  let failure: Error | undefined;
  try {
    // ---------------------------------------------------------------- data folder
    const runDir = path.join(dataDir, 'run');
    const lockFile = path.join(runDir, 'ferry-start.pid');
    const temporalPidFile = path.join(runDir, 'temporal.pid');
    const dbFile = path.join(dataDir, 'temporal', 'temporal.db');
    if (existsSync(lockFile)) {
      const pid = Number(readFileSync(lockFile, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid !== process.pid && alive(pid)) {
        const cmd = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
        if (cmd.includes('start')) {
          throw new UsageError(
            `another ferry start (pid ${pid}) uses ${dataDir}; stop it first or use --data-dir`,
          );
        }
      }
    }
    const leftover = await TemporalDevServer.stopLeftover({ pidFile: temporalPidFile, dbFile });
    if (leftover)
      say(`stopped a Temporal dev server (pid ${leftover}) that an earlier ferry start left running`);
    if (o.fresh) {
      clearDataDir(dataDir);
      say(`--fresh: removed ${dataDir}`);
    }
    await mkdir(runDir, { recursive: true });
    writeFileSync(lockFile, `${process.pid}\n`);
    running.lockFile = lockFile;

    let state = readState(dataDir);
    if (state) {
      const differs = (Object.keys(requested) as (keyof SampleDataOptions)[]).filter(
        (k) => requested[k] !== state!.sample[k],
      );
      if (differs.length > 0) {
        throw new UsageError(
          `${dataDir} holds sample data made with ${differs.map((k) => `${k} ${state!.sample[k]}`).join(', ')}; ` +
            'add --fresh to start over with new options',
        );
      }
    }
    const config =
      state?.sample ??
      resolveSampleOptions({ ...requested, endMs: Math.floor(Date.now() / MINUTE) * MINUTE });
    state ??= { version: 1, sample: config };
    writeState(dataDir, state);
    say(
      `Ferry quickstart in ${path.relative(process.cwd(), dataDir) || '.'} ` +
        `(${state.loaded ? 'reusing its data' : 'new'}): ${int.format(config.users)} users, seed ${config.seed}, ` +
        `events until ${new Date(config.endMs).toISOString()}`,
    );

    // ---------------------------------------------------------------- ports
    if (temporalPort === 0) temporalPort = await freePort('127.0.0.1');
    if (temporalUiPort === 0) temporalUiPort = await freePort('127.0.0.1');
    if (readerPortOption !== 0 && (await portAnswers('127.0.0.1', readerPortOption))) {
      throw new UsageError(
        `the read API port 127.0.0.1:${readerPortOption} is in use; choose one with --port (0: a free one)`,
      );
    }
    const settings = quickstartSettings(dataDir, readerPortOption, `127.0.0.1:${temporalPort}`);

    // ---------------------------------------------------------------- Temporal, stores, data, bundle (in parallel)
    say(`Temporal dev server: starting on 127.0.0.1:${temporalPort} (UI ${temporalUiPort})`);
    const temporalReady = timed('temporal dev server', async () => {
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
      running.temporal = server;
      const { Connection } = await import('@temporalio/client');
      const deadline = Date.now() + 90_000;
      for (;;) {
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
              running.clientConnection = connection;
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
      say(`Temporal dev server ready (pid ${server.pid})`);
      return server;
    });

    const { Runtime, DefaultLogger, bundleWorkflowCode, NativeConnection } = await import(
      '@temporalio/worker'
    );
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const bundled = timed('bundle workflows', async () => {
      const { workflowsPath } = await import('./worker-command.ts');
      const b = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
      say('workflows bundled');
      return b.code;
    });
    temporalReady.catch(() => undefined);
    bundled.catch(() => undefined);

    running.online = await step(openOnlineStore(settings));
    running.offline = await step(openOfflineStore(settings));
    const online = running.online;
    const offline = running.offline;
    const population = new SamplePopulation(config);

    if (!state.loaded) {
      say(
        `sample data: generating and loading ${int.format(config.users)} users, ${config.days} days of events into DuckDB`,
      );
      const rows = await step(
        timed('load sample data', () =>
          loadSampleSources(offline, config, {
            population,
            onProgress: (p) => {
              if (p.done) say(`  ${p.table}: ${int.format(p.rows)} rows`);
            },
          }),
        ),
      );
      state.loaded = { atMs: Date.now(), rows };
      writeState(dataDir, state);
    } else {
      say('sample data: already loaded (--fresh reloads it)');
    }

    const temporal = await step(temporalReady);
    const { Client } = await import('@temporalio/client');
    const client: Client = new Client({
      connection: running.clientConnection!,
      namespace: settings.temporalNamespace,
    });

    // ---------------------------------------------------------------- apply
    const local = await step(loadLocalDefinitions(settings));
    const registry = new DefinitionRegistry(online);
    const { TemporalSchedulesTarget } = await import('../apply/temporal-schedules-target.ts');
    const targets: ApplyTarget[] = [
      new OnlineStoreTarget(online),
      new OfflineStoreTarget(offline),
      new TemporalSchedulesTarget({ client, taskQueue: settings.temporalTaskQueue }),
    ];
    await step(
      timed('apply', async () => {
        const plan = await planApply(local, registry, targets);
        if (plan.refused) {
          const lines = plan.features.filter((f) => f.action === 'refused').flatMap((f) => f.refusals);
          throw new Error(`apply refused:\n${lines.join('\n')}`);
        }
        const result = await applyPlan(plan, registry, targets, (l) => say(`  ${l}`));
        say(
          result.applied.length + result.retired.length === 0
            ? `apply: ${local.length} features already applied`
            : `apply: ${result.applied.length} applied, ${result.retired.length} retired (tables and schedules made)`,
        );
      }),
    );

    // ---------------------------------------------------------------- worker
    const code = await step(bundled);
    running.nativeConnection = await step(NativeConnection.connect({ address: settings.temporalAddress }));
    const { createFerryWorker } = await import('./worker-command.ts');
    running.worker = await step(
      createFerryWorker({
        connection: running.nativeConnection,
        settings,
        online,
        offline,
        workflowBundleCode: code,
      }),
    );
    running.workerRun = running.worker.run().catch((e: unknown) => {
      failure = new Error(`the worker stopped: ${(e as Error).message}`);
      if (!stopSignal) wake('SIGTERM');
    });
    say(`worker: polling task queue ${settings.temporalTaskQueue} (namespace ${settings.temporalNamespace})`);

    // ---------------------------------------------------------------- transforms and upsync
    const done = new Set(state.upsynced?.features ?? []);
    const pending = local.filter((d) => d.upsync?.enabled && !done.has(d.name));
    if (pending.length > 0) {
      const input = pipelineInput(pending, config);
      const workflowId = pipelineWorkflowId(input.pipeline, input.logicalDate);
      say(
        `transforms and upsync: workflow ${workflowId} (${input.transforms.length} transforms, ` +
          `${input.features.length} features${done.size > 0 ? ' added since the last start' : ''})`,
      );
      const outcome = await step(
        timed('transforms and upsync', () => {
          const run = client.connection.withAbortSignal(abort.signal, () =>
            runPipeline(client, settings, input, workflowId, say),
          );
          inFlight.push(run.catch(() => undefined));
          return run;
        }),
      );
      for (const f of outcome.progress?.features ?? []) if (f.status === 'done') done.add(f.feature);
      state.upsynced = { atMs: Date.now(), workflowId, features: [...done].sort() };
      writeState(dataDir, state);
      if (outcome.error) {
        say(
          `warning: the transforms and upsync failed (Temporal UI: workflow ${workflowId}):\n${outcome.error}\n` +
            'Ferry keeps running; fix the cause and start again: the features not upsynced are tried again.',
        );
      }
    } else {
      say('transforms and upsync: done on an earlier start (the schedules keep them going)');
    }

    // ---------------------------------------------------------------- reader
    const { startReader } = await import('../reader/start-reader.ts');
    const { readReaderConfig } = await import('../reader/reader-config.ts');
    const { loadTokensFile } = await import('../reader/tokens.ts');
    const tokens: TokenEntry[] = await loadTokensFile(settings.tokensFile);
    let token = sampleToken;
    if (!tokens.some((t) => t.service === sampleService && t.sha256 === sha256Hex(sampleToken))) {
      // the tokens file has no sample token: make one for this run only
      token = `ferry-start-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
      tokens.push({ service: sampleService, sha256: sha256Hex(token) });
      say(`${settings.tokensFile} has no sample-app token; using one made for this run`);
    }
    running.reader = await step(
      timed('reader', () =>
        startReader({
          settings,
          config: readReaderConfig(),
          host: '127.0.0.1',
          port: readerPortOption,
          threads: 1,
          store: online,
          tokens,
          log: (m) => say(`reader: ${m}`),
        }),
      ),
    );
    await running.reader.refresh();
    const baseUrl = `http://${running.reader.host}:${running.reader.port}`;
    say(`reader: listening on ${baseUrl}`);

    // ---------------------------------------------------------------- real-time commands
    const live = sampleCommands(config, population);
    if (!state.pushed) {
      say(
        `commands: pushing ${int.format(live.commands.length)} live-room and match commands through ${baseUrl}/v1/commands`,
      );
      const pushed = await step(
        timed('push commands', () => pushCommands(`${baseUrl}/v1/commands`, token, live.commands, 500)),
      );
      say(
        `commands: ${int.format(pushed.accepted)} applied in ${(pushed.ms / 1000).toFixed(1)} s ` +
          `(${int.format(Math.round((pushed.accepted * 1000) / Math.max(1, pushed.ms)))} commands/s, mode ${pushed.mode})`,
      );
      state.pushed = { atMs: Date.now(), commands: pushed.accepted };
      writeState(dataDir, state);
    } else {
      say('commands: pushed on an earlier start');
    }

    // ---------------------------------------------------------------- check and print
    const showcase = chooseShowcase(config, population, live.rooms, live.commands);
    const requests = showcaseRequests(baseUrl, showcase);
    const answers = await step(Promise.all(requests.map((r) => send(r, token))));
    answers.forEach((a, i) => {
      if (a.status !== 200)
        say(`warning: ${requests[i]!.method} ${requests[i]!.url} answered ${a.status}: ${a.text}`);
      else if (/"found":false/.test(a.text) && !/"found":true/.test(a.text))
        say(`warning: ${requests[i]!.url} found nothing: ${a.text}`);
    });
    const push = pushRequest(
      baseUrl,
      showcase.roomId,
      !/"has_guest":true/.test(answers[2]!.text),
      Date.now(),
    );
    const curls = requests.map((r) => curlLine(r, token));
    const elapsedMs = Math.round(performance.now() - t0);
    const info = {
      ready: true,
      readerUrl: baseUrl,
      openApi: `${baseUrl}/openapi.json`,
      temporalAddress: settings.temporalAddress,
      temporalUi: temporal.uiUrl,
      namespace: settings.temporalNamespace,
      taskQueue: settings.temporalTaskQueue,
      token,
      service: sampleService,
      dataDir,
      pids: { ferry: process.pid, temporal: temporal.pid },
      curl: curls,
      requests: requests.map((r, i) => ({
        ...r,
        curl: curls[i],
        status: answers[i]!.status,
        response: answers[i]!.body,
      })),
      push: { ...push, curl: curlLine(push, token) },
      showcase,
      sample: config,
      rows: state.loaded?.rows,
      commands: state.pushed?.commands,
      steps,
      elapsedMs,
    };
    if (json) {
      say(readyLine);
      process.stdout.write(`${JSON.stringify(info)}\n`);
    } else {
      const lines = [
        '',
        `Ferry is running on its embedded default (data in ${path.relative(process.cwd(), dataDir) || '.'}):`,
        `  read API      ${baseUrl}   (OpenAPI at ${baseUrl}/openapi.json, metrics at ${baseUrl}/metrics)`,
        `  Temporal UI   ${temporal.uiUrl}   (namespace ${settings.temporalNamespace}: Schedules upsync/<feature>, retention/daily)`,
        `  token         ${token}   (service ${sampleService}, from ${path.relative(process.cwd(), settings.tokensFile)})`,
        `  processes     ferry start ${process.pid}, Temporal dev server ${temporal.pid}`,
        '',
        'Three lookups that return real values:',
        ...requests.flatMap((r, i) => [
          `  # ${r.what}`,
          `  ${curls[i]}`,
          `  #   → ${answers[i]!.text.length > 300 ? `${answers[i]!.text.slice(0, 297)}...` : answers[i]!.text}`,
        ]),
        '',
        `Push a command (then run the third line again):`,
        `  # ${push.what}`,
        `  ${curlLine(push, token)}`,
        '',
        'Ctrl-C stops everything this started.',
        `${readyLine} (${(elapsedMs / 1000).toFixed(1)} s)`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }

    // ---------------------------------------------------------------- run until a signal
    await step(new Promise<never>(() => {}));
    return 0;
  } catch (e) {
    if (!(e instanceof Stopped)) failure ??= e as Error;
    return failure ? (failure instanceof UsageError ? 2 : 1) : 0;
  } finally {
    const why = stopSignal ? `${stopSignal}` : failure ? 'a failure' : 'the end';
    if (failure) out.write(`ferry start: ${failure.message}\n`);
    out.write(`Stopping Ferry (${why})\n`);
    abort.abort();
    // a call cut short may still fail on the closing connection: say so, never crash before Temporal stops
    const late = (e: unknown) => out.write(`  (while stopping: ${(e as Error).message})\n`);
    process.on('uncaughtException', late);
    await within('finishing client calls', 5_000, Promise.all(inFlight), (l) => out.write(`${l}\n`));
    await stopAll(running, (l) => out.write(`${l}\n`));
    out.write('Stopped.\n');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    setTimeout(() => process.off('uncaughtException', late), 2_000).unref();
    // a native handle may outlive its close (Temporal's runtime): nothing is left to wait for
    setTimeout(() => process.exit(), 3_000).unref();
  }
}

/** The pipeline over all the sample data: every transform that an upsync reads, then those upsyncs. */
function pipelineInput(defs: readonly FeatureDefinition[], config: SampleConfig): PipelineInput {
  const upsynced = defs.filter((d) => d.upsync?.enabled);
  const transforms = [
    ...new Set(
      upsynced.flatMap((d) => (d.upsync!.source.kind === 'transform' ? [d.upsync!.source.transform] : [])),
    ),
  ];
  return {
    pipeline: 'quickstart',
    transforms,
    features: upsynced.map((d) => d.name),
    logicalDate: sampleLogicalDateOf(config),
    // from before the first sign-up: the first run sees every profile and event
    windowStartMs: Date.UTC(2000, 0, 1),
    windowEndMs: config.endMs,
  };
}

async function runPipeline(
  client: Client,
  settings: Settings,
  input: PipelineInput,
  workflowId: string,
  say: (l: string) => void,
): Promise<{ progress?: PipelineProgress; error?: string }> {
  const { startOrJoin } = await import('./workflow-cli.ts');
  const { handle } = await startOrJoin(client, workflowTypes.transformAndUpsync, {
    workflowId,
    taskQueue: settings.temporalTaskQueue,
    args: [input],
  });
  const reported = new Set<string>();
  const report = (p: PipelineProgress) => {
    for (const t of p.transforms) {
      const id = `t ${t.transform} ${t.status}`;
      if ((t.status === 'done' || t.status === 'failed') && !reported.has(id)) {
        reported.add(id);
        say(
          t.status === 'done'
            ? `  transform ${t.transform} → ${t.destination}: ${int.format(t.rowsWritten ?? 0)} rows`
            : `  transform ${t.transform} failed: ${t.error}`,
        );
      }
    }
    for (const f of p.features) {
      const id = `f ${f.feature} ${f.status}`;
      if (['done', 'failed', 'skipped', 'already running'].includes(f.status) && !reported.has(id)) {
        reported.add(id);
        const r = f.result;
        say(
          f.status === 'done' && r
            ? `  upsync ${f.feature}: ${int.format(r.rowsWritten)} rows written` +
                (r.rowsDeadLettered ? `, ${int.format(r.rowsDeadLettered)} dead-lettered` : '')
            : `  upsync ${f.feature}: ${f.status}${f.error ? ` (${f.error})` : ''}`,
        );
      }
    }
  };
  const result = handle.result() as Promise<PipelineProgress>;
  let done = false;
  result.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  while (!done) {
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1_000))]);
    if (done) break;
    try {
      report((await handle.query('progress')) as PipelineProgress);
    } catch {
      // no answer yet
    }
  }
  try {
    const p = await result;
    report(p);
    return { progress: p };
  } catch (e) {
    // the workflow fails with its progress as the failure's details
    const cause = (e as { cause?: { message?: string; details?: unknown[] } }).cause;
    const progress = cause?.details?.[0] as PipelineProgress | undefined;
    if (progress?.features) report(progress);
    return {
      ...(progress?.features ? { progress } : {}),
      error: cause?.message ?? (e as Error).message,
    };
  }
}

export const startCommand: Command = {
  name: 'start',
  usage,
  run: (args) => runCommand('start', usage, () => start(args)),
};

// `node --import tsx cli/start-command.ts [options]` runs it without the `ferry` entry point
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await startCommand.run(process.argv.slice(2));
}
