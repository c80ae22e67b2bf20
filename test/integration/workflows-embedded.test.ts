import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFerryWorker, workflowsPath } from '../../cli/worker-command.ts';
import { startOrJoin } from '../../cli/workflow-cli.ts';
import { featureTableName } from '../../stores/offline/column-types.ts';
import type { ColumnSpec } from '../../stores/offline/offline-store.ts';
import {
  backfillWorkflowId,
  pipelineWorkflowId,
  upsyncStateKey,
  upsyncWorkflowId,
} from '../../workflow-contract/ids.ts';
import type {
  PipelineProgress,
  ReplayProgress,
  RetentionResult,
  ScheduledUpsyncResult,
  SyncProgress,
} from '../../workflow-contract/types.ts';
import { ferryBin, ferryEnv } from '../ferry-bin.ts';
import { installQuietTemporalRuntime } from '../temporal-runtime.ts';
import {
  applyDefinition,
  definitionsOf,
  type EmbeddedEnv,
  openEmbeddedEnv,
} from '../unit/workflows-harness.ts';
import { requireServer, servers } from './servers.ts';

// The workflows on the Temporal dev server (a worker in this process, bundled once), with the
// embedded stores (LMDB + DuckDB in a temporary folder) as the activities' stores. Names carry a
// random namespace so runs never meet in the shared server.

const address = `${servers.temporal.host}:${servers.temporal.port}`;
const ns = `e2e${randomBytes(3).toString('hex')}`;
const taskQueue = `ferry-wf-${ns}`;
const T0 = Date.parse('2024-03-10T00:00:00Z');
const L = { kind: 'scalar', scalar: 'Long' } as const;
const columns: ColumnSpec[] = [
  { name: 'user_id', type: L },
  { name: 'level', type: L },
  { name: '_last_updated_at_ms', type: L },
];

const feature = (name: string, source: string, extra = '') => `
${ns}::${name}:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
  upsync:
    enabled: true
    incremental_update: true
    source: ${source}
${extra}`;

const defs = definitionsOf(
  [
    feature('stats', '{ table: e2e_stats }'),
    feature('slow', '{ table: e2e_slow }').replace(
      '    source:',
      '    max_rows_per_second: 150\n    source:',
    ),
    feature('from-good', '{ transform: e2e/good.sql }'),
    feature('from-broken', '{ transform: e2e/broken.sql }'),
    feature('from-table', '{ table: e2e_table_src }'),
    feature('bf', '{ table: e2e_bf }'),
    feature('cli', '{ table: e2e_cli }'),
    `${feature('ret', '{ table: e2e_ret }')}  retention:\n    online: 1h\n    offline: 1d\n`,
    `
${ns}::matches:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    peer: { type: Long }
    match_count_lifetime: { aggregate: { function: count, window: lifetime } }
  from_events:
    topic: e2e_matches
    event_time: t
    rules:
      - name: as-user
        keys: { user_id: userId }
        values: { peer: peerUserId }
      - name: as-peer
        keys: { user_id: peerUserId }
        values: { peer: userId }
`,
  ].join(''),
);
const def = (name: string) => defs.get(`${ns}::${name}`)!;

const goodSql = `-- ferry:destination e2e_good_out
-- ferry:params window_end
SELECT user_id, level, UNIX_MILLIS(@window_end) AS _last_updated_at_ms FROM e2e_raw
`;
const brokenSql = `-- A transform with a SQL error on line 4.
-- ferry:destination e2e_broken_out
SELECT user_id,
  no_such_column AS level,
  0 AS _last_updated_at_ms
FROM e2e_raw
`;
const fixedSql = brokenSql.replace('no_such_column', 'level * 2');

const rows = (from: number, to: number, t = (i: number) => T0 + i) =>
  Array.from({ length: to - from + 1 }, (_, k) => ({
    user_id: from + k,
    level: (from + k) * 10,
    _last_updated_at_ms: t(from + k),
  }));

let env: EmbeddedEnv;
let client: Client;
let clientConnection: Connection;
let workerConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;

async function levels(name: string, ids: number[]) {
  const r = await env.online.readObjects(
    def(name),
    ids.map((user_id) => ({ user_id })),
  );
  return r.map((x) => (x.found ? x.values.level : undefined));
}

