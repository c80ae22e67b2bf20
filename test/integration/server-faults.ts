import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ServerName } from './servers.ts';

// Faults of the local servers for the fault tests, only through what infra/ started: the pid in
// .infra/run/<name>.pid (the leader of the server's own process group), and infra/up.sh to start
// it again. Nothing is found or stopped by name.

const root = path.resolve(import.meta.dirname, '../..');
const exec = promisify(execFile);

/** The pid infra/up.sh recorded for a server. */
export function serverPid(name: ServerName): number {
  const file = path.join(root, '.infra/run', `${name}.pid`);
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error(`${file} holds no pid`);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2];
    return state !== 'Z';
  } catch {
    return false;
  }
}

/**
 * SIGKILL to the server's process group, as a crash or the OOM killer would end it (no shutdown,
 * no flush); resolves once the process is gone.
 */
export async function killServer(name: ServerName): Promise<void> {
  const pid = serverPid(name);
  process.kill(-pid, 'SIGKILL');
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) throw new Error(`${name} (pid ${pid}) still runs 10 s after SIGKILL`);
}

/** Starts a server with the project's own script and waits until it answers. */
export async function startServer(name: ServerName): Promise<void> {
  await exec('bash', ['infra/up.sh', name], { cwd: root, timeout: 240_000 });
}
