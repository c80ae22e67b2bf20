import path from 'node:path';
import type { Settings } from '../config/settings.ts';
import { sha256Hex, type TokenEntry } from '../reader/tokens.ts';
import { sampleEventTopics } from '../samples/sample-commands.ts';
import { sampleCommands } from '../samples/sample-data.ts';
import type { SamplePopulation } from '../samples/sample-users.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { type DataDir, writeState } from './start-data-dir.ts';
import type { DeadLetterCount } from './start-dead-letters.ts';
import { pushBatches } from './start-push.ts';
import { int, type StartRun } from './start-run.ts';
import { chooseShowcase, curlLine, pushRequest, send, showcaseRequests } from './start-showcase.ts';
import type { TemporalDevServer } from './start-temporal.ts';

// The last steps of `ferry start`: the reader, the sample real-time commands through it, and the
// lookups that show it works, printed as curl lines (or one JSON line with --json).

/** The token of the sample service in the shipped tokens.yaml (its SHA-256 is listed there). */
export const sampleToken = 'ferry-sample-app-token';
export const sampleService = 'sample-app';
/** The line `ferry start` prints (text mode) when everything is up. */
export const readyLine = 'Ferry is ready';

/** Starts the reader in this process on the embedded online store; returns its URL and the token to use. */
export async function startSampleReader(
  run: StartRun,
  settings: Settings,
  port: number,
  online: OnlineStore,
): Promise<{ baseUrl: string; token: string }> {
  const { say, running } = run;
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
  running.reader = await run.step(
    run.timed('reader', () =>
      startReader({
        settings,
        config: readReaderConfig(),
        host: '127.0.0.1',
        port,
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
  return { baseUrl, token };
}

/**
 * Pushes the sample real-time feed through the reader, once per data folder: the stream job's
 * commands to /v1/commands, and the product's domain events (live-room entrances and leaves,
 * matches) to /v1/events/<topic>, where the features' from_events rules turn them into writes.
 */
export async function pushSampleCommands(
  run: StartRun,
  dirs: DataDir,
  population: SamplePopulation,
  reader: { baseUrl: string; token: string },
): Promise<ReturnType<typeof sampleCommands>> {
  const { state, config } = dirs;
  const { say } = run;
  const { baseUrl, token } = reader;
  const live = sampleCommands(config, population);
  if (!state.pushed) {
    const events = live.events.length + live.matchEvents.length + live.loginEvents.length;
    say(
      `commands: pushing ${int.format(live.commands.length)} commands to ${baseUrl}/v1/commands and ` +
        `${int.format(events)} domain events to ${baseUrl}/v1/events/{${sampleEventTopics.liveRoom},${sampleEventTopics.match},${sampleEventTopics.login}}`,
    );
    const pushed = await run.step(
      run.timed('push commands and events', async () => {
        const c = await pushBatches(`${baseUrl}/v1/commands`, token, live.commands, 500);
        const r = await pushBatches(
          `${baseUrl}/v1/events/${sampleEventTopics.liveRoom}`,
          token,
          live.events,
          500,
        );
        const m = await pushBatches(
          `${baseUrl}/v1/events/${sampleEventTopics.match}`,
          token,
          live.matchEvents,
          500,
        );
        const l = await pushBatches(
          `${baseUrl}/v1/events/${sampleEventTopics.login}`,
          token,
          live.loginEvents,
          500,
        );
        return {
          applied: c.applied + r.applied + m.applied + l.applied,
          ms: c.ms + r.ms + m.ms + l.ms,
          mode: c.mode,
          fromEvents: r.applied + m.applied + l.applied,
        };
      }),
    );
    say(
      `commands: ${int.format(pushed.applied)} applied (${int.format(pushed.fromEvents)} of them made by from_events rules) in ${(pushed.ms / 1000).toFixed(1)} s ` +
        `(${int.format(Math.round((pushed.applied * 1000) / Math.max(1, pushed.ms)))} commands/s, mode ${pushed.mode})`,
    );
    state.pushed = { atMs: Date.now(), commands: pushed.applied };
    writeState(dirs.dataDir, state);
  } else {
    say('commands: pushed on an earlier start');
  }
  return live;
}

/** Checks three lookups and prints how to use Ferry: addresses, token, curl lines (or the JSON line). */
export async function printReady(
  run: StartRun,
  dirs: DataDir,
  settings: Settings,
  population: SamplePopulation,
  live: ReturnType<typeof sampleCommands>,
  reader: { baseUrl: string; token: string },
  temporal: TemporalDevServer,
  deadLetters: readonly DeadLetterCount[],
  json: boolean,
): Promise<void> {
  const { state, config, dataDir } = dirs;
  const { say, steps, t0 } = run;
  const { baseUrl, token } = reader;
  const showcase = chooseShowcase(config, population, live.rooms, live.events);
  const requests = showcaseRequests(baseUrl, showcase);
  const answers = await run.step(Promise.all(requests.map((r) => send(r, token))));
  answers.forEach((a, i) => {
    if (a.status !== 200)
      say(`warning: ${requests[i]!.method} ${requests[i]!.url} answered ${a.status}: ${a.text}`);
    else if (/"found":false/.test(a.text) && !/"found":true/.test(a.text))
      say(`warning: ${requests[i]!.url} found nothing: ${a.text}`);
  });
  const push = pushRequest(baseUrl, showcase.roomId, !/"has_guest":true/.test(answers[2]!.text), Date.now());
  const curls = requests.map((r) => curlLine(r, token));
  // other ferry commands reach this run through its data folder (LMDB is shared between processes)
  // and its Temporal server (the worker in this process runs what they start)
  const cliEnv = {
    FERRY_DATA_DIR: path.relative(process.cwd(), dataDir) || '.',
    FERRY_TEMPORAL_ADDRESS: settings.temporalAddress,
  };
  const cliPrefix = `${Object.entries(cliEnv)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} npx ferry`;
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
    cliEnv,
    deadLetters,
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
      'Other ferry commands against this run (in another shell):',
      `  ${cliPrefix} list`,
      ...(deadLetters.length === 0
        ? []
        : [
            '',
            'Dead letters (what Ferry refused to store, with the reason; README, Replay):',
            ...deadLetters.map(
              (d) => `  ${d.feature}: ${int.format(d.count)}${d.more ? '+' : ''}, e.g. ${d.reason}`,
            ),
            'Fix the cause (a field too small for its values: widen it, e.g. Int → Long, and start again),',
            'then replay them into the feature:',
            ...deadLetters.map((d) => `  ${cliPrefix} replay ${d.feature} --wait`),
          ]),
      '',
      'Ctrl-C stops everything this started.',
      `${readyLine} (${(elapsedMs / 1000).toFixed(1)} s)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