async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `ferry <args>` as a user runs it, against this file's worker (its task queue) and stores. */
async function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(ferryBin, args, {
      env: ferryEnv({
        ...process.env,
        FERRY_DATA_DIR: env.dir,
        FERRY_ONLINE_STORE: 'embedded',
        FERRY_TEMPORAL_ADDRESS: address,
        FERRY_TEMPORAL_NAMESPACE: 'default',
        FERRY_TEMPORAL_TASK_QUEUE: taskQueue,
      }),
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function start(workflowType: string, workflowId: string, args: unknown[]): Promise<WorkflowHandle> {
  return client.workflow.start(workflowType, { taskQueue, workflowId, args }) as Promise<WorkflowHandle>;
}

beforeAll(async () => {
  await requireServer('temporal');
  installQuietTemporalRuntime();
  env = await openEmbeddedEnv({ 'e2e/good.sql': goodSql, 'e2e/broken.sql': brokenSql }, 'ferry-wfe-');
  for (const d of defs.values()) await applyDefinition(env, d);
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  workerConnection = await NativeConnection.connect({ address });
  worker = await createFerryWorker({
    connection: workerConnection,
    settings: env.settings,
    online: env.online,
    offline: env.offline,
    taskQueue,
    workflowBundleCode: code,
  });
  running = worker.run();
  clientConnection = await Connection.connect({ address });
  client = new Client({ connection: clientConnection, namespace: 'default' });
}, 180_000);

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await workerConnection?.close();
  await clientConnection?.close();
  await env?.close();
}, 60_000);

