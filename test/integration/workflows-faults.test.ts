import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TemporalSchedulesTarget } from '../../apply/temporal-schedules-target.ts';
import { readSettings } from '../../config/settings.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { BigQueryOfflineStore } from '../../stores/offline/bigquery-offline-store.ts';
import {
  type CassandraOnlineStore,
  openCassandraOnlineStore,
} from '../../stores/online/cassandra-online-store.ts';
import { DefinitionRegistry } from '../../stores/registry/definition-registry.ts';
import { pipelineWorkflowId, upsyncStateKey, upsyncWorkflowId } from '../../workflow-contract/ids.ts';
import type { PipelineProgress, ScheduledUpsyncResult, SyncProgress } from '../../workflow-contract/types.ts';
import { definitionsOf } from '../unit/workflows-harness.ts';
import { type FerryProcess, productionWorkflowBundle, spawnFerryWorker } from './ferry-process.ts';
import { killServer, serverPid, startServer } from './server-faults.ts';
import { bigqueryProject, servers } from './servers.ts';

// The fault tests against the real servers: Temporal (dev server), Cassandra and the
// BigQuery emulator. The worker runs as a child process (`ferry worker`), as in production, so
// that it can be killed. Row counts are kept small enough for a 2-core machine.

const hex = randomBytes(3).toString('hex');
const ns = `flt${hex}`;
const keyspace = `ferry_wf_${hex}`;
const dataset = `ferry_wf_${hex}`;
const taskQueue = `ferry-faults-${hex}`;
const address = `${servers.temporal.host}:${servers.temporal.port}`;
const endpoint = `http://${servers.bigquery.host}:${servers.bigquery.port}`;
const BASE = 1_700_000_000_000;
const BIG = 200_000;
const PAUSE_ROWS = 100_000;
const KILL_ROWS = 100_000;

const gen = (table: string, n: number) => `-- ${n} generated rows
-- ferry:destination ${table}
SELECT n AS user_id, n * 3 AS level, ${BASE} + n AS _last_updated_at_ms
FROM UNNEST(GENERATE_ARRAY(1, ${n})) AS n
`;
const sql: Record<string, string> = {
  'wf/big.sql': gen('wf_big', BIG),
  'wf/pause.sql': gen('wf_pause', PAUSE_ROWS),
  'wf/killed.sql': gen('wf_killed', KILL_ROWS),
  'wf/good.sql': `-- ferry:destination wf_good_out
-- ferry:params window_end
SELECT user_id, level, UNIX_MILLIS(@window_end) AS _last_updated_at_ms FROM wf_raw
`,
  'wf/broken.sql': `-- A transform with a SQL error on line 4.
-- ferry:destination wf_broken_out
SELECT user_id,
  no_such_column AS level,
  0 AS _last_updated_at_ms
FROM wf_raw
`,
  'wf/sched.sql': `-- ferry:destination wf_sched_out
-- ferry:params window_start, window_end
SELECT user_id, level, UNIX_MILLIS(@window_end) AS _last_updated_at_ms,
  UNIX_MILLIS(@window_start) AS window_start_ms
FROM wf_raw
`,
};

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
const yearly = '0 0 1 1 *';
const defsText = [
  feature('big', '{ table: wf_big }'),
  feature('pause', '{ table: wf_pause }'),
  feature('killed', '{ table: wf_killed }'),
  feature('from-good', '{ transform: wf/good.sql }'),
  feature('from-broken', '{ transform: wf/broken.sql }'),
  feature('sched', '{ transform: wf/sched.sql }').replace(
    '    source:',
    `    schedule: "${yearly}"\n    source:`,
  ),
].join('');
const defs = definitionsOf(defsText);
const def = (name: string) => defs.get(`${ns}::${name}`)!;

let dir: string;
let online: CassandraOnlineStore;
let offline: BigQueryOfflineStore;
let connection: Connection;
let client: Client;
let worker: FerryProcess | undefined;
let cassandraStopped: number | undefined;

