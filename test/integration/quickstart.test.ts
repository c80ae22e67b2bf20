import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DAY,
  generateSampleData,
  HOUR,
  MINUTE,
  type SampleConfig,
  type SampleData,
  sampleLogicalDateOf,
} from '../../samples/index.ts';
import { ferryBin, ferryEnv } from '../ferry-bin.ts';

// `ferry start` end to end (issue 9): it runs as a child process on a temporary data folder and
// free ports, with no infra server of its own (it starts a Temporal dev server itself). The test
// waits for the ready line, runs the printed curl lines' requests and checks the values against
// the generator's deterministic output, pushes a command and reads it back, stops it with SIGINT
// and checks that nothing it started is left; then starts it again on the same folder (nothing is
// reloaded, the pushed value is still there) and stops it with SIGTERM.

const root = path.resolve(import.meta.dirname, '../..');
const users = 3_000;
const readyTimeoutMs = 150_000;
const stopTimeoutMs = 60_000;

interface ReadyInfo {
  ready: true;
  readerUrl: string;
  temporalAddress: string;
  temporalUi: string;
  token: string;
  dataDir: string;
  pids: { ferry: number; temporal: number };
  curl: string[];
  push: { curl: string };
  showcase: { userId: number; peerIds: number[]; roomId: string };
  sample: SampleConfig;
  elapsedMs: number;
  steps: { step: string; ms: number }[];
}

class StartProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every process seen under the child while it ran. */
  readonly seen = new Set<number>();

  constructor(args: string[]) {
    const { FERRY_DATA_DIR: _d, FERRY_READER_PORT: _p, ...env } = process.env;
    this.child = spawn(ferryBin, ['start', ...args], {
      cwd: root,
      env: ferryEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.seen.add(this.child.pid!);
    this.child.stdout!.on('data', (b: Buffer) => {
      this.stdout += b.toString();
    });
    this.child.stderr!.on('data', (b: Buffer) => {
      this.stderr += b.toString();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get output(): string {
    return `--- stdout\n${this.stdout.slice(-4000)}\n--- stderr\n${this.stderr.slice(-4000)}`;
  }

  /** Waits until `test` finds what it wants in the output; fails when the child exits first or time runs out. */
  async waitFor<T>(what: string, test: () => T | undefined, timeoutMs = readyTimeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    for (;;) {
      for (const pid of descendants(this.child.pid!)) this.seen.add(pid);
      const found = test();
      if (found !== undefined) return found;
      if (exited) throw new Error(`ferry start exited before ${what}\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s\n${this.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    for (const pid of descendants(this.child.pid!)) this.seen.add(pid);
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`ferry start did not stop within ${stopTimeoutMs / 1000} s\n${this.output}`)),
          stopTimeoutMs,
        );
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  /** After a failed test: stop what this test started (the child, then anything seen under it). */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    for (const pid of this.seen) if (running(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** ppid of every process (from /proc). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(e), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function descendants(pid: number): number[] {
  const ppid = parents();
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const [child, parent] of ppid) {
      if (parent === p && !out.includes(child)) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Processes whose command line names the folder (anything started for this data folder). */
function processesUsing(folder: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(folder) && running(Number(e)))
        out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Splits a printed curl line as a POSIX shell would (single quotes, `'\''`). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + line[++i];
    } else if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

interface Entry {
  values: Record<string, unknown>;
  _last_updated_at_ms: number;
}
interface Row extends Entry {
  found: boolean;
  entries: Entry[];
}
/** The reader's answers, as far as these checks read them. */
interface Reply extends Row {
  feature: string;
  results: { feature: string; rows: Row[] }[];
  accepted: number;
  mode: string;
}

/** Runs a printed curl line's request with fetch. */
async function runCurl(line: string): Promise<{ status: number; body: Reply }> {
  const words = shellWords(line);
  expect(words[0]).toBe('curl');
  const headers: Record<string, string> = {};
  let body: string | undefined;
  let url: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-s') continue;
    if (w === '-H') {
      const [name, ...value] = words[++i]!.split(':');
      headers[name!.trim().toLowerCase()] = value.join(':').trim();
    } else if (w === '-d') body = words[++i];
    else if (w.startsWith('-')) throw new Error(`unexpected curl option ${w} in: ${line}`);
    else url = w;
  }
  const res = await fetch(url!, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

// ------------------------------------------------------------------ expected values

/** azar::user-profile of a user as sql/azar/user_profile.sql computes it over all the data. */
function expectedProfile(data: SampleData, userId: number) {
  const rows = data.users.filter((r) => r.user_id === userId && (r.updated_at as number) < data.config.endMs);
  const p = rows.at(-1)!;
  const matches = data.matchEvents.filter((m) => m.user_id === userId);
  return {
    gender: p.gender,
    country_code: p.country_code,
    age: Number(sampleLogicalDateOf(data.config).slice(0, 4)) - (p.birth_year as number),
    level: p.level,
    avg_chat_sec: matches.reduce((s, m) => s + m.chat_duration_sec, 0) / matches.length,
    eventTimeMs: Math.max(p.updated_at as number, ...matches.map((m) => m.event_time)),
  };
}

/** azar-lounge::user-interaction of a user as sql/azar-lounge/user_interaction.sql computes it for a window ending at `end`. */
function expectedInteraction(data: SampleData, userId: number, end: number) {
  const scanned = data.loungeEvents.filter((e) => e.event_time < end);
  const recent = scanned.filter((e) => e.event_time >= end - 7 * DAY);
  if (!scanned.some((e) => e.user_id === userId || e.target_user_id === userId)) return undefined;
  const likes = recent.filter((e) => e.event_type === 'like');
  const likers = new Set(likes.filter((e) => e.target_user_id === userId).map((e) => e.user_id));
  const likedBack = [...likers].filter((l) =>
    likes.some((e) => e.user_id === userId && e.target_user_id === l),
  );
  const own = scanned.filter((e) => e.user_id === userId).map((e) => e.event_time);
  return {
    sent_like_count_7d: likes.filter((e) => e.user_id === userId).length,
    received_like_count_7d: likes.filter((e) => e.target_user_id === userId).length,
    profile_view_count_7d: recent.filter((e) => e.user_id === userId && e.event_type === 'profile_view')
      .length,
    like_back_ratio_7d: likers.size === 0 ? 0 : likedBack.length / likers.size,
    last_interaction_at: own.length > 0 ? new Date(Math.max(...own)).toISOString() : undefined,
  };
}

/** The has_guest the room's last guest event sets, through live-room-context's rules (ENTRANCE true, LEAVE false). */
function expectedHasGuest(data: SampleData, roomId: string): boolean {
  const last = data.liveRoomEvents
    .filter((e) => e.participantType === 'GUEST' && e.liveRoomId === roomId)
    .sort((a, b) => a.timestampMillis - b.timestampMillis)
    .at(-1)!;
  return last.eventType === 'ENTRANCE';
}

// ------------------------------------------------------------------ the test

const dataDir = mkdtempSync(path.join(tmpdir(), 'ferry-quickstart-'));
const started: StartProcess[] = [];
let info: ReadyInfo;
let data: SampleData;

function start(args: string[]): StartProcess {
  const p = new StartProcess([
    '--data-dir',
    dataDir,
    '--port',
    '0',
    '--temporal-port',
    '0',
    '--temporal-ui-port',
    '0',
    ...args,
  ]);
  started.push(p);
  return p;
}

afterAll(async () => {
  for (const p of started) await p.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('ferry start', () => {
  let first: StartProcess;

  beforeAll(async () => {
    first = start(['--users', String(users), '--json']);
    info = await first.waitFor('ready JSON line', () => {
      const line = first.stdout.split('\n').find((l) => l.startsWith('{') && l.includes('"ready":true'));
      return line ? (JSON.parse(line) as ReadyInfo) : undefined;
    });
    data = generateSampleData(info.sample);
  }, readyTimeoutMs + 10_000);

  it('says where everything is and which processes it started', async () => {
    expect(first.stderr).toContain('Ferry is ready');
    expect(info.sample.users).toBe(users);
    expect(info.pids.ferry).toBe(first.child.pid);
    expect(first.seen.has(info.pids.temporal)).toBe(true);
    expect(info.readerUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.dataDir).toBe(dataDir);
    expect(info.curl).toHaveLength(3);
    const ui = await fetch(`${info.temporalUi}/`, { signal: AbortSignal.timeout(10_000) });
    expect(ui.status).toBe(200);
    // timings of the long steps
    expect(info.steps.map((s) => s.step)).toEqual(
      expect.arrayContaining([
        'temporal dev server',
        'load sample data',
        'apply',
        'transforms and upsync',
        'push commands and events',
        'history of azar-match::match-stats',
      ]),
    );
  });

  it('prints three curl lines that return the sample values', async () => {
    const { userId, peerIds, roomId } = info.showcase;

    // 1: a profile from the batch upsync (transform → offline table → online store)
    const profile = await runCurl(info.curl[0]!);
    expect(profile.status).toBe(200);
    const want = expectedProfile(data, userId);
    expect(profile.body).toMatchObject({
      feature: 'azar::user-profile',
      found: true,
      values: { gender: want.gender, country_code: want.country_code, age: want.age, level: want.level },
      _last_updated_at_ms: want.eventTimeMs,
    });
    expect(profile.body.values.avg_chat_sec).toBeCloseTo(want.avg_chat_sec, 6);

    // 2: a batch lookup: lounge stats (upsync) of the user and their partners, their latest matches (commands)
    const readFromMs = Date.now();
    const batch = await runCurl(info.curl[1]!);
    expect(batch.status).toBe(200);
    const [interaction, recent, stats] = batch.body.results as [
      Reply['results'][0],
      Reply['results'][0],
      Reply['results'][0],
    ];
    expect(interaction.feature).toBe('azar-lounge::user-interaction');
    [userId, ...peerIds].forEach((id, i) => {
      const row = interaction.rows[i]!;
      // the row was written by the run whose window ended at its event time (a scheduled run may follow ours)
      const expected = row.found ? expectedInteraction(data, id, row._last_updated_at_ms) : undefined;
      if (!row.found) {
        expect(expectedInteraction(data, id, data.config.endMs), `user ${id}`).toBeUndefined();
        return;
      }
      const { last_interaction_at, ...counts } = expected!;
      expect(row.values, `user ${id}`).toMatchObject(counts);
      if (last_interaction_at) expect(row.values.last_interaction_at).toBe(last_interaction_at);
    });
    expect(recent.feature).toBe('azar-match::recent-matches');
    const latest = data.matchEvents
      .filter(
        (m) =>
          m.user_id === userId && m.event_time >= data.config.endMs - data.config.recentMatchHours * HOUR,
      )
      .sort((a, b) => b.event_time - a.event_time)
      .slice(0, 3);
    expect(latest.length).toBeGreaterThan(0);
    const country = new Map(data.users.map((r) => [r.user_id, r.country_code]));
    expect(
      recent.rows[0]!.entries.map((e) => [
        e.values.peer_user_id,
        e.values.chat_duration_sec,
        e.values.peer_country_code,
        e._last_updated_at_ms,
      ]),
    ).toEqual(
      latest.map((m) => [m.peer_user_id, m.chat_duration_sec, country.get(m.peer_user_id), m.event_time]),
    );

    // the match counts of an Aggregation feature: the day's matches came live, the month before
    // them from the warehouse's event log (the events backfill ferry start runs): every match of
    // the user in its lifetime count, those of the last 30 days in its average
    expect(stats.feature).toBe('azar-match::match-stats');
    const mine = data.matchEvents.filter((m) => m.user_id === userId);
    expect(mine.some((m) => m.event_time < data.config.endMs - data.config.recentMatchHours * HOUR)).toBe(
      true,
    );
    expect(stats.rows[0]!).toMatchObject({ found: true });
    const statValues = stats.rows[0]!.values as Record<string, number>;
    expect(statValues.match_count_lifetime).toBe(mine.length);
    // the window's old end moves with the read (about now − 30 days, to the minute): the averages of
    // the events it can hold between the start of this test and now
    const avgSince = (fromMs: number) => {
      const xs = mine.filter((m) => m.event_time >= fromMs);
      return xs.reduce((sum, m) => sum + m.chat_duration_sec, 0) / xs.length;
    };
    const oldEnd = (t: number) => Math.floor((t - 30 * DAY + 1) / MINUTE) * MINUTE;
    const [lo, hi] = [oldEnd(readFromMs), oldEnd(Date.now())];
    const candidates = [lo, hi, ...mine.map((m) => m.event_time).filter((t) => t > lo && t <= hi)].map(
      avgSince,
    );
    expect(
      candidates.some((c) => Math.abs(c - statValues.avg_chat_duration_30d!) < 1e-9),
      `${statValues.avg_chat_duration_30d} among ${candidates}`,
    ).toBe(true);
    expect(Object.keys(statValues).sort()).toEqual([
      'avg_chat_duration_30d',
      'match_count_1h',
      'match_count_lifetime',
      'recent_10min_match_count',
    ]);

    // 3: a real-time value set by the live-room commands
    const room = await runCurl(info.curl[2]!);
    expect(room.status).toBe(200);
    expect(room.body).toMatchObject({
      feature: 'live::live-room-context',
      found: true,
      values: { has_guest: expectedHasGuest(data, roomId) },
    });
  });

  it('takes a command through push and serves it; an older one does not overwrite it', async () => {
    const { roomId } = info.showcase;
    const before = expectedHasGuest(data, roomId);
    const get = () =>
      runCurl(info.curl[2]!).then((r) => {
        expect(r.status).toBe(200);
        return r.body;
      });
    // the printed push line flips has_guest
    const pushed = await runCurl(info.push.curl);
    expect(pushed.status).toBe(200);
    expect(pushed.body).toMatchObject({ accepted: 1, mode: 'applied' });
    const after = await get();
    expect(after.values.has_guest).toBe(!before);

    // a newer command wins, an older one is ignored (event time, not arrival order)
    const push = (hasGuest: boolean, at: number) =>
      fetch(`${info.readerUrl}/v1/commands`, {
        method: 'POST',
        headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          feature_name: 'live::live-room-context',
          method: 'UPDATE',
          keys: { live_room_id: roomId },
          values: { has_guest: hasGuest, _last_updated_at_ms: at },
        }),
      });
    const newest = after._last_updated_at_ms + 60_000;
    expect((await push(before, newest)).status).toBe(200);
    expect((await get()).values.has_guest).toBe(before);
    expect((await push(!before, newest - 1_000)).status).toBe(200);
    expect(await get()).toMatchObject({ values: { has_guest: before }, _last_updated_at_ms: newest });

    // a command that does not fit the definition is refused whole, naming the field
    const refused = await fetch(`${info.readerUrl}/v1/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        feature_name: 'live::live-room-context',
        method: 'UPDATE',
        keys: { live_room_id: roomId },
        values: { has_guest: 'maybe', _last_updated_at_ms: newest + 1 },
      }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { field: 'values.has_guest' } });
    expect((await get()).values.has_guest).toBe(before);
  });

  it(
    'stops everything it started on SIGINT and exits 0',
    async () => {
      const pids = new Set([...first.seen, info.pids.ferry, info.pids.temporal]);
      const { code } = await first.stop('SIGINT');
      expect(code, first.output).toBe(0);
      expect(first.stderr).toContain('Stopped.');
      await new Promise((r) => setTimeout(r, 500));
      expect([...pids].filter(running)).toEqual([]);
      expect(processesUsing(dataDir)).toEqual([]);
      expect(existsSync(path.join(dataDir, 'run', 'temporal.pid'))).toBe(false);
    },
    stopTimeoutMs + 10_000,
  );

  it(
    'starts again on the same folder without reloading, keeps what was pushed, and stops on SIGTERM',
    async () => {
      const again = start([]);
      const readyAt = await again.waitFor('ready line', () =>
        again.stdout.includes('Ferry is ready') ? true : undefined,
      );
      expect(readyAt).toBe(true);
      expect(again.stdout).toContain('sample data: already loaded');
      expect(again.stdout).toContain('commands: pushed on an earlier start');
      // the text output carries the same three curl lines (on new ports)
      const curls = again.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.startsWith('curl '));
      expect(curls).toHaveLength(4); // three lookups and the push example
      const profile = await runCurl(curls[0]!);
      expect(profile.body.values.level).toBe(expectedProfile(data, info.showcase.userId).level);
      const room = await runCurl(curls[2]!);
      expect(room.body.values.has_guest).toBe(expectedHasGuest(data, info.showcase.roomId)); // as pushed last

      const pids = new Set([...again.seen, again.child.pid!]);
      const { code } = await again.stop('SIGTERM');
      expect(code, again.output).toBe(0);
      await new Promise((r) => setTimeout(r, 500));
      expect([...pids].filter(running)).toEqual([]);
      expect(processesUsing(dataDir)).toEqual([]);
    },
    readyTimeoutMs + stopTimeoutMs,
  );
});
