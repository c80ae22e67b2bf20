import { runFerryCli } from './ferry-bin.ts';
import { startFerryWorker } from './ferry-worker-process.ts';
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

/** Applies the features of FERRY_FEATURES_DIR, starts `ferry worker` and runs one full upsync of `feature`. */
export async function cliUpsync(
  feature: string,
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<CliUpsyncResult> {
  await runFerryCli(['apply'], env, cwd);
  const worker = await startFerryWorker(env, cwd);
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idle = procMemoryMb(worker.pid);
    let peak = idle;
    const sampler = setInterval(() => {
      const m = procMemoryMb(worker.pid);
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
    const hwm = procMemoryMb(worker.pid).hwm;
    return {
      seconds,
      rowsRead: result.rowsRead,
      rowsWritten: result.rowsWritten,
      rowsDeadLettered: result.rowsDeadLettered,
      idle,
      peak: { ...peak, rss: Math.max(peak.rss, hwm) },
    };
  } finally {
    await worker.stop();
  }
}
