import { ApplicationFailure } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkMark, UpsyncStateRecord } from '../../activities/sync-state.ts';
import { TokenBucket } from '../../activities/token-bucket.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { ColumnSpec, OfflineStore } from '../../stores/offline/offline-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { backfillStateKey, upsyncStateKey } from '../../workflow-contract/ids.ts';
import { previousFireTime, scheduledWindow } from '../../workflows/cron-window.ts';
import {
  activitiesFor,
  applyDefinition,
  closeWorkflowTestEnv,
  definitionsOf,
  type EmbeddedEnv,
  openEmbeddedEnv,
  runActivity,
  runSyncWorkflow,
} from './workflows-harness.ts';

// The activities of the upsync, backfill, retention and replay workflows against the embedded
// stores (LMDB + DuckDB in a temporary folder), run in MockActivityEnvironment: no Temporal server.
// The workflows themselves run against the Temporal dev server in
// test/integration/workflows-embedded.test.ts (they need the Temporal binary) and
// test/integration/workflows-faults.test.ts.

const L = { kind: 'scalar', scalar: 'Long' } as const;
const T = { kind: 'scalar', scalar: 'Text' } as const;
const srcColumns: ColumnSpec[] = [
  { name: 'user_id', type: L },
  { name: 'level', type: T }, // text in the warehouse: "7" coerces to Long, "high" does not
  { name: 'nick', type: T },
  { name: '_last_updated_at_ms', type: L },
];

const yaml = (name: string, table: string, extra = '') => `
${name}:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
    nick: { type: Text, default_value: "" }
  upsync:
    enabled: true
    incremental_update: true
    source: { table: ${table} }
${extra}`;

const sql = {
  'wf/broken.sql': `-- A transform with a SQL error on line 4.
-- ferry:destination wf_broken_out
SELECT user_id,
  no_such_column AS level
FROM wf_src_a
`,
};

let env: EmbeddedEnv;
const T0 = Date.parse('2024-03-10T00:00:00Z');

async function table(
  store: OfflineStore,
  name: string,
  rows: Record<string, unknown>[],
  columns = srcColumns,
) {
  await store.ensureTable(name, columns);
  if (rows.length > 0) await store.appendRows(name, rows);
}

const rowsOf = (from: number, to: number, t = (i: number) => T0 + i) =>
  Array.from({ length: to - from + 1 }, (_, k) => {
    const i = from + k;
    return { user_id: i, level: String(i * 10), nick: `u${i}`, _last_updated_at_ms: t(i) };
  });

async function stateOf(online: OnlineStore, key: string): Promise<UpsyncStateRecord> {
  return JSON.parse((await online.getMeta(key))!) as UpsyncStateRecord;
}

async function levels(online: OnlineStore, def: FeatureDefinition, ids: number[]) {
  const r = await online.readObjects(
    def,
    ids.map((user_id) => ({ user_id })),
  );
  return r.map((x) => (x.found ? x.values.level : undefined));
}

beforeAll(async () => {
  env = await openEmbeddedEnv(sql);
});
afterAll(async () => {
  await closeWorkflowTestEnv();
  await env?.close();
});