describe('workflows on Temporal with the embedded stores', () => {
  it('upsync: continues as new with its counts, and a second run copies only the new rows', async () => {
    await env.offline.ensureTable('e2e_stats', columns);
    await env.offline.appendRows('e2e_stats', rows(1, 300));
    const id = upsyncWorkflowId(`${ns}::stats`);
    const options = { chunkRows: 50, pageSize: 25, chunksPerRun: 2 };
    const first = (await client.workflow.execute('upsyncWorkflow', {
      taskQueue,
      workflowId: id,
      args: [{ feature: `${ns}::stats`, options }],
    })) as SyncProgress;
    expect(first).toMatchObject({
      state: 'done',
      mode: 'incremental',
      rowsRead: 300,
      rowsWritten: 300,
      watermark: T0 + 300,
    });
    expect(first.chunks).toBe(6); // chunks of 50 rows; the last one sees the end of the source
    expect(first.runs).toBe(3); // continued as new after every 2 chunks
    expect(await levels('stats', [1, 300])).toEqual([10, 3000]);
    expect(JSON.parse((await env.online.getMeta(upsyncStateKey(`${ns}::stats`)))!).watermark).toBe(T0 + 300);

    await env.offline.appendRows('e2e_stats', rows(301, 310));
    const second = (await client.workflow.execute('upsyncWorkflow', {
      taskQueue,
      workflowId: id,
      args: [{ feature: `${ns}::stats` }],
    })) as SyncProgress;
    expect(second).toMatchObject({ rowsRead: 10, rowsWritten: 10, watermark: T0 + 310, runs: 1 });

    const full = (await client.workflow.execute('upsyncWorkflow', {
      taskQueue,
      workflowId: id,
      args: [{ feature: `${ns}::stats`, full: true }],
    })) as SyncProgress;
    expect(full).toMatchObject({ mode: 'full', rowsRead: 310, rowsWritten: 310 });
  });

  it('answers the progress query while it runs; a second start joins the running upsync', async () => {
    await env.offline.ensureTable('e2e_slow', columns);
    await env.offline.appendRows('e2e_slow', rows(1, 600));
    const feature = `${ns}::slow`;
    const first = await startOrJoin(client, 'upsyncWorkflow', {
      workflowId: upsyncWorkflowId(feature),
      taskQueue,
      args: [{ feature }],
    });
    expect(first.joined).toBe(false);
    const mid = await eventually('rows read mid-way', 20_000, async () => {
      const p = (await first.handle.query('progress')) as SyncProgress;
      return p.rowsRead > 0 && p.rowsRead < 600 ? p : undefined;
    });
    expect(mid).toMatchObject({ feature, state: 'syncing', sourceTable: 'e2e_slow', workflow: 'upsync' });
    expect(mid.watermark).toBeGreaterThan(T0);

    const second = await startOrJoin(client, 'upsyncWorkflow', {
      workflowId: upsyncWorkflowId(feature),
      taskQueue,
      args: [{ feature }],
    });
    expect(second.joined).toBe(true);
    expect(second.runId).toBe(first.runId);
    const [a, b] = (await Promise.all([first.handle.result(), second.handle.result()])) as [
      SyncProgress,
      SyncProgress,
    ];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ rowsRead: 600, rowsWritten: 600 });
    // 150 rows/s with one second's burst: 600 rows take about three seconds
    expect(a.updatedAtMs - a.startedAtMs).toBeGreaterThan(2500);
  });

  it('a scheduled run reports "already running" when the feature is upsyncing', async () => {
    const feature = `${ns}::slow`;
    await env.offline.appendRows('e2e_slow', rows(601, 1500));
    const upsync = await start('upsyncWorkflow', upsyncWorkflowId(feature), [{ feature }]);
    await eventually('the upsync to run', 10_000, async () =>
      ((await upsync.query('progress')) as SyncProgress).rowsRead > 0 ? true : undefined,
    );
    const scheduled = (await client.workflow.execute('scheduledUpsyncWorkflow', {
      taskQueue,
      workflowId: `scheduled/upsync/${feature}-test`,
      args: [{ feature, cron: '15 * * * *' }],
    })) as ScheduledUpsyncResult;
    expect(scheduled).toMatchObject({ feature, status: 'already running' });
    expect(((await upsync.result()) as SyncProgress).rowsRead).toBe(900);
  });

  it('transformAndUpsync: a failing transform stops only the features that read it; the next run is unaffected', async () => {
    await env.offline.ensureTable('e2e_raw', columns);
    await env.offline.appendRows('e2e_raw', rows(1, 5));
    await env.offline.ensureTable('e2e_table_src', columns);
    await env.offline.appendRows('e2e_table_src', rows(1, 3));
    const input = {
      pipeline: `${ns}-lounge`,
      transforms: ['e2e/good.sql', 'e2e/broken.sql'],
      features: [`${ns}::from-good`, `${ns}::from-broken`, `${ns}::from-table`],
      logicalDate: '2024-03-10',
    };
    const err = await client.workflow
      .execute('transformAndUpsyncWorkflow', {
        taskQueue,
        workflowId: pipelineWorkflowId(input.pipeline, input.logicalDate),
        args: [input],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = err.cause;
    expect(failure.message).toMatch(
      /transform e2e\/broken\.sql: .*broken\.sql:4:\d+: Binder Error: .*no_such_column/,
    );
    expect(failure.message).toContain(`not upsynced (their transform failed): ${ns}::from-broken`);
    const progress = failure.details[0] as PipelineProgress;
    expect(progress.transforms.map((t) => [t.transform, t.status])).toEqual([
      ['e2e/good.sql', 'done'],
      ['e2e/broken.sql', 'failed'],
    ]);
    expect(progress.features.map((f) => [f.feature, f.status])).toEqual([
      [`${ns}::from-good`, 'done'],
      [`${ns}::from-broken`, 'skipped'],
      [`${ns}::from-table`, 'done'],
    ]);
    expect(await levels('from-good', [1, 5])).toEqual([10, 50]);
    expect(await levels('from-table', [1, 3])).toEqual([10, 30]);
    expect(await levels('from-broken', [1])).toEqual([undefined]);
    expect(await env.offline.describeTable('e2e_broken_out')).toBeUndefined();

    // the SQL is fixed; the next day's run goes through
    writeFileSync(path.join(env.sqlDir, 'e2e/broken.sql'), fixedSql);
    const next = (await client.workflow.execute('transformAndUpsyncWorkflow', {
      taskQueue,
      workflowId: pipelineWorkflowId(input.pipeline, '2024-03-11'),
      args: [{ ...input, logicalDate: '2024-03-11' }],
    })) as PipelineProgress;
    expect(next.state).toBe('done');
    expect(next.features.every((f) => f.status === 'done')).toBe(true);
    expect(await levels('from-broken', [1, 5])).toEqual([20, 100]);
  });

  it('backfill: re-syncs a watermark range, across continue-as-new, without moving the incremental cursor', async () => {
    await env.offline.ensureTable('e2e_bf', columns);
    await env.offline.appendRows(
      'e2e_bf',
      rows(1, 100, (i) => T0 + i * 1000),
    );
    const feature = `${ns}::bf`;
    const fromMs = T0 + 10_000;
    const toMs = T0 + 70_000;
    const handle = await start('backfillWorkflow', backfillWorkflowId(feature, fromMs, toMs), [
      { feature, fromMs, toMs, options: { chunkRows: 10, pageSize: 10, chunksPerRun: 3 } },
    ]);
    const r = (await handle.result()) as SyncProgress;
    expect(r).toMatchObject({
      workflow: 'backfill',
      state: 'done',
      rowsRead: 60,
      rowsWritten: 60,
      fromMs,
      toMs,
    });
    expect(r.runs).toBeGreaterThan(1);
    expect(await levels('bf', [9, 10, 69, 70])).toEqual([undefined, 100, 690, undefined]);
    expect(await env.online.getMeta(upsyncStateKey(feature))).toBeUndefined();
  });

  it('retention: deletes offline rows and online values past retention, and old dead letters', async () => {
    const d = def('ret');
    const { table } = await env.offline.ensureFeatureTables(d);
    expect(table).toBe(featureTableName(d));
    const now = Date.now();
    await env.offline.appendRows(table, [
      { user_id: 1, level: 1, _last_updated_at_ms: now - 3 * 86_400_000 },
      { user_id: 2, level: 2, _last_updated_at_ms: now - 60_000 },
    ]);
    await env.online.writeObjects(d, [
      { keys: { user_id: 1 }, values: { level: 1 }, eventTimeMs: now - 60_000 },
    ]);
    await env.offline.writeDeadLetters([
      {
        feature: d.name,
        origin: 'upsync',
        reason: 'ancient',
        payload: '{}',
        occurredAtMs: now - 90 * 86_400_000,
      },
      { feature: d.name, origin: 'upsync', reason: 'recent', payload: '{}', occurredAtMs: now - 60_000 },
    ]);
    const r = (await client.workflow.execute('retentionWorkflow', {
      taskQueue,
      workflowId: `retention/${ns}`,
      args: [{ deadLetterRetentionMs: 30 * 86_400_000 }],
    })) as RetentionResult;
    expect(r.features).toContainEqual({
      feature: d.name,
      offlineTable: table,
      offlineRowsDeleted: 1,
      onlineValuesSwept: 0,
    });
    expect(r.deadLettersDeleted).toBeGreaterThanOrEqual(1);
    expect((await env.offline.readRows(table)).map((x) => x.user_id)).toEqual([2]);
    expect((await env.offline.readDeadLetters(d.name)).map((l) => l.reason)).toEqual(['recent']);
  });

  it('replay: fixed dead letters are applied and removed, still-bad ones stay with the new reason', async () => {
    const d = def('stats');
    const t = Date.now() - 1000;
    const cmd = (user: number, values: Record<string, unknown>) =>
      JSON.stringify({ feature_name: d.name, method: 'UPDATE', keys: { user_id: user }, values });
    await env.offline.writeDeadLetters([
      {
        feature: d.name,
        origin: 'command',
        reason: 'old reason',
        payload: cmd(500, { level: 5, _last_updated_at_ms: T0 }),
        occurredAtMs: t,
      },
      {
        feature: d.name,
        origin: 'command',
        reason: 'old reason',
        payload: cmd(501, { level: 'x', _last_updated_at_ms: T0 }),
        occurredAtMs: t,
      },
      {
        feature: d.name,
        origin: 'upsync',
        reason: 'old reason',
        payload: JSON.stringify({ user_id: 502, level: 7, _last_updated_at_ms: T0 }),
        occurredAtMs: t,
      },
    ]);
    const r = (await client.workflow.execute('replayDeadLettersWorkflow', {
      taskQueue,
      workflowId: `replay/${d.name}`,
      args: [{ feature: d.name, fromMs: t - 1, batchSize: 2 }],
    })) as ReplayProgress;
    expect(r).toMatchObject({ state: 'done', read: 3, applied: 2, stillFailing: 1, skipped: 0 });
    expect(await levels('stats', [500, 502])).toEqual([5, 7]);
    expect((await env.offline.readDeadLetters(d.name)).map((l) => l.reason)).toEqual([
      'values.level: expected Long, got "x"',
    ]);
  });

  it('replay of an event one rule of an Aggregation applied: that rule counted once (by its Kafka position), the other applied', async () => {
    const d = def('matches');
    const t = Date.now() - 60_000;
    // the consumer applied rule as-user of the event at e2e_matches partition 3 offset 41, then
    // dead-lettered the event for as-peer: the letter keeps the position
    await env.online.writeAggregateEvents(d, [
      {
        keys: { user_id: 7001 },
        eventTimeMs: t,
        eventId: 'e2e_matches/3/41/as-user',
        values: { peer: 7002 },
      },
    ]);
    await env.offline.writeDeadLetters([
      {
        id: `event:e2e_matches:3:41:${d.name}`,
        feature: d.name,
        origin: 'event',
        reason: 'rule as-peer: late',
        payload: JSON.stringify({ userId: 7001, peerUserId: 7002, t }),
        occurredAtMs: t,
      },
    ]);
    const r = (await client.workflow.execute('replayDeadLettersWorkflow', {
      taskQueue,
      workflowId: `replay/${d.name}`,
      args: [{ feature: d.name, fromMs: t - 1 }],
    })) as ReplayProgress;
    expect(r).toMatchObject({ state: 'done', read: 1, applied: 1, stillFailing: 0 });
    const counts = await env.online.readAggregates(d, [{ user_id: 7001 }, { user_id: 7002 }]);
    expect(counts.map((c) => c.values.match_count_lifetime)).toEqual([1, 1]);
    expect(await env.offline.readDeadLetters(d.name)).toEqual([]);
  });

  it('ferry upsync, backfill and replay start the workflows from the shell and report the end as JSON', async () => {
    await env.offline.ensureTable('e2e_cli', columns);
    await env.offline.appendRows('e2e_cli', rows(1, 40));
    const name = `${ns}::cli`;
    // the short name resolves when one namespace has it
    const up = await ferry('upsync', 'cli', '--wait', '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({
      workflowId: upsyncWorkflowId(name),
      joined: false,
      result: { state: 'done', rowsRead: 40, rowsWritten: 40, watermark: T0 + 40 },
    });
    expect(await levels('cli', [1, 40])).toEqual([10, 400]);

    // a backfill of a range rewrites those rows (here with new levels) and leaves the watermark
    await env.offline.appendRows(
      'e2e_cli',
      rows(41, 60).map((r) => ({ ...r, level: 7 })),
    );
    const bf = await ferry(
      'backfill',
      name,
      '--from',
      String(T0 + 41),
      '--to',
      String(T0 + 51),
      '--wait',
      '--json',
    );
    expect(bf.code, bf.stderr).toBe(0);
    expect(JSON.parse(bf.stdout).result).toMatchObject({
      workflow: 'backfill',
      state: 'done',
      rowsWritten: 10,
    });
    expect(await levels('cli', [41, 50, 51])).toEqual([7, 7, undefined]);
    expect(JSON.parse((await env.online.getMeta(upsyncStateKey(name)))!).watermark).toBe(T0 + 40);

    await env.offline.writeDeadLetters([
      {
        feature: name,
        origin: 'upsync',
        reason: 'old reason',
        payload: JSON.stringify({ user_id: 900, level: 9, _last_updated_at_ms: T0 }),
        occurredAtMs: Date.now() - 1000,
      },
    ]);
    const replay = await ferry('replay', name, '--wait', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout).result).toMatchObject({
      state: 'done',
      read: 1,
      applied: 1,
      stillFailing: 0,
    });
    expect(await levels('cli', [900])).toEqual([9]);

    // without --wait: the ids, at once; bad usage: exit 2 naming the problem
    const started = await ferry('upsync', name, '--json');
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ workflowId: upsyncWorkflowId(name) });
    const bad = await ferry('backfill', name, '--from', 'yesterday', '--to', '2024-01-01');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from must be a date/);
    const unknown = await ferry('upsync', 'no-such-feature');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no-such-feature/);
  });
});
