import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { projectRoot } from '../config/module-files.ts';
import { readSettings, type Settings } from '../config/settings.ts';
import { type SampleDataOptions, sampleDefaults } from '../samples/sample-options.ts';
import { SamplePopulation } from '../samples/sample-users.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';
import { claimDataDir } from './start-data-dir.ts';
import { countDeadLetters } from './start-dead-letters.ts';
import { backfillAggregationHistory } from './start-history.ts';
import { transformsAndUpsync } from './start-pipeline.ts';
import { printReady, pushSampleCommands, startSampleReader } from './start-ready.ts';
import { type Running, type StartRun, Stopped, stopAll, within } from './start-run.ts';
import {
  applySampleFeatures,
  bundleWorkflows,
  loadSampleData,
  startTemporal,
  startWorker,
} from './start-services.ts';
import { freePort, portAnswers } from './start-temporal.ts';

export { readyLine, sampleService, sampleToken } from './start-ready.ts';

const usage = `Usage: ferry start [--fresh] [--users N] [--seed N] [--days N] [--data-dir DIR]
                   [--port N] [--temporal-port N] [--temporal-ui-port N] [--json]

Runs Ferry on its embedded default, with nothing to install: DuckDB as the offline store,
LMDB as the online store (both under the data folder), a Temporal dev server that it starts
and stops itself, the worker (in this process) and the read API. Then it applies the
sample features of features/, generates realistic sample data (users, 1:1 matches with chat
durations, lounge events, live rooms), loads it into the raw tables the transforms of sql/
read, runs the transforms and the upsyncs through the Temporal workflows, pushes the
product's domain events of the last day (live rooms, matches, logins: the features' from_events
rules turn them into writes) and a stream job's commands through the reader, runs the events
backfill of the Aggregation features over the month of events kept in DuckDB (their 30-day and
lifetime values start with that history), and prints the reader's and the Temporal UI's
addresses, a token and three curl lines.

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

function intOption(name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

/**
 * `ferry start`, as a list of steps (each in start-*.ts): take the data folder; pick the ports;
 * start the Temporal dev server and bundle the workflows in the background; open the stores and
 * load the sample data; apply the features; run the worker; run the transforms and upsyncs; start
 * the reader; push the sample commands; print how to use it; then wait for a signal. A signal
 * cuts any step short and everything started is stopped in order.
 */
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
  const readerPort = o.port !== undefined ? intOption('port', o.port, 0, 65535)! : envSettings.readerPort;
  let temporalPort = intOption('temporal-port', o['temporal-port'] ?? '7243', 0, 65535)!;
  let temporalUiPort = intOption('temporal-ui-port', o['temporal-ui-port'] ?? '8243', 0, 65535)!;
  const dataDir = path.resolve(
    o['data-dir'] ?? process.env.FERRY_DATA_DIR ?? path.join('.ferry', 'quickstart'),
  );
  const json = o.json === true;

  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1).padStart(5);
  const out = json ? process.stderr : process.stdout;

  // signals: stop wherever we are; a second one forces the Temporal server down and exits
  const running: Running = {};
  let stopSignal: NodeJS.Signals | undefined;
  let failure: Error | undefined;
  let wake: (s: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<never>((_, reject) => {
    wake = (s) => reject(new Stopped(s));
  });
  stopped.catch(() => undefined);
  const run: StartRun = {
    say: (line) => out.write(`[${secs()}s] ${line}\n`),
    timed: async (step, fn) => {
      const s = performance.now();
      const r = await fn();
      run.steps.push({ step, ms: Math.round(performance.now() - s) });
      return r;
    },
    step: (p) => {
      p.catch(() => undefined);
      return Promise.race([p, stopped]);
    },
    stopSignal: () => stopSignal,
    fail: (e) => {
      failure = e;
      if (!stopSignal) wake('SIGTERM');
    },
    running,
    abort: new AbortController(),
    inFlight: [],
    steps: [],
    t0,
  };
  const onSignal = (s: NodeJS.Signals) => {
    if (stopSignal) {
      out.write(`\n${s} again: killing the Temporal dev server and exiting now\n`);
      running.temporal?.killNow();
      if (running.lockFile) rmSync(running.lockFile, { force: true });
      process.exit(1);
    }
    stopSignal = s;
    run.abort.abort();
    wake(s);
  };
  const onExit = () => running.temporal?.killNow();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);

  try {
    const dirs = await claimDataDir(run, dataDir, o.fresh === true, requested);

    if (temporalPort === 0) temporalPort = await freePort('127.0.0.1');
    if (temporalUiPort === 0) temporalUiPort = await freePort('127.0.0.1');
    if (readerPort !== 0 && (await portAnswers('127.0.0.1', readerPort))) {
      throw new UsageError(
        `the read API port 127.0.0.1:${readerPort} is in use; choose one with --port (0: a free one)`,
      );
    }
    const settings = quickstartSettings(dataDir, readerPort, `127.0.0.1:${temporalPort}`);

    // in the background while the stores open and the sample data loads
    run.say(`Temporal dev server: starting on 127.0.0.1:${temporalPort} (UI ${temporalUiPort})`);
    const temporalReady = startTemporal(run, dirs, settings, { temporalPort, temporalUiPort });
    const { Runtime, DefaultLogger } = await import('@temporalio/worker');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const bundled = bundleWorkflows(run);
    temporalReady.catch(() => undefined);
    bundled.catch(() => undefined);

    running.online = await run.step(openOnlineStore(settings));
    running.offline = await run.step(openOfflineStore(settings));
    const stores = { online: running.online, offline: running.offline };
    const population = new SamplePopulation(dirs.config);
    await loadSampleData(run, dirs, stores.offline, population);

    const temporal = await run.step(temporalReady);
    const { Client } = await import('@temporalio/client');
    const client: Client = new Client({
      connection: running.clientConnection!,
      namespace: settings.temporalNamespace,
    });
    const local = await applySampleFeatures(run, settings, stores, client);
    await startWorker(run, settings, stores, bundled);
    await transformsAndUpsync(run, dirs, local, client, settings);
    const reader = await startSampleReader(run, settings, readerPort, stores.online);
    const live = await pushSampleCommands(run, dirs, population, reader);
    await backfillAggregationHistory(run, dirs, local, client, settings);
    const deadLetters = await run.step(countDeadLetters(stores.offline, local));
    await printReady(run, dirs, settings, population, live, reader, temporal, deadLetters, json);

    await run.step(new Promise<never>(() => {})); // until a signal
    return 0;
  } catch (e) {
    if (!(e instanceof Stopped)) failure ??= e as Error;
    return failure ? (failure instanceof UsageError ? 2 : 1) : 0;
  } finally {
    const why = stopSignal ? `${stopSignal}` : failure ? 'a failure' : 'the end';
    if (failure) out.write(`ferry start: ${failure.message}\n`);
    out.write(`Stopping Ferry (${why})\n`);
    run.abort.abort();
    // a call cut short may still fail on the closing connection: say so, never crash before Temporal stops
    const late = (e: unknown) => out.write(`  (while stopping: ${(e as Error).message})\n`);
    process.on('uncaughtException', late);
    await within('finishing client calls', 5_000, Promise.all(run.inFlight), (l) => out.write(`${l}\n`));
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

export const startCommand: Command = {
  name: 'start',
  usage,
  run: (args) => runCommand('start', usage, () => start(args)),
};
