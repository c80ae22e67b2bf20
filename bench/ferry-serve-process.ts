import { spawn } from 'node:child_process';
import { ferryBin, ferryChildEnv } from './ferry-bin.ts';
import { procCpuSeconds, procMemoryMb } from './process-stats.ts';

/** A server a benchmark started, with its CPU time and memory. */
export interface MeasuredServer {
  port: number;
  /** CPU seconds of the server's process so far (every thread). */
  cpuSeconds(): number;
  /** Peak resident memory of the server's process, MB (0: not measured). */
  peakRssMb(): number;
  close(): Promise<void>;
  /** What the server printed (ferry serve). */
  log?(): string;
}

/** `ferry serve --port 0` as users start it (bin/ferry.js), settings in `env`; resolves once it prints its address. */
export function ferryServe(env: Record<string, string | undefined>): Promise<MeasuredServer> {
  const child = spawn(ferryBin, ['serve', '--port', '0'], {
    env: ferryChildEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (!m) return;
      child.stdout.off('data', onData);
      child.stdout.on('data', (more) => {
        out += more;
      });
      const pid = child.pid!;
      resolve({
        port: Number(m[1]),
        cpuSeconds: () => procCpuSeconds(pid),
        peakRssMb: () => procMemoryMb(pid).hwm,
        log: () => out,
        close: () =>
          new Promise((done) => {
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.once('exit', (code) => reject(new Error(`ferry serve exited (${code}):\n${out}`)));
  });
}
