import { rmSync } from 'node:fs';
import type { Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { ReaderHandle } from '../reader/start-reader.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import type { TemporalDevServer } from './start-temporal.ts';

// What the steps of `ferry start` share: its output, its timings, what it has started (to stop
// it again, in order), and the way a signal cuts a step short.

/** Counts in ferry start's progress lines: 15,000. */
export const int = new Intl.NumberFormat('en-US');

/** Thrown (internally) when a signal arrives while starting. */
export class Stopped extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}

/** What ferry start has started, to stop on the way out. */
export interface Running {
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

export interface StartRun {
  /** A progress line, with the seconds since the start. */
  say(line: string): void;
  /** Runs a step and records how long it took (the --json output lists them). */
  timed<T>(step: string, fn: () => Promise<T>): Promise<T>;
  /** Awaits `p`, or throws Stopped at once when a signal arrives. */
  step<T>(p: Promise<T>): Promise<T>;
  /** The signal that asked to stop, if one did. */
  stopSignal(): NodeJS.Signals | undefined;
  /** Stops the start from outside a step (the worker ended on its own). */
  fail(error: Error): void;
  readonly running: Running;
  /** Cancels the Temporal client calls still waiting (a pipeline's result) when stopping. */
  readonly abort: AbortController;
  /** Work that may still use the client connection when a signal cuts a step short. */
  readonly inFlight: Promise<unknown>[];
  readonly steps: { step: string; ms: number }[];
  readonly t0: number;
}

export async function within<T>(
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
export async function stopAll(r: Running, say: (l: string) => void): Promise<void> {
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