describe('upsync activities (embedded stores)', () => {
  it('copies only the rows past the stored cursor on the second run, and the watermark is the max synced', async () => {
    const def = definitionsOf(yaml('wf::inc', 'wf_src_inc')).get('wf::inc')!;
    await applyDefinition(env, def);
    await table(env.offline, 'wf_src_inc', rowsOf(1, 250));
    const acts = activitiesFor(env);

    const first = await runSyncWorkflow(acts, {
      feature: 'wf::inc',
      mode: 'incremental',
      options: { pageSize: 40, chunkRows: 100 },
    });
    expect(first.progress).toMatchObject({
      rowsRead: 250,
      rowsWritten: 250,
      rowsDeadLettered: 0,
      watermark: T0 + 250,
    });
    expect(first.chunks.map((c) => c.rowsRead)).toEqual([120, 120, 10]); // pages of 40 up to 100+ rows a chunk
    expect(await levels(env.online, def, [1, 250])).toEqual([10, 2500]);
    const s1 = await stateOf(env.online, upsyncStateKey('wf::inc'));
    expect(s1.watermark).toBe(T0 + 250);
    expect(s1.cursor).toEqual({ watermark: T0 + 250 });

    await env.offline.appendRows('wf_src_inc', rowsOf(251, 260));
    const second = await runSyncWorkflow(acts, { feature: 'wf::inc', mode: 'incremental' });
    expect(second.progress).toMatchObject({ rowsRead: 10, rowsWritten: 10, watermark: T0 + 260 });
    expect((await stateOf(env.online, upsyncStateKey('wf::inc'))).watermark).toBe(T0 + 260);

    const third = await runSyncWorkflow(acts, { feature: 'wf::inc', mode: 'incremental' });
    expect(third.progress.rowsRead).toBe(0);
  });

  it('a full copy reads every row again and leaves the cursor at the end', async () => {
    const acts = activitiesFor(env);
    const full = await runSyncWorkflow(acts, {
      feature: 'wf::inc',
      mode: 'full',
      options: { pageSize: 100 },
    });
    expect(full.progress).toMatchObject({
      mode: 'full',
      rowsRead: 260,
      rowsWritten: 260,
      watermark: T0 + 260,
    });
    const s = await stateOf(env.online, upsyncStateKey('wf::inc'));
    expect(s.cursor).toEqual({ watermark: T0 + 260 });
    expect(s.full).toBeUndefined();
    expect(s.lastRun).toMatchObject({ mode: 'full', rowsRead: 260 });
    // and the next incremental run has nothing to do
    expect((await runSyncWorkflow(acts, { feature: 'wf::inc', mode: 'incremental' })).progress.rowsRead).toBe(
      0,
    );
  });

  it('a feature without incremental_update always copies in full', async () => {
    const def = definitionsOf(
      yaml('wf::nonincr', 'wf_src_nonincr').replace('incremental_update: true', 'incremental_update: false'),
    ).get('wf::nonincr')!;
    await applyDefinition(env, def);
    await table(env.offline, 'wf_src_nonincr', rowsOf(1, 5));
    const acts = activitiesFor(env);
    await runSyncWorkflow(acts, { feature: 'wf::nonincr', mode: 'incremental' });
    const again = await runSyncWorkflow(acts, { feature: 'wf::nonincr', mode: 'incremental' });
    expect(again.progress).toMatchObject({ mode: 'full', rowsRead: 5 });
  });

  it('sends rows that fail validation to dead letters with the reason, and the sync goes on', async () => {
    const def = definitionsOf(yaml('wf::bad', 'wf_src_bad')).get('wf::bad')!;
    await applyDefinition(env, def);
    await table(env.offline, 'wf_src_bad', [
      ...rowsOf(1, 3),
      { user_id: 4, level: 'high', nick: 'u4', _last_updated_at_ms: T0 + 4 },
      { user_id: null, level: '5', nick: 'u5', _last_updated_at_ms: T0 + 5 },
      { user_id: 6, level: '60', nick: 'u6', _last_updated_at_ms: T0 + 6 },
    ]);
    const r = await runSyncWorkflow(activitiesFor(env), {
      feature: 'wf::bad',
      mode: 'incremental',
      options: { pageSize: 2 },
    });
    expect(r.progress).toMatchObject({ rowsRead: 6, rowsWritten: 4, rowsDeadLettered: 2, watermark: T0 + 6 });
    expect(await levels(env.online, def, [1, 3, 4, 6])).toEqual([10, 30, undefined, 60]);
    const letters = await env.offline.readDeadLetters('wf::bad');
    expect(letters.map((l) => [l.origin, l.reason])).toEqual(
      expect.arrayContaining([
        ['upsync', 'level: expected Long, got "high"'],
        ['upsync', 'user_id: the key field is NULL'],
      ]),
    );
    expect(letters).toHaveLength(2);
    expect(JSON.parse(letters.find((l) => l.reason.startsWith('level'))!.payload)).toEqual({
      user_id: 4,
      level: 'high',
      nick: 'u4',
      _last_updated_at_ms: T0 + 4,
    });
  });

  it('event time wins: an upsync of older data leaves a newer real-time value in place', async () => {
    const def = definitionsOf(yaml('wf::et', 'wf_src_et')).get('wf::et')!;
    await applyDefinition(env, def);
    // a real-time command already set user 1's level at T0 + 5000
    await env.online.writeObjects(def, [
      { keys: { user_id: 1 }, values: { level: 999 }, eventTimeMs: T0 + 5000 },
    ]);
    await table(env.offline, 'wf_src_et', [
      { user_id: 1, level: '10', nick: 'batch', _last_updated_at_ms: T0 + 1000 },
      { user_id: 2, level: '20', nick: 'batch', _last_updated_at_ms: T0 + 1000 },
    ]);
    await runSyncWorkflow(activitiesFor(env), { feature: 'wf::et', mode: 'incremental' });
    const [one, two] = await env.online.readObjects(def, [{ user_id: 1 }, { user_id: 2 }]);
    expect(one!.values).toMatchObject({ level: 999, nick: 'batch' }); // the field the batch alone wrote is there
    expect(two!.values).toMatchObject({ level: 20 });
  });

  it('appends History rows as entries; copying them again adds nothing', async () => {
    const def = definitionsOf(`
wf::hist:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
  upsync:
    enabled: true
    incremental_update: true
    source: { table: wf_src_hist }
  history:
    max_entries_per_key: 10
`).get('wf::hist')!;
    await applyDefinition(env, def);
    await table(
      env.offline,
      'wf_src_hist',
      [1, 2, 3].flatMap((t) => [1, 2].map((user_id) => ({ user_id, level: t, _last_updated_at_ms: T0 + t }))),
      [
        { name: 'user_id', type: L },
        { name: 'level', type: L },
        { name: '_last_updated_at_ms', type: L },
      ],
    );
    const acts = activitiesFor(env);
    expect(
      (await runSyncWorkflow(acts, { feature: 'wf::hist', mode: 'incremental' })).progress.rowsWritten,
    ).toBe(6);
    expect((await runSyncWorkflow(acts, { feature: 'wf::hist', mode: 'full' })).progress.rowsWritten).toBe(6);
    const [one] = await env.online.readHistory(def, [{ user_id: 1 }]);
    expect(one!.entries.map((e) => [e.eventTimeMs - T0, e.values.level])).toEqual([
      [3, 3],
      [2, 2],
      [1, 1],
    ]);
  });

  it('rows the online store refuses go to dead letters with its reason; the others are written', async () => {
    const def = definitionsOf(`
wf::keys:
  feature_type: Object
  owner: test
  schema:
    name: { type: Text, is_key_field: true }
    level: { type: Long, default_value: 0 }
  upsync:
    enabled: true
    incremental_update: true
    source: { table: wf_src_keys }
`).get('wf::keys')!;
    await applyDefinition(env, def);
    const long = 'k'.repeat(600);
    await table(
      env.offline,
      'wf_src_keys',
      ['a', 'b', long, 'c'].map((name, i) => ({ name, level: i, _last_updated_at_ms: T0 })),
      [
        { name: 'name', type: T },
        { name: 'level', type: L },
        { name: '_last_updated_at_ms', type: L },
      ],
    );
    const r = await runSyncWorkflow(activitiesFor(env), { feature: 'wf::keys', mode: 'incremental' });
    expect(r.progress).toMatchObject({ rowsRead: 4, rowsWritten: 3, rowsDeadLettered: 1 });
    const found = await env.online.readObjects(def, [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    expect(found.map((x) => x.values.level)).toEqual([0, 1, 3]);
    const [letter] = await env.offline.readDeadLetters('wf::keys');
    expect(letter!.reason).toBe('wf::keys.name: a key must be at most 512 bytes of UTF-8');
  });

  it('rows refused because the online store lacks a field (apply half done) are dead-lettered', async () => {
    const v1 = definitionsOf(yaml('wf::store', 'wf_src_store')).get('wf::store')!;
    const v2 = definitionsOf(
      yaml('wf::store', 'wf_src_store').replace(
        '    nick:',
        '    tier: { type: Text, default_value: "none" }\n    nick:',
      ),
    ).get('wf::store')!;
    // the registry holds v2 (with tier) but the online store was only prepared for v1
    await env.online.ensureFeature(v1);
    await env.registry.record(v2);
    await table(
      env.offline,
      'wf_src_store',
      [
        { user_id: 1, level: '1', nick: 'a', tier: null, _last_updated_at_ms: T0 + 1 },
        { user_id: 2, level: '2', nick: 'b', tier: 'gold', _last_updated_at_ms: T0 + 2 },
        { user_id: 3, level: '3', nick: 'c', tier: 'gold', _last_updated_at_ms: T0 + 3 },
        { user_id: 4, level: 'high', nick: 'd', tier: 'gold', _last_updated_at_ms: T0 + 4 },
      ],
      [...srcColumns, { name: 'tier', type: T }],
    );
    const r = await runSyncWorkflow(activitiesFor(env), { feature: 'wf::store', mode: 'incremental' });
    expect(r.progress).toMatchObject({ rowsRead: 4, rowsWritten: 0, rowsDeadLettered: 4 });
    const reasons = (await env.offline.readDeadLetters('wf::store')).map((l) => l.reason).sort();
    expect(reasons).toEqual([
      'level: expected Long, got "high"',
      ...Array(3).fill('wf::store.tier: the online store has no place for this field yet (run ferry apply)'),
    ]);
  });

  it('replays dead letters: the rows that pass now are applied and removed, the others stay with the new reason', async () => {
    const v2 = definitionsOf(
      yaml('wf::store', 'wf_src_store').replace(
        '    nick:',
        '    tier: { type: Text, default_value: "none" }\n    nick:',
      ),
    ).get('wf::store')!;
    // two failed commands: one only lacked the field tier (known now), one also has a bad level
    const t = Date.now() - 60_000;
    const command = (values: Record<string, unknown>) =>
      JSON.stringify({ feature_name: 'wf::store', method: 'UPDATE', keys: { user_id: 7 }, values });
    await env.offline.writeDeadLetters([
      {
        feature: 'wf::store',
        origin: 'command',
        reason: 'values.tier: unknown field of wf::store',
        payload: command({ tier: 'silver', _last_updated_at_ms: T0 + 70 }),
        occurredAtMs: t,
      },
      {
        feature: 'wf::store',
        origin: 'command',
        reason: 'values.tier: unknown field of wf::store',
        payload: command({ tier: 'x', level: 'very', _last_updated_at_ms: T0 + 71 }),
        occurredAtMs: t,
      },
      { feature: 'wf::store', origin: 'downsync', reason: 'not replayable', payload: '{}', occurredAtMs: t },
      // refused for access: never replayed (the letter does not say who sent it)
      {
        feature: 'wf::store',
        origin: 'command',
        reason: 'producer "intruder" may not write wf::store',
        payload: command({ tier: 'stolen', _last_updated_at_ms: T0 + 72 }),
        occurredAtMs: t,
      },
    ]);
    await env.online.ensureFeature(v2); // the cause is fixed
    const acts = activitiesFor(env);
    const r = await runActivity(acts.replayDeadLetterBatch, [{ feature: 'wf::store', batchSize: 2 }]);
    expect(r.done).toBe(false);
    let total = { ...r };
    let cursor = r.cursor;
    for (;;) {
      const next = await runActivity(acts.replayDeadLetterBatch, [
        {
          feature: 'wf::store',
          batchSize: 2,
          ...(cursor ? { after: cursor } : {}),
        },
      ]);
      total = {
        ...total,
        read: total.read + next.read,
        applied: total.applied + next.applied,
        stillFailing: total.stillFailing + next.stillFailing,
        skipped: total.skipped + next.skipped,
      };
      cursor = next.cursor ?? cursor;
      if (next.done) break;
    }
    expect(total).toMatchObject({ read: 8, applied: 4, stillFailing: 2, skipped: 2 });
    const [u1, u2, u4, u7] = await env.online.readObjects(v2, [
      { user_id: 1 },
      { user_id: 2 },
      { user_id: 4 },
      { user_id: 7 },
    ]);
    expect(u1!.values).toMatchObject({ level: 1, tier: 'none' }); // upsync rows
    expect(u2!.values).toMatchObject({ level: 2, tier: 'gold' });
    expect(u4!.found).toBe(false);
    expect(u7!.values).toMatchObject({ tier: 'silver' }); // the command
    const left = await env.offline.readDeadLetters('wf::store');
    expect(left.map((l) => [l.origin, l.reason]).sort()).toEqual([
      ['command', 'producer "intruder" may not write wf::store'],
      ['command', 'values.level: expected Long, got "very"'],
      ['downsync', 'not replayable'],
      ['upsync', 'level: expected Long, got "high"'],
    ]);
    // a second replay changes nothing
    const again = await runActivity(acts.replayDeadLetterBatch, [
      {
        feature: 'wf::store',
        batchSize: 10,
      },
    ]);
    expect(again).toMatchObject({ read: 4, applied: 0, stillFailing: 2, skipped: 2, done: true });
    expect(await env.offline.readDeadLetters('wf::store')).toHaveLength(4);
  });

  it.each([1, 2, 3])(
    'resumes a chunk from its last saved page after a failure, %i page(s) in flight; every row stored and counted once',
    async (inFlight) => {
      const feature = `wf::resume-${inFlight}`;
      const source = `wf_src_resume_${inFlight}`;
      const def = definitionsOf(yaml(feature, source)).get(feature)!;
      await applyDefinition(env, def);
      await table(env.offline, source, rowsOf(1, 100));
      // an online store that fails (like a lost connection) on its 4th write call
      let calls = 0;
      const writes: number[] = [];
      const flaky: OnlineStore = Object.create(env.online, {
        bulkWritesInFlight: { value: inFlight },
        writeObjects: {
          value: async (d: FeatureDefinition, w: { keys: { user_id: number } }[]) => {
            if (++calls === 4) throw new Error('connection lost');
            writes.push(...w.map((x) => x.keys.user_id));
            return env.online.writeObjects(d, w as never);
          },
        },
      });
      const acts = activitiesFor({ ...env, online: flaky });
      const info = { workflowExecution: { workflowId: 'wf-resume', runId: 'r1' } };
      const plan = await runActivity(
        acts.planSync,
        [
          {
            feature: feature,
            mode: 'incremental',
            options: { pageSize: 10, chunkRows: 1000 },
          },
        ],
        info,
      );
      expect(plan.pagesInFlight).toBe(inFlight);
      const chunk = { plan, token: 'wf-resume/r1/0' };
      await expect(runActivity(acts.syncChunk, [chunk], info)).rejects.toThrow('connection lost');
      const saved = (await stateOf(env.online, upsyncStateKey(feature))).chunk as ChunkMark;
      expect(saved).toMatchObject({ token: 'wf-resume/r1/0', pages: 3, rowsRead: 30, rowsWritten: 30 });
      // the retry (same token) continues after page 3, with the counts of the attempt before
      const r = await runActivity(acts.syncChunk, [chunk], { ...info, attempt: 2 });
      expect(r).toMatchObject({ rowsRead: 100, rowsWritten: 100, done: true, pages: 10 });
      // at most the pages written while the failing one was in flight are written again (idempotent)
      expect(writes.length).toBeGreaterThanOrEqual(100);
      expect(writes.length).toBeLessThanOrEqual(100 + (inFlight - 1) * 10);
      expect(new Set(writes).size).toBe(100);
      expect(await levels(env.online, def, [1, 31, 41, 100])).toEqual([10, 310, 410, 1000]);
      // a heartbeat further along than the saved page wins (and a foreign token is ignored)
      const ahead: ChunkMark = { ...saved, token: 'other', pages: 9 };
      const r2 = await runActivity(acts.syncChunk, [chunk], { ...info, heartbeatDetails: ahead });
      expect(r2.pages).toBe(10);
    },
  );

  it('keeps to max_rows_per_second', async () => {
    const def = definitionsOf(
      yaml('wf::slow', 'wf_src_slow').replace('    source:', '    max_rows_per_second: 200\n    source:'),
    ).get('wf::slow')!;
    await applyDefinition(env, def);
    await table(env.offline, 'wf_src_slow', rowsOf(1, 500));
    // a fake clock that moves only while the rate limit waits
    let t = 0;
    let waited = 0;
    const rateLimitClock = {
      now: () => t,
      sleep: async (ms: number) => {
        waited += ms;
        t += ms;
      },
    };
    const r = await runSyncWorkflow(activitiesFor(env, { rateLimitClock }), {
      feature: 'wf::slow',
      mode: 'incremental',
    });
    expect(r.progress.rowsWritten).toBe(500);
    // one second's worth at once, then 200 rows/s: the 300 rows after the first 200 wait 1.5 s
    expect(waited).toBeCloseTo(1_500, 6);
    expect(r.chunks[0]!.pages).toBeGreaterThanOrEqual(3); // pages no bigger than one second's worth
  });

  it('reports rows with a NULL watermark once, as dead letters', async () => {
    const def = definitionsOf(yaml('wf::nullwm', 'wf_src_nullwm')).get('wf::nullwm')!;
    await applyDefinition(env, def);
    await table(env.offline, 'wf_src_nullwm', [
      ...rowsOf(1, 2),
      { user_id: 3, level: '3', nick: 'c', _last_updated_at_ms: null },
    ]);
    const acts = activitiesFor(env);
    const r = await runSyncWorkflow(acts, { feature: 'wf::nullwm', mode: 'incremental' });
    expect(r.progress.rowsWritten).toBe(2);
    await runSyncWorkflow(acts, { feature: 'wf::nullwm', mode: 'full' });
    const letters = await env.offline.readDeadLetters('wf::nullwm');
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(
      /^_last_updated_at_ms is NULL: an upsync cannot order this row \(1 rows/,
    );
  });

  it('backfills a watermark range without moving the incremental cursor', async () => {
    const def = definitionsOf(yaml('wf::bf', 'wf_src_bf')).get('wf::bf')!;
    await applyDefinition(env, def);
    await table(
      env.offline,
      'wf_src_bf',
      rowsOf(1, 100, (i) => T0 + i * 1000),
    );
    const acts = activitiesFor(env);
    const from = T0 + 20_000;
    const to = T0 + 50_000;
    const r = await runSyncWorkflow(acts, {
      feature: 'wf::bf',
      mode: 'backfill',
      fromMs: from,
      toMs: to,
      options: { pageSize: 7, chunkRows: 10 },
    });
    expect(r.progress).toMatchObject({
      mode: 'backfill',
      rowsRead: 30,
      rowsWritten: 30,
      watermark: to - 1000,
    });
    expect(r.chunks.length).toBeGreaterThan(2);
    expect(await levels(env.online, def, [19, 20, 49, 50])).toEqual([undefined, 200, 490, undefined]);
    expect(await env.online.getMeta(upsyncStateKey('wf::bf'))).toBeUndefined();
    expect(JSON.parse((await env.online.getMeta(backfillStateKey('wf::bf', from, to)))!)).toMatchObject({
      done: true,
    });
    // the incremental upsync still copies everything afterwards
    expect((await runSyncWorkflow(acts, { feature: 'wf::bf', mode: 'incremental' })).progress.rowsRead).toBe(
      100,
    );
  });

  it('fails for good, with a clear reason, when the feature or its source is not there', async () => {
    const acts = activitiesFor(env);
    const err = await runActivity(acts.planSync, [{ feature: 'wf::nope', mode: 'incremental' }]).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'FeatureNotApplied', nonRetryable: true });
    const def = definitionsOf(yaml('wf::nosrc', 'wf_src_missing')).get('wf::nosrc')!;
    await applyDefinition(env, def);
    const err2 = await runActivity(acts.planSync, [{ feature: 'wf::nosrc', mode: 'incremental' }]).catch(
      (e) => e,
    );
    expect(err2).toMatchObject({ type: 'UpsyncSourceError', nonRetryable: true });
    expect(err2.message).toContain('source table wf_src_missing of wf::nosrc does not exist');
  });

  it('refuses sync options that are not positive numbers, naming the option', async () => {
    const def = definitionsOf(yaml('wf::opts', 'wf_src_opts')).get('wf::opts')!;
    await applyDefinition(env, def);
    await table(env.offline, 'wf_src_opts', rowsOf(1, 3));
    const acts = activitiesFor(env);
    const bad: [string, unknown][] = [
      ['pageSize', 'abc'],
      ['pagesInFlight', 0],
      ['chunkRows', -5],
      ['chunkSeconds', Number.NaN],
      ['chunksPerRun', { n: 1 }],
    ];
    for (const [name, value] of bad) {
      const err = await runActivity(acts.planSync, [
        { feature: 'wf::opts', mode: 'incremental', options: { [name]: value } as never },
      ]).catch((e) => e);
      expect(err).toMatchObject({ type: 'UpsyncNotConfigured', nonRetryable: true });
      expect(err.message).toContain(`options.${name} must be a number of at least 1`);
    }
    // null means "not set": the store's defaults apply
    const plan = await runActivity(acts.planSync, [
      { feature: 'wf::opts', mode: 'incremental', options: { pageSize: null, pagesInFlight: 2 } as never },
    ]);
    expect(plan).toMatchObject({ pageSize: env.online.bulkWriteRows, pagesInFlight: 2 });
  });
});

describe('transform and retention activities (embedded stores)', () => {
  it('a SQL error fails the transform for good with the warehouse message, file and line', async () => {
    await table(env.offline, 'wf_src_a', rowsOf(1, 2));
    const acts = activitiesFor(env);
    const err = await runActivity(acts.runTransform, [
      { transform: 'wf/broken.sql', logicalDate: '2024-03-10' },
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'TransformError', nonRetryable: true });
    expect(err.message).toMatch(/wf[/\\]broken\.sql:4/);
    expect(err.message).toContain('no_such_column');
  });

  it('deletes offline rows and online values past retention, and old dead letters', async () => {
    const def = definitionsOf(
      `${yaml('wf::ret', 'wf_src_ret')}  retention:\n    online: 1h\n    offline: 2d\n`,
    ).get('wf::ret')!;
    await applyDefinition(env, def);
    const tables = await env.offline.ensureFeatureTables(def);
    const now = Date.now();
    const day = 86_400_000;
    await env.offline.appendRows(
      tables.table,
      [now - 3 * day, now - 2 * day - 1000, now - day, now].map((t, i) => ({
        user_id: i,
        level: i,
        nick: 'x',
        _last_updated_at_ms: t,
      })),
    );
    await env.online.writeObjects(def, [
      { keys: { user_id: 1 }, values: { level: 1 }, eventTimeMs: now - 30 * 60_000 },
      { keys: { user_id: 2 }, values: { level: 2 }, eventTimeMs: now - 10_000 },
    ]);
    await env.offline.writeDeadLetters([
      { feature: 'wf::ret', origin: 'upsync', reason: 'old', payload: '{}', occurredAtMs: now - 40 * day },
      { feature: 'wf::ret', origin: 'upsync', reason: 'new', payload: '{}', occurredAtMs: now - day },
    ]);
    const acts = activitiesFor(env);
    const targets = await runActivity(acts.listRetentionTargets, []);
    expect(targets).toContainEqual({ feature: 'wf::ret', onlineMs: 3_600_000, offlineMs: 2 * day });
    // an hour on, user 1's value (30 minutes old now) is past the online retention
    const r = await runActivity(acts.applyRetention, [{ feature: 'wf::ret', nowMs: now + 45 * 60_000 }]);
    expect(r).toMatchObject({
      feature: 'wf::ret',
      offlineTable: tables.table,
      offlineRowsDeleted: 2,
      onlineValuesSwept: 1,
    });
    expect(
      (await env.offline.readRows(tables.table, { orderBy: ['user_id'] })).map((x) => x.user_id),
    ).toEqual([2, 3]);
    const purged = await runActivity(acts.purgeDeadLetters, [{ cutoffMs: now - 30 * day }]);
    expect(purged).toBeGreaterThanOrEqual(1);
    expect((await env.offline.readDeadLetters('wf::ret')).map((l) => l.reason)).toEqual(['new']);
  });
});

describe('pure helpers', () => {
  it('token bucket: a second of burst, then the rate', async () => {
    let clock = 0;
    const slept: number[] = [];
    const bucket = new TokenBucket(
      100,
      async (ms) => {
        slept.push(ms);
        clock += ms;
      },
      () => clock,
    );
    await bucket.take(100);
    await bucket.take(50);
    await bucket.take(50);
    expect(slept).toEqual([500, 500]);
    clock += 10_000; // idle: at most one second's worth builds up
    await bucket.take(100);
    await bucket.take(10);
    expect(slept).toEqual([500, 500, 100]);
  });

  it('cron windows: from the previous fire time to the nominal time', () => {
    const at = Date.parse('2024-03-10T05:15:00Z');
    expect(new Date(previousFireTime('15 * * * *', at)!).toISOString()).toBe('2024-03-10T04:15:00.000Z');
    expect(new Date(previousFireTime('15 * * * *', at + 1)!).toISOString()).toBe('2024-03-10T05:15:00.000Z');
    expect(new Date(previousFireTime('@daily', at)!).toISOString()).toBe('2024-03-10T00:00:00.000Z');
    expect(new Date(previousFireTime('0 9 * * MON', at)!).toISOString()).toBe('2024-03-04T09:00:00.000Z');
    expect(new Date(previousFireTime('0 0 1 */3 *', at)!).toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(scheduledWindow(at, '15 * * * *')).toEqual({
      logicalDate: '2024-03-10',
      windowStartMs: Date.parse('2024-03-10T04:15:00Z'),
      windowEndMs: at,
    });
    expect(scheduledWindow(Date.parse('2024-03-10T00:00:00Z'), '@daily').logicalDate).toBe('2024-03-09');
  });
});
