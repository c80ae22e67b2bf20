import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Settings } from '../../config/settings.ts';
import {
  dropDataset,
  dropKeyspace,
  openStores,
  type Stores,
  testEnv,
  testSettings,
  uniqueNames,
} from './commands-harness.ts';
import {
  type FerryProcess,
  root,
  runFerry,
  spawnFerry,
  spawnFerryReader,
  spawnFerryWorker,
} from './ferry-process.ts';
import { requireServer } from './servers.ts';

// Issue 19 as an ML engineer meets it: a transform puts 30,000,000,000 into a field declared Int;
// the upsync dead-letters those rows; the engineer declares the field Long, applies, replays, and
// every value is served with no dead letter left. On the embedded default (`ferry start`, its
// worker, and `ferry replay` from another shell, as it prints) and on the real servers (`ferry
// apply`, `ferry worker`, `ferry upsync`, `ferry replay`, `ferry serve` against Cassandra, the
// BigQuery emulator and Temporal). A narrowing (Long → Int) is refused and changes nothing; a
// change apply refuses goes to a `-v2` that takes the old feature's letters (--from-feature).

const overflow = 30_000_000_000;
const auth = { authorization: 'Bearer ferry-sample-app-token' };

async function getJson(url: string) {
  const res = await fetch(url, { headers: auth });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('widen a field and replay its dead letters on the embedded default (ferry start)', () => {
  const project = mkdtempSync(path.join(tmpdir(), 'ferry-widen-start-'));
  const dataDir = path.join(project, 'data');
  const featuresFile = path.join(project, 'features', 'azar.yaml');
  const startEnv = {
    FERRY_FEATURES_DIR: path.join(project, 'features'),
    FERRY_SQL_DIR: path.join(project, 'sql'),
    FERRY_TOKENS_FILE: path.join(root, 'tokens.yaml'),
    FERRY_DATA_DIR: undefined,
    FERRY_READER_PORT: undefined,
  };
  const running: FerryProcess[] = [];

  interface Ready {
    readerUrl: string;
    cliEnv: Record<string, string>;
    deadLetters: { feature: string; count: number; more: boolean; reason: string }[];
    showcase: { userId: number };
  }

  /** `ferry start --json` on the project's copy of features/ and sql/; resolves with its ready line. */
  async function start(): Promise<{ p: FerryProcess; ready: Ready }> {
    const p = spawnFerry(
      [
        'start',
        '--json',
        '--users',
        '3000',
        '--data-dir',
        dataDir,
        '--port',
        '0',
        '--temporal-port',
        '0',
        '--temporal-ui-port',
        '0',
      ],
      startEnv,
      /^(\{"ready":true.*)\n/m,
      { readyTimeoutMs: 180_000 },
    );
    running.push(p);
    const m = await p.ready;
    return { p, ready: JSON.parse(m[1]!) as Ready };
  }

  const setLevelType = (type: string) =>
    writeFileSync(
      featuresFile,
      readFileSync(featuresFile, 'utf8').replace(/( {4}level:\n {6}type: )\w+/, `$1${type}`),
    );

  beforeAll(() => {
    cpSync(path.join(root, 'features'), path.join(project, 'features'), { recursive: true });
    cpSync(path.join(root, 'sql'), path.join(project, 'sql'), { recursive: true });
    // the mistake: level declared Int, and a transform that gives every 50th user a level beyond 2^31
    setLevelType('Int');
    const sqlFile = path.join(project, 'sql', 'azar', 'user_profile.sql');
    const sql = readFileSync(sqlFile, 'utf8');
    expect(sql).toContain('  p.level,\n');
    writeFileSync(
      sqlFile,
      sql.replace(
        '  p.level,\n',
        `  CASE WHEN MOD(c.user_id, 50) = 0 THEN ${overflow} ELSE p.level END AS level,\n`,
      ),
    );
  });

  afterAll(async () => {
    for (const p of running) await p.stop().catch(() => {});
    rmSync(project, { recursive: true, force: true });
  });

  it('overflow → dead letters → widen → start again → replay as printed → every value served', async () => {
    const first = await start();
    const letters = first.ready.deadLetters.find((d) => d.feature === 'azar::user-profile');
    expect(letters, JSON.stringify(first.ready.deadLetters)).toBeDefined();
    expect(letters!.count).toBeGreaterThanOrEqual(50);
    expect(letters!.reason).toBe(`level: expected Int (32-bit), got ${overflow}`);
    const { userId } = first.ready.showcase;
    const overflowing = Math.floor(userId / 50) * 50;
    const fitting = userId % 50 === 0 ? userId - 1 : userId;
    const before = await getJson(`${first.ready.readerUrl}/v1/features/azar::user-profile/${overflowing}`);
    expect(before.body).toMatchObject({ found: false });
    expect((await first.p.stop()) ?? 0).toBe(0);

    // the fix: declare it Long; starting again applies the widening in place
    setLevelType('Long');
    const second = await start();
    expect(second.p.log()).toMatch(/schema\.level\.type: "Int" → "Long" \(widened/);
    expect(second.ready.deadLetters.find((d) => d.feature === 'azar::user-profile')?.count).toBe(
      letters!.count,
    );
    // values stored before the widening read as before
    const untouched = await getJson(`${second.ready.readerUrl}/v1/features/azar::user-profile/${fitting}`);
    expect(untouched.body).toMatchObject({ found: true });
    expect(typeof (untouched.body.values as { level: unknown }).level).toBe('number');

    // another shell, as the ready output says
    const replay = await runFerry(['replay', 'azar::user-profile', '--wait', '--json'], second.ready.cliEnv);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout).result).toMatchObject({
      state: 'done',
      read: letters!.count,
      applied: letters!.count,
      stillFailing: 0,
    });
    const after = await getJson(`${second.ready.readerUrl}/v1/features/azar::user-profile/${overflowing}`);
    expect(after.body).toMatchObject({ found: true, values: { level: overflow } });
    const again = await runFerry(['replay', 'azar::user-profile', '--wait', '--json'], second.ready.cliEnv);
    expect(JSON.parse(again.stdout).result).toMatchObject({ read: 0, applied: 0 });
    expect((await second.p.stop()) ?? 0).toBe(0);

    // a narrowing (Long → Int) is refused: ferry start stops before changing anything
    setLevelType('Int');
    const refused = await runFerry(
      ['start', '--data-dir', dataDir, '--port', '0', '--temporal-port', '0', '--temporal-ui-port', '0'],
      startEnv,
      { timeoutMs: 180_000 },
    );
    expect(refused.code, refused.stderr).toBe(1);
    expect(`${refused.stdout}${refused.stderr}`).toContain(
      'schema.level.type: changing a field type makes stored values unreadable (publish it under a new version name, e.g. azar::user-profile-v2)',
    );
    const described = await runFerry(['describe', 'azar::user-profile', '--json'], second.ready.cliEnv);
    expect(described.code, described.stderr).toBe(0);
    expect(
      JSON.parse(described.stdout).definition.fields.find((f: { name: string }) => f.name === 'level').type,
    ).toEqual({ kind: 'scalar', scalar: 'Long' });

    // and the data is as it was: start again with Long, the value is still served
    setLevelType('Long');
    const third = await start();
    expect(third.ready.deadLetters.find((d) => d.feature === 'azar::user-profile')).toBeUndefined();
    const kept = await getJson(`${third.ready.readerUrl}/v1/features/azar::user-profile/${overflowing}`);
    expect(kept.body).toMatchObject({ found: true, values: { level: overflow } });
  }, 600_000);
});

describe('widen, replay and --from-feature against Cassandra, the BigQuery emulator and Temporal', () => {
  const names = uniqueNames('widen');
  const ns = `widen${process.pid}x${Date.now() % 1_000_000}`;
  const taskQueue = `ferry-widen-${names.topic}`;
  const project = mkdtempSync(path.join(tmpdir(), 'ferry-widen-'));
  const featuresFile = path.join(project, 'features', 'widen.yaml');
  let env: Record<string, string>;
  let settings: Settings;
  let stores: Stores;
  let worker: FerryProcess | undefined;
  const t0 = Date.parse('2024-03-10T00:00:00Z');
  const users = 1_000;

  const scoreFeature = (type: string) => `
${ns}::user-score:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    score: { type: ${type}, default_value: 0 }
  upsync:
    enabled: true
    incremental_update: true
    source: { table: widen_scores }
  access:
    readers: ["*"]
`;
  const codeFeature = (name: string, type: string) => `
${ns}::${name}:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    code: { type: ${type}, default_value: ${type === 'Text' ? '""' : '0'} }
  upsync:
    enabled: true
    incremental_update: true
    source: { table: widen_codes }
  access:
    readers: ["*"]
`;
  const writeFeatures = (yaml: string) => writeFileSync(featuresFile, yaml);
  const ferry = async (...args: string[]) => {
    const r = await runFerry(args, env);
    return { ...r, out: `${r.stdout}${r.stderr}` };
  };
  const json = async (...args: string[]) => {
    const r = await ferry(...args);
    expect(r.code, r.out).toBe(0);
    return JSON.parse(r.stdout) as { result: Record<string, unknown> } & Record<string, unknown>;
  };

  beforeAll(async () => {
    for (const s of ['cassandra', 'temporal', 'bigquery'] as const) await requireServer(s);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.dirname(featuresFile), { recursive: true });
    env = {
      ...testEnv(names),
      FERRY_KAFKA_BROKERS: '',
      FERRY_TEMPORAL_TASK_QUEUE: taskQueue,
      FERRY_FEATURES_DIR: path.join(project, 'features'),
      FERRY_TOKENS_FILE: path.join(root, 'tokens.yaml'),
      FERRY_READER_THREADS: '1',
      FERRY_READER_CACHE_MB: '0',
    };
    settings = testSettings(names);
    writeFeatures(scoreFeature('Int') + codeFeature('user-code', 'Long'));
    const applied = await ferry('apply');
    expect(applied.code, applied.out).toBe(0);
    stores = await openStores(settings);
    const L = { kind: 'scalar', scalar: 'Long' } as const;
    await stores.offline.ensureTable('widen_scores', [
      { name: 'user_id', type: L },
      { name: 'score', type: L },
      { name: '_last_updated_at_ms', type: L },
    ]);
    // every 50th score is beyond 2^31
    await stores.offline.appendRows(
      'widen_scores',
      Array.from({ length: users }, (_, i) => ({
        user_id: i + 1,
        score: (i + 1) % 50 === 0 ? overflow + i : i * 7,
        _last_updated_at_ms: t0 + i,
      })),
    );
    await stores.offline.ensureTable('widen_codes', [
      { name: 'user_id', type: L },
      { name: 'code', type: { kind: 'scalar', scalar: 'Text' } },
      { name: '_last_updated_at_ms', type: L },
    ]);
    // codes were numbers until some became text: every 10th is "A-<n>"
    await stores.offline.appendRows(
      'widen_codes',
      Array.from({ length: 200 }, (_, i) => ({
        user_id: i + 1,
        code: (i + 1) % 10 === 0 ? `A-${i}` : String(i),
        _last_updated_at_ms: t0 + i,
      })),
    );
    worker = spawnFerryWorker(env, taskQueue);
    await worker.ready;
  }, 240_000);

  afterAll(async () => {
    await worker?.stop();
    if (stores) {
      await dropDataset(stores.offline).catch(() => {});
      await stores.close();
    }
    await dropKeyspace(names.keyspace).catch(() => {});
    rmSync(project, { recursive: true, force: true });
  }, 120_000);

  it('overflow → dead letters → widen → apply → replay → every value served, no dead letter left', async () => {
    const name = `${ns}::user-score`;
    const up = await json('upsync', name, '--wait', '--json');
    expect(up.result).toMatchObject({
      state: 'done',
      rowsRead: users,
      rowsWritten: users - 20,
      rowsDeadLettered: 20,
    });
    const letters = await stores.offline.readDeadLetters(name);
    expect(letters).toHaveLength(20);
    for (const l of letters) expect(l.reason).toMatch(/^score: expected Int \(32-bit\), got 3000000\d{4}$/);

    // a replay before the fix changes nothing: the letters stay
    expect((await json('replay', name, '--wait', '--json')).result).toMatchObject({
      read: 20,
      applied: 0,
      stillFailing: 20,
      reasons: expect.arrayContaining([expect.stringMatching(/expected Int \(32-bit\)/)]),
    });

    writeFeatures(scoreFeature('Long') + codeFeature('user-code', 'Long'));
    const plan = await ferry('plan');
    expect(plan.code, plan.out).toBe(0);
    expect(plan.stdout).toContain(
      '~ schema.score.type: "Int" → "Long" (widened: stored Int values read as Long; the offline column is altered)',
    );
    const applied = await ferry('apply');
    expect(applied.code, applied.out).toBe(0);

    expect((await json('replay', name, '--wait', '--json')).result).toMatchObject({
      state: 'done',
      read: 20,
      applied: 20,
      stillFailing: 0,
    });
    expect(await stores.offline.readDeadLetters(name)).toEqual([]);

    const reader = await spawnFerryReader(env, ['--threads', '1']);
    try {
      const res = await fetch(`${reader.url}/v1/features/lookup`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          requests: [{ feature: name, keys: Array.from({ length: users }, (_, i) => ({ user_id: i + 1 })) }],
        }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        results: { rows: { found: boolean; values: { score: number } }[] }[];
      };
      const scores = body.results[0]!.rows.map((r) => (r.found ? r.values.score : undefined));
      // written before the widening (as Int) and after (as Long), all served
      expect(scores).toEqual(
        Array.from({ length: users }, (_, i) => ((i + 1) % 50 === 0 ? overflow + i : i * 7)),
      );
    } finally {
      await reader.stop();
    }

    // a narrowing is refused with the message it always had, and changes nothing
    writeFeatures(scoreFeature('Int') + codeFeature('user-code', 'Long'));
    const refused = await ferry('apply');
    expect(refused.code).toBe(1);
    expect(refused.out).toContain(
      `schema.score.type: changing a field type makes stored values unreadable (publish it under a new version name, e.g. ${ns}::user-score-v2)`,
    );
    const described = await json('describe', name, '--json');
    expect(
      (described.definition as { fields: { name: string; type: unknown }[] }).fields.find(
        (f) => f.name === 'score',
      )!.type,
    ).toEqual({ kind: 'scalar', scalar: 'Long' });
  }, 300_000);

  it('a change apply refuses goes to a -v2 that takes the old feature’s dead letters (--from-feature)', async () => {
    const old = `${ns}::user-code`;
    const v2 = `${ns}::user-code-v2`;
    expect((await json('upsync', old, '--wait', '--json')).result).toMatchObject({
      rowsWritten: 180,
      rowsDeadLettered: 20,
    });
    expect((await stores.offline.readDeadLetters(old)).map((l) => l.reason)).toContain(
      'code: expected Long, got "A-9"',
    );

    // Long → Text is refused in place; -v2 declares Text and the old one leaves features/ (retired)
    writeFeatures(scoreFeature('Long') + codeFeature('user-code-v2', 'Text'));
    const applied = await ferry('apply');
    expect(applied.code, applied.out).toBe(0);
    expect(applied.out).toContain(old);

    const bad = await ferry('replay', v2, '--from-feature', v2);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`--from-feature names ${v2} itself`);
    const unknown = await ferry('replay', v2, '--from-feature', `${ns}::no-such`);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no-such');

    const moved = await json('replay', v2, '--from-feature', old, '--wait', '--json');
    expect(moved).toMatchObject({ workflowId: `replay/${v2}/from/${old}` });
    expect(moved.result).toMatchObject({
      state: 'done',
      fromFeature: old,
      read: 20,
      applied: 20,
      stillFailing: 0,
    });
    expect(await stores.offline.readDeadLetters(old)).toEqual([]);
    expect(await stores.offline.readDeadLetters(v2)).toEqual([]);

    const reader = await spawnFerryReader(env, ['--threads', '1']);
    try {
      // the letters are in -v2 now; the rows that passed before are not (yet)
      expect((await getJson(`${reader.url}/v1/features/${v2}/10`)).body).toMatchObject({
        found: true,
        values: { code: 'A-9' },
      });
      expect((await getJson(`${reader.url}/v1/features/${v2}/11`)).body).toMatchObject({ found: false });
      // they come with the first upsync of -v2
      expect((await json('upsync', v2, '--wait', '--json')).result).toMatchObject({ rowsWritten: 200 });
      expect((await getJson(`${reader.url}/v1/features/${v2}/11`)).body).toMatchObject({
        found: true,
        values: { code: '10' },
      });
    } finally {
      await reader.stop();
    }
  }, 300_000);
});
