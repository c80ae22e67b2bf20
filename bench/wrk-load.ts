import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../config/module-files.ts';

// Load from Debian's `wrk` in a separate process (-t1), on 127.0.0.1 only, bounded by its duration:
// bench/reader-wrk.lua draws the keys (see there) and writes the result as one JSON line.

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  socket_errors: number;
  non2xx: number;
}

export type KeyDistribution = 'cycle' | 'uniform' | 'zipf';

export interface WrkLoad {
  port: number;
  /** Ferry: the feature name; Feast: the comma-separated feature references. */
  feature: string;
  keys: number;
  batch: number;
  dist: KeyDistribution;
  seconds: number;
  connections: number;
  token?: string;
  api?: 'ferry' | 'feast';
}

const luaScript = path.join(projectRoot, 'bench', 'reader-wrk.lua');

/** Exits with the install command when wrk is missing. */
export function requireWrk(): void {
  if (spawnSync('wrk', ['--version']).error) {
    console.error(
      'wrk is not installed. Install it with:\n  apt-get update && apt-get install -y wrk   (sudo if not root)',
    );
    process.exit(1);
  }
}

/** Runs wrk (asynchronously: this thread may be the server). */
export function runWrk(load: WrkLoad): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', [
      '-t1',
      `-c${load.connections}`,
      `-d${load.seconds}s`,
      '--timeout',
      '5s',
      '-s',
      luaScript,
      `http://127.0.0.1:${load.port}`,
      '--',
      load.feature,
      String(load.keys),
      String(load.batch),
      load.token ?? '',
      String(load.batch === 1 ? 20_000 : 2_000),
      load.dist,
      load.api ?? 'ferry',
    ]);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    p.on('close', () => {
      const m = /RESULT (\{.*\})/.exec(out);
      if (!m) reject(new Error(`wrk gave no result:\n${out}`));
      else resolve(JSON.parse(m[1]!) as WrkResult);
    });
  });
}