const workerEnv = () => ({
  ...process.env,
  FERRY_ONLINE_STORE: 'cassandra',
  FERRY_CASSANDRA_CONTACT_POINTS: `${servers.cassandra.host}:${servers.cassandra.port}`,
  FERRY_CASSANDRA_KEYSPACE: keyspace,
  FERRY_CASSANDRA_CONSISTENCY: 'ONE',
  FERRY_OFFLINE_STORE: 'bigquery',
  FERRY_BIGQUERY_PROJECT: bigqueryProject,
  FERRY_BIGQUERY_DATASET: dataset,
  FERRY_BIGQUERY_ENDPOINT: endpoint,
  FERRY_TEMPORAL_ADDRESS: address,
  FERRY_TEMPORAL_NAMESPACE: 'default',
  FERRY_TEMPORAL_TASK_QUEUE: taskQueue,
  FERRY_SQL_DIR: path.join(dir, 'sql'),
  FERRY_DATA_DIR: path.join(dir, 'data'),
});

/** Starts the shipped `ferry worker` (bin/ferry.js) as a child process and waits until it polls. */
async function startWorker(): Promise<FerryProcess> {
  const child = spawnFerryWorker(workerEnv(), taskQueue, [
    '--workflow-bundle',
    await productionWorkflowBundle(),
    '--max-activities',
    '4',
  ]);
  await child.ready;
  return child;
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
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads every key 1..n back and checks its value; returns how many were found. */
async function checkAll(d: FeatureDefinition, n: number): Promise<number> {
  let found = 0;
  for (let start = 1; start <= n; start += 1000) {
    const keys = Array.from({ length: Math.min(1000, n - start + 1) }, (_, i) => ({ user_id: start + i }));
    const r = await online.readObjects(d, keys);
    r.forEach((x, i) => {
      if (x.found && x.values.level === (start + i) * 3 && x.lastUpdatedAtMs === BASE + start + i) found++;
    });
  }
  return found;
}

function start(workflowType: string, workflowId: string, args: unknown[]): Promise<WorkflowHandle> {
  return client.workflow.start(workflowType, { taskQueue, workflowId, args }) as Promise<WorkflowHandle>;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ferry-faults-'));
  for (const [name, text] of Object.entries(sql)) {
    mkdirSync(path.dirname(path.join(dir, 'sql', name)), { recursive: true });
    writeFileSync(path.join(dir, 'sql', name), text);
  }
  const settings = readSettings(workerEnv());
  online = await openCassandraOnlineStore({
    contactPoints: [settings.cassandraContactPoints],
    localDataCenter: settings.cassandraLocalDc,
    keyspace,
    replication: settings.cassandraReplication,
    consistency: 'ONE',
  });
  offline = await BigQueryOfflineStore.open({
    projectId: bigqueryProject,
    dataset,
    location: 'US',
    endpoint,
    sqlDir: path.join(dir, 'sql'),
  });
  const registry = new DefinitionRegistry(online);
  for (const d of defs.values()) {
    await online.ensureFeature(d);
    await registry.record(d);
  }
  await offline.runTransform('wf/big.sql', { logicalDate: '2024-03-10' });
  await offline.runTransform('wf/pause.sql', { logicalDate: '2024-03-10' });
  await offline.runTransform('wf/killed.sql', { logicalDate: '2024-03-10' });
  await offline.ensureTable('wf_raw', [
    { name: 'user_id', type: { kind: 'scalar', scalar: 'Long' } },
    { name: 'level', type: { kind: 'scalar', scalar: 'Long' } },
  ]);
  await offline.appendRows(
    'wf_raw',
    [1, 2, 3].map((i) => ({ user_id: i, level: i * 3 })),
  );

  connection = await Connection.connect({ address });
  client = new Client({ connection, namespace: 'default' });
  worker = await startWorker();
}, 240_000);

