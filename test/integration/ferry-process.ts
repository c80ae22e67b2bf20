import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { ferryBin, ferryEnv, root } from '../ferry-bin.ts';
import { productionWorkflowBundle } from '../workflow-bundle.ts';

export { productionWorkflowBundle };

// The shipped entry points as the tests run them: `bin/ferry.js <command>` in a child process,
// with settings in its environment, exactly as an operator starts them. Nothing is added for tests.

export { ferryBin, root };

export type FerryEnv = Record<string, string | undefined>;

/** Runs `ferry <args>` to its end; never throws for a non-zero exit. */
export async function runFerry(
  args: string[],
  env: FerryEnv,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(ferryBin, args, {
      cwd: options.cwd ?? root,
      env: ferryEnv({ ...process.env, ...env }),
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number | string; stdout: string; stderr: string; signal?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

export interface FerryProcess {
  child: ChildProcess;
  /** The first match of `readyPattern` in its output. */
  ready: Promise<RegExpMatchArray>;
  /** Exit code, or null when a signal ended it. */
  exited: Promise<number | null>;
  /** The last lines it printed (stdout and stderr). */
  log(): string;
  /** SIGTERM (or the given signal), then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running `ferry <args>` (worker, serve) and watches its output for `readyPattern`. */
export function spawnFerry(
  args: string[],
  env: FerryEnv,
  readyPattern: RegExp,
  options: { cwd?: string; readyTimeoutMs?: number } = {},
): FerryProcess {
  const child = spawn(ferryBin, args, {
    cwd: options.cwd ?? root,
    env: ferryEnv({ ...process.env, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let text: string | undefined = ''; // what it printed until it was ready
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `ferry ${args[0]} not ready after ${options.readyTimeoutMs ?? 120_000} ms:\n${lines.join('\n')}`,
          ),
        ),
      options.readyTimeoutMs ?? 120_000,
    );
    const onData = (chunk: Buffer) => {
      const s = chunk.toString();
      lines.push(...s.split('\n').filter(Boolean));
      if (lines.length > 400) lines.splice(0, lines.length - 400);
      if (text !== undefined) {
        text += s;
        const m = text.match(readyPattern);
        if (m) {
          text = undefined;
          clearTimeout(timer);
          resolve(m);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `ferry ${args[0]} exited (${code ?? child.signalCode}) before it was ready:\n${lines.join('\n')}`,
        ),
      );
    });
  });
  ready.catch(() => {});
  return {
    child,
    ready,
    exited,
    log: () => lines.join('\n'),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** `ferry worker` on a task queue; ready once it polls. */
export function spawnFerryWorker(env: FerryEnv, taskQueue: string, extraArgs: string[] = []): FerryProcess {
  return spawnFerry(
    ['worker', '--task-queue', taskQueue, ...extraArgs],
    env,
    new RegExp(`polling task queue ${taskQueue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
  );
}

/** `ferry serve` on a free port; ready once it listens, with its base URL. */
export async function spawnFerryReader(env: FerryEnv, args: string[] = []) {
  const p = spawnFerry(['serve', '--port', '0', ...args], env, /listening on (http:\/\/[\d.]+:\d+)/);
  const m = await p.ready;
  return { ...p, url: m[1]! };
}
