import { spawn } from 'node:child_process';
import { ferryBin, ferryChildEnv } from './ferry-bin.ts';

/** `ferry worker` as users start it (bin/ferry.js), polling its task queue. */
export interface FerryWorkerProcess {
  pid: number;
  /** What it printed so far. */
  log(): string;
  /** SIGTERM, and its exit. */
  stop(): Promise<void>;
}

/** Starts `ferry worker` with `env` in `cwd`; resolves once it polls its task queue. */
export async function startFerryWorker(
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<FerryWorkerProcess> {
  // e.g. FERRY_BENCH_CHILD_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the worker
  const flags = process.env.FERRY_BENCH_CHILD_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  const [command, args] =
    flags.length === 0
      ? [ferryBin, ['worker']]
      : [process.execPath, [...flags, '--expose-gc', ferryBin, 'worker']]; // as bin/ferry.js's #! line starts it
  const worker = spawn(command, args, {
    env: ferryChildEnv(env),
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
  const stop = async () => {
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGTERM');
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      worker.stdout.on('data', (d: Buffer) => {
        log += d;
        if (/polling task queue/.test(log)) resolve();
      });
      worker.stderr.on('data', (d: Buffer) => {
        log += d;
      });
      void exited.then((code) => reject(new Error(`ferry worker exited (${code}):\n${log}`)));
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { pid: worker.pid!, log: () => log, stop };
}