afterAll(async () => {
  if (cassandraStopped !== undefined) process.kill(cassandraStopped, 'SIGCONT');
  if (worker) {
    // SIGTERM: the worker stops polling, lets running activities end, closes its stores and exits
    const stopped = await Promise.race([
      worker.stop('SIGTERM').then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 45_000)),
    ]);
    if (!stopped) await worker.stop('SIGKILL');
    expect(stopped, worker.log()).toBe(true);
    expect(worker.log()).toContain('shut down cleanly');
    // what the worker said about stopping (e.g. a store that would not close)
    console.log(
      worker
        .log()
        .split('\n')
        .filter((l) => l.startsWith('ferry worker:'))
        .join('\n'),
    );
  }
  await connection?.close();
  await offline?.dropDataset().catch(() => undefined);
  await offline?.close();
  await online?.client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
  await online?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('workflow faults (Temporal, Cassandra, BigQuery emulator)', () => {
  it(`a worker killed in the middle of a ${BIG.toLocaleString('en')}-row upsync: a new one completes it, every row once`, async () => {
    const d = def('big');
    const handle = await start('upsyncWorkflow', upsyncWorkflowId(d.name), [
      { feature: d.name, options: { chunkRows: 40_000 } },
    ]);
    const before = await eventually('the upsync to be mid-way', 120_000, async () => {
      const p = (await handle.query('progress')) as SyncProgress;
      return p.rowsRead >= 60_000 ? p : undefined;
    });
    expect(before.rowsRead).toBeLessThan(BIG);
    await worker!.stop('SIGKILL');
    worker = await startWorker();

    const r = (await handle.result()) as SyncProgress;
    expect(r).toMatchObject({
      state: 'done',
      rowsRead: BIG,
      rowsWritten: BIG,
      rowsDeadLettered: 0,
      watermark: BASE + BIG,
    });
    const state = JSON.parse((await online.getMeta(upsyncStateKey(d.name)))!);
    expect(state.watermark).toBe(BASE + BIG);
    expect(state.cursor).toEqual({ watermark: BASE + BIG });
    expect(await checkAll(d, BIG)).toBe(BIG);
  }, 420_000);

  it('the online store unavailable for a while mid-sync: activities retry with backoff and the sync completes', async () => {
    const d = def('pause');
    const pid = serverPid('cassandra');
    const handle = await start('upsyncWorkflow', upsyncWorkflowId(d.name), [{ feature: d.name }]);
    await eventually('rows to be written', 120_000, async () => {
      const p = (await handle.query('progress')) as SyncProgress;
      return p.rowsWritten >= 10_000 ? p : undefined;
    });
    let maxAttempt = 1;
    let lastFailure = '';
    process.kill(pid, 'SIGSTOP');
    cassandraStopped = pid;
    try {
      const until = Date.now() + 25_000;
      while (Date.now() < until) {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        for (const a of pending) {
          maxAttempt = Math.max(maxAttempt, a.attempt ?? 1);
          if (a.lastFailure?.message) lastFailure = a.lastFailure.message;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      process.kill(pid, 'SIGCONT');
      cassandraStopped = undefined;
    }
    const r = (await handle.result()) as SyncProgress;
    expect(r).toMatchObject({
      state: 'done',
      rowsRead: PAUSE_ROWS,
      rowsWritten: PAUSE_ROWS,
      watermark: BASE + PAUSE_ROWS,
    });
    // the outage failed attempts, which were retried
    expect(maxAttempt).toBeGreaterThanOrEqual(2);
    expect(lastFailure).not.toBe('');
    expect(await checkAll(d, PAUSE_ROWS)).toBe(PAUSE_ROWS);
  }, 300_000);

  it('Cassandra killed (SIGKILL) mid-sync and started again: the sync completes, every row is served, and fresher real-time values are not clobbered', async () => {
    const d = def('killed');
    // real-time values newer than the upsync's rows, written before it (every 97th key)
    const fresh = Array.from({ length: Math.floor(KILL_ROWS / 97) }, (_, i) => (i + 1) * 97);
    const freshTime = BASE + 10_000_000;
    await online.writeObjects(
      d,
      fresh.map((k) => ({ keys: { user_id: k }, values: { level: -k }, eventTimeMs: freshTime })),
    );
    const handle = await start('upsyncWorkflow', upsyncWorkflowId(d.name), [{ feature: d.name }]);
    const atKill = await eventually('rows to be written', 120_000, async () => {
      const p = (await handle.query('progress')) as SyncProgress;
      return p.rowsWritten >= 20_000 ? p : undefined;
    });
    await killServer('cassandra');
    await new Promise((r) => setTimeout(r, 3_000));
    await startServer('cassandra');
    const r = (await handle.result()) as SyncProgress;
    expect(r).toMatchObject({
      state: 'done',
      rowsRead: KILL_ROWS,
      rowsDeadLettered: 0,
      watermark: BASE + KILL_ROWS,
    });
    expect(atKill.rowsWritten).toBeLessThan(KILL_ROWS);
    // every upsynced row is served (those written before the kill survived it), except the fresher ones
    expect(await checkAll(d, KILL_ROWS)).toBe(KILL_ROWS - fresh.length);
    const kept = await online.readObjects(
      d,
      fresh.map((user_id) => ({ user_id })),
    );
    const clobbered = kept.filter((x, i) => x.values.level !== -fresh[i]! || x.lastUpdatedAtMs !== freshTime);
    expect(clobbered.slice(0, 3)).toEqual([]);
    const state = JSON.parse((await online.getMeta(upsyncStateKey(d.name)))!);
    expect(state.watermark).toBe(BASE + KILL_ROWS);
  }, 300_000);

  it('a transform with a SQL error fails with the warehouse message; nothing downstream runs; the next run is unaffected', async () => {
    const input = {
      pipeline: `${ns}-faults`,
      transforms: ['wf/good.sql', 'wf/broken.sql'],
      features: [`${ns}::from-good`, `${ns}::from-broken`],
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
    expect(err.cause.message).toMatch(/^transform wf\/broken\.sql: .*wf[/\\]broken\.sql:4/);
    expect(err.cause.message).toContain('no_such_column');
    const progress = err.cause.details[0] as PipelineProgress;
    expect(progress.features.map((f) => f.status)).toEqual(['done', 'skipped']);
    expect(await offline.describeTable('wf_broken_out')).toBeUndefined();
    const [broken] = await online.readObjects(def('from-broken'), [{ user_id: 1 }]);
    expect(broken!.found).toBe(false);
    const [good] = await online.readObjects(def('from-good'), [{ user_id: 1 }]);
    expect(good!.values.level).toBe(3);

    writeFileSync(
      path.join(dir, 'sql/wf/broken.sql'),
      sql['wf/broken.sql']!.replace('no_such_column', 'level * 2'),
    );
    const next = (await client.workflow.execute('transformAndUpsyncWorkflow', {
      taskQueue,
      workflowId: pipelineWorkflowId(input.pipeline, '2024-03-11'),
      args: [{ ...input, logicalDate: '2024-03-11' }],
    })) as PipelineProgress;
    expect(next.state).toBe('done');
    const [fixed] = await online.readObjects(def('from-broken'), [{ user_id: 3 }]);
    expect(fixed!.values.level).toBe(18);
  }, 240_000);

  it('schedules made by apply are listed, triggered, backfilled, paused, updated and removed', async () => {
    const d = def('sched');
    const target = new TemporalSchedulesTarget({ client, taskQueue, namePrefix: `${ns}/` });
    const id = target.upsyncScheduleId(d.name);
    expect(id).toBe(`${ns}/upsync/${d.name}`);
    try {
      expect(await target.plan(d)).toEqual([
        { kind: 'temporal schedule', name: id, action: 'create' },
        { kind: 'temporal schedule', name: `${ns}/retention/daily`, action: 'create' },
      ]);
      await target.apply(d);
      expect(await target.plan(d)).toEqual([]);
      await eventually('the schedule to be listed', 30_000, async () => {
        for await (const s of client.schedule.list()) if (s.scheduleId === id) return true;
        return undefined;
      });
      const handle = client.schedule.getHandle(id);
      const described = await handle.describe();
      expect(described.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'scheduledUpsyncWorkflow',
        taskQueue,
        args: [{ feature: d.name, cron: yearly }],
      });
      expect(described.policies.overlap).toBe('SKIP');
      expect(described.state.note).toContain(`Upsync of ${d.name}`);

      // trigger now: the transform runs for [previous fire, now), then the upsync
      const triggeredAt = Date.now();
      await handle.trigger();
      const action = await eventually(
        'the triggered run',
        30_000,
        async () => (await handle.describe()).info.recentActions[0],
      );
      expect(action.action.workflow.workflowId.startsWith(`scheduled/upsync/${d.name}`)).toBe(true);
      const run = (await client.workflow
        .getHandle(action.action.workflow.workflowId, action.action.workflow.firstExecutionRunId)
        .result()) as ScheduledUpsyncResult;
      expect(run).toMatchObject({
        feature: d.name,
        status: 'done',
        transform: { transform: 'wf/sched.sql', status: 'done' },
      });
      expect(run.upsync).toMatchObject({ rowsRead: 3, rowsWritten: 3 });
      const [one] = await online.readObjects(d, [{ user_id: 1 }]);
      expect(one!.lastUpdatedAtMs).toBeGreaterThanOrEqual(triggeredAt - 5_000);

      // the UI's backfill action: one run for the 2024-01-01 fire time, over the window before it
      await handle.backfill({
        start: new Date('2023-12-31T23:30:00Z'),
        end: new Date('2024-01-01T00:30:00Z'),
        overlap: 'ALLOW_ALL',
      });
      const backfilled = await eventually('the backfill run', 60_000, async () => {
        const d2 = await handle.describe();
        const a = d2.info.recentActions.find(
          (x) => x.scheduledAt.getTime() === Date.parse('2024-01-01T00:00:00Z'),
        );
        return a;
      });
      const bf = (await client.workflow
        .getHandle(backfilled.action.workflow.workflowId, backfilled.action.workflow.firstExecutionRunId)
        .result()) as ScheduledUpsyncResult;
      expect(bf.status).toBe('done');
      const rows = await offline.readRows('wf_sched_out', { orderBy: ['user_id'] });
      expect(rows[0]).toMatchObject({
        _last_updated_at_ms: Date.parse('2024-01-01T00:00:00Z'),
        window_start_ms: Date.parse('2023-01-01T00:00:00Z'),
      });
      // older data than what is online: event time keeps the newer value
      const [still] = await online.readObjects(d, [{ user_id: 1 }]);
      expect(still!.lastUpdatedAtMs).toBe(one!.lastUpdatedAtMs);

      // paused from the UI; a later apply with a new cron updates it and keeps it paused
      await handle.pause('paused by the test');
      expect((await handle.describe()).state.paused).toBe(true);
      const moved = definitionsOf(defsText.replace(yearly, '0 0 2 1 *')).get(d.name)!;
      expect(await target.plan(moved)).toEqual([{ kind: 'temporal schedule', name: id, action: 'update' }]);
      await target.apply(moved);
      const after = await handle.describe();
      expect(after.state.paused).toBe(true);
      expect(after.state.note).toBe('paused by the test');
      expect(after.action).toMatchObject({ args: [{ feature: d.name, cron: '0 0 2 1 *' }] });
      await handle.unpause();

      expect(await target.planRetire(d)).toEqual([{ kind: 'temporal schedule', name: id, action: 'delete' }]);
      await target.retire(d);
      await expect(handle.describe()).rejects.toMatchObject({ name: 'ScheduleNotFoundError' });
    } finally {
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
      await client.schedule
        .getHandle(target.retentionScheduleId)
        .delete()
        .catch(() => undefined);
    }
  }, 240_000);
});
