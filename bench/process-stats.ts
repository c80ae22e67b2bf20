import { readFileSync } from 'node:fs';

// A child process's CPU time and memory, from /proc (Linux).

const clockTicks = 100; // USER_HZ: 100 on Linux for every architecture Node runs on

/** CPU seconds of the process so far, every thread. */
export function procCpuSeconds(pid: number): number {
  // /proc/<pid>/stat: fields after the command's closing parenthesis; utime and stime are 14 and 15
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTicks;
}

/** Resident memory, MB: now (total, anonymous, file-backed and shared) and the peak (VmHWM). */
export function procMemoryMb(pid: number): { rss: number; anon: number; file: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem'), hwm: kb('VmHWM') };
}

/** The process and its descendants (Feast's server forks workers). */
export function procTree(pid: number): number[] {
  const out = [pid];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    for (const c of children.split(/\s+/).filter(Boolean)) out.push(...procTree(Number(c)));
  } catch {
    // gone
  }
  return out;
}
