import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installQuietTemporalRuntime } from '../temporal-runtime.ts';
import * as activities from './fixtures/smoke-activities.ts';
import { smokeWorkflow } from './fixtures/smoke-workflows.ts';
import { requireServer, servers } from './servers.ts';

const address = `${servers.temporal.host}:${servers.temporal.port}`;
const uiUrl = `http://${servers.temporalUi.host}:${servers.temporalUi.port}`;
const namespace = 'default';

/** Polls `check` until it returns a value that is not undefined, or fails after `timeoutMs`. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('temporal smoke (worker, workflow, activity and schedule against the dev server)', () => {
  const taskQueue = `ferry-smoke-${randomUUID()}`;
  let connection: Connection | undefined;
  let client: Client;
  let workerConnection: NativeConnection | undefined;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;

  beforeAll(async () => {
    await requireServer('temporal');
    installQuietTemporalRuntime();
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace });
    workerConnection = await NativeConnection.connect({ address });
    // bundles the workflow file with webpack: several seconds on 2 cores
    worker = await Worker.create({
      connection: workerConnection,
      namespace,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./fixtures/smoke-workflows.ts', import.meta.url)),
      activities,
    });
    workerRun = worker.run();
  }, 180_000);

  afterAll(async () => {
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    expect(worker?.getState() ?? 'STOPPED').toBe('STOPPED');
    await workerConnection?.close();
    await connection?.close();
  }, 60_000);

  it('runs a workflow that calls an activity', async () => {
    const result = await client.workflow.execute(smokeWorkflow, {
      taskQueue,
      workflowId: `ferry-smoke-wf-${randomUUID()}`,
      args: ['ferry'],
      workflowExecutionTimeout: '60 seconds',
    });
    expect(result).toBe('smokeWorkflow: HELLO, FERRY!');
  }, 90_000);

  it('creates, lists, describes, triggers and deletes a schedule', async () => {
    const scheduleId = `smoke/${randomUUID()}`;
    const handle = await client.schedule.create({
      scheduleId,
      // hourly, so the only action during the test is the one we trigger
      spec: { intervals: [{ every: '1 hour' }] },
      action: {
        type: 'startWorkflow',
        workflowType: smokeWorkflow,
        args: ['schedule'],
        taskQueue,
        workflowExecutionTimeout: '60 seconds',
      },
      memo: { purpose: 'ferry smoke test' },
    });
    try {
      // list() reads the visibility store, which lags the create a little
      await eventually('the schedule to be listed', 30_000, async () => {
        for await (const s of client.schedule.list()) if (s.scheduleId === scheduleId) return true;
        return undefined;
      });

      const before = await handle.describe();
      expect(before.scheduleId).toBe(scheduleId);
      expect(before.state.paused).toBe(false);
      expect(before.action.type).toBe('startWorkflow');
      expect(before.info.recentActions).toHaveLength(0);
      expect(before.info.nextActionTimes.length).toBeGreaterThan(0);

      await handle.trigger();
      const action = await eventually('the triggered action to be recorded', 30_000, async () => {
        const d = await handle.describe();
        return d.info.recentActions[0];
      });
      const started = action.action.workflow;
      expect(started.workflowId.startsWith(scheduleId)).toBe(true);
      const result = await client.workflow
        .getHandle(started.workflowId, started.firstExecutionRunId)
        .result();
      expect(result).toBe('smokeWorkflow: HELLO, SCHEDULE!');
    } finally {
      await handle.delete();
    }
    await expect(handle.describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  }, 90_000);

  it('serves the Web UI and its API on the UI port', async () => {
    const page = await fetch(`${uiUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await page.text()).toLowerCase()).toContain('<html');

    const api = await fetch(`${uiUrl}/api/v1/namespaces`);
    expect(api.status).toBe(200);
    const body = (await api.json()) as { namespaces: { namespaceInfo: { name: string } }[] };
    const names = body.namespaces.map((n) => n.namespaceInfo.name);
    expect(names).toContain('default');
    expect(names).toContain('ferry');
  });
});
