import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  MINUTE,
  resolveSampleOptions,
  type SampleConfig,
  type SampleDataOptions,
} from '../samples/sample-options.ts';
import { UsageError } from './parse-options.ts';
import { int, type StartRun } from './start-run.ts';
import { TemporalDevServer } from './start-temporal.ts';

// The data folder of `ferry start`: who uses it (a lock file), what it remembers between starts
// (quickstart.json), and --fresh.

const stateFile = 'quickstart.json';

/** What the data folder remembers between starts. */
export interface QuickstartState {
  version: 1;
  sample: SampleConfig;
  loaded?: { atMs: number; rows: Record<string, number> };
  /** Features whose first transform-and-upsync ran (a feature added later is upsynced on the next start). */
  upsynced?: { atMs: number; workflowId: string; features: string[] };
  pushed?: { atMs: number; commands: number };
  /** Aggregation features whose history the events backfill counted from the warehouse. */
  historyBackfilled?: { atMs: number; features: string[] };
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

export function writeState(dataDir: string, state: QuickstartState): void {
  writeFileSync(path.join(dataDir, stateFile), `${JSON.stringify(state, null, 2)}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
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

/** The data folder's files, and what it remembers. */
export interface DataDir {
  dataDir: string;
  runDir: string;
  lockFile: string;
  temporalPidFile: string;
  /** The Temporal dev server's database (workflow history, Schedules). */
  dbFile: string;
  state: QuickstartState;
  config: SampleConfig;
}

/**
 * Takes the data folder for this start: refuses one another ferry start uses, stops a Temporal
 * dev server an earlier start left running, empties it for --fresh, and reads (or makes) what it
 * remembers, refusing sample options that differ from the data it holds.
 */
export async function claimDataDir(
  run: StartRun,
  dataDir: string,
  fresh: boolean,
  requested: SampleDataOptions,
): Promise<DataDir> {
  const { say, running } = run;
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
  if (fresh) {
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
    state?.sample ?? resolveSampleOptions({ ...requested, endMs: Math.floor(Date.now() / MINUTE) * MINUTE });
  state ??= { version: 1, sample: config };
  writeState(dataDir, state);
  say(
    `Ferry quickstart in ${path.relative(process.cwd(), dataDir) || '.'} ` +
      `(${state.loaded ? 'reusing its data' : 'new'}): ${int.format(config.users)} users, seed ${config.seed}, ` +
      `events until ${new Date(config.endMs).toISOString()}`,
  );

  return { dataDir, runDir, lockFile, temporalPidFile, dbFile, state, config };
}
