import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { ferryBin, ferryChildEnv } from './ferry-bin.ts';
import { procMemoryMb } from './process-stats.ts';

// An upsync as users run it: `ferry apply`, `ferry worker` (a child process), then `ferry upsync
// <feature> --full --wait --json`, timed from the CLI's start to its exit, with the worker's
// resident memory sampled from /proc every 50 ms.

export interface CliUpsyncResult {
  seconds: number;
  rowsRead: number;
  rowsWritten: number;
  rowsDeadLettered: number;
  /** The worker started and polling, settled 2 s, before any work. */
  idle: { rss: number; anon: number; file: number };
  /** The worker's highest sample (VmHWM when higher). */
  peak: { rss: number; anon: number; file: number };
}

/** Runs `ferry <args>` with `env` in `cwd`; throws with its output when it fails. */
export async function runFerryCli(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(ferryBin, args, {
      env: ferryChildEnv(env),
      cwd,
      maxBuffer: 64 * 2 ** 20,
    });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`ferry ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`);
  }
}

/** Applies the features of FERRY_FEATURES_DIR, starts `ferry worker` and runs one full upsync of `feature`. */
export async function cliUpsync(
  feature: string,
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<CliUpsyncResult> {
  await runFerryCli(['apply'], env, cwd);
  const worker = spawn(ferryBin, ['worker'], {
    env: ferryChildEnv(env),
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
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
    await new Promise((r) => setTimeout(r, 2000));
    const idle = procMemoryMb(worker.pid!);
    let peak = idle;
    const sampler = setInterval(() => {
      const m = procMemoryMb(worker.pid!);
      if (m.rss > peak.rss) peak = m;
    }, 50);
    const t0 = performance.now();
    const stdout = await runFerryCli(['upsync', feature, '--full', '--wait', '--json'], env, cwd).finally(
      () => clearInterval(sampler),
    );
    const seconds = (performance.now() - t0) / 1000;
    const { result } = JSON.parse(stdout) as {
      result: { rowsRead: number; rowsWritten: number; rowsDeadLettered: number };
    };
    const hwm = procMemoryMb(worker.pid!).hwm;
    return {
      seconds,
      rowsRead: result.rowsRead,
      rowsWritten: result.rowsWritten,
      rowsDeadLettered: result.rowsDeadLettered,
      idle,
      peak: { ...peak, rss: Math.max(peak.rss, hwm) },
    };
  } finally {
    worker.kill('SIGTERM');
    await exited;
  }
}
