/**
 * Records the histories that test/unit/workflow-replay.test.ts replays: every Ferry workflow run to
 * its end (and through its continue-as-new, failure and cancellation paths) by the real workflows
 * and activities on embedded stores, on a Temporal dev server of its own. Run it only when a
 * workflow changes on purpose in a way that running executions may not see (and then version the
 * change with patched()); the replay test exists to catch the changes that were not on purpose.
 *
 *   npx tsx test/workflow-histories/record-histories.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { FerryActivities } from '../../workflow-contract/activities.ts';
import { workflowTypes } from '../../workflow-contract/workflow-types.ts';
import {
  activitiesFor,
  applyDefinition,
  closeWorkflowTestEnv,
  definitionsOf,
  openEmbeddedEnv,
  workflowTestEnv,
} from '../unit/workflows-harness.ts';
import { productionWorkflowBundle } from '../workflow-bundle.ts';

const T0 = Date.parse('2024-03-10T00:00:00Z');
const here = import.meta.dirname;
const columns = [
  { name: 'user_id', type: { kind: 'scalar', scalar: 'Long' } },
  { name: 'level', type: { kind: 'scalar', scalar: 'Text' } },
  { name: '_last_updated_at_ms', type: { kind: 'scalar', scalar: 'Long' } },
] as const;

const yaml = (name: string, table: string, extra = '') => `
${name}:
  feature_type: Object
  owner: replay
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
  upsync:
    enabled: true
    incremental_update: true
    source: ${table}
${extra}`;

const rows = (n: number, bad: number[] = []) =>
  Array.from({ length: n }, (_, k) => ({
    user_id: k + 1,
    level: bad.includes(k + 1) ? 'not a number' : String(k + 1),
    _last_updated_at_ms: T0 + k,
  }));

const env = await openEmbeddedEnv({
  'replay/src.sql': '-- ferry:destination replay_from_transform\nSELECT * FROM replay_src\n',
});
const testEnv = await workflowTestEnv();
try {
  for (const [name, source, extra] of [
    ['replay::inc', '{ table: replay_src }', ''],
    ['replay::pipe', '{ transform: replay/src.sql }', ''],
    ['replay::ret', '{ table: replay_src }', '  retention:\n    online: 1h\n    offline: 1d\n'],
  ] as const) {
    await applyDefinition(env, definitionsOf(yaml(name, source, extra)).get(name)!);
  }
  await env.offline.ensureTable('replay_src', columns);
  await env.offline.appendRows('replay_src', rows(250, [7, 8]));

  let consumerRuns = 0;
  const activities: FerryActivities = {
    ...activitiesFor(env),
    // the consumer's activity needs Kafka; its workflow only loops over it, so a stand-in serves:
    // two runs that end at their maximum run time, then one that waits until cancelled
    runCommandConsumer: async () => {
      if (++consumerRuns <= 2) return { stoppedBy: 'max-run', stats: {} as never };
      // heartbeats are how a cancellation reaches an activity, as in the real consumer
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 200);
      await ctx.cancelled.catch(() => undefined);
      clearInterval(beat);
      return { stoppedBy: 'cancel', stats: {} as never };
    },
  };
  const taskQueue = 'record-histories';
  const worker = await Worker.create({
    connection: testEnv.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: await productionWorkflowBundle() },
    activities,
  });
  const { client } = testEnv;
  const recorded: string[] = [];
  const save = async (file: string, workflowId: string) => {
    let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
    // the chain's runs, newest first: follow them back from the latest through its first run id
    const first = (await client.workflow.getHandle(workflowId, runId).describe()).raw.workflowExecutionInfo
      ?.firstRunId;
    runId = first ?? runId;
    for (let n = 1; runId; n++) {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      const out = `${file}${n > 1 || history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes ? `-run${n}` : ''}.json`;
      writeFileSync(
        path.join(here, out),
        `${JSON.stringify(proto.temporal.api.history.v1.History.fromObject(history).toJSON(), null, 1)}\n`,
      );
      recorded.push(out);
      runId =
        history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ??
        undefined;
    }
  };
  const run = async (
    file: string,
    type: string,
    workflowId: string,
    args: unknown[],
    end: 'result' | 'fail' = 'result',
  ) => {
    const handle = await client.workflow.start(type, { taskQueue, workflowId, args });
    if (end === 'fail') await handle.result().catch(() => undefined);
    else await handle.result();
    await save(file, workflowId);
  };

  await worker.runUntil(async () => {
    await run('upsync-incremental', workflowTypes.upsync, 'upsync/replay::inc', [
      { feature: 'replay::inc', options: { pageSize: 40, chunkRows: 100, chunksPerRun: 2 } },
    ]);
    await run('upsync-full', workflowTypes.upsync, 'upsync/replay::inc/full', [
      { feature: 'replay::inc', full: true },
    ]);
    await run(
      'upsync-not-applied',
      workflowTypes.upsync,
      'upsync/replay::missing',
      [{ feature: 'replay::missing' }],
      'fail',
    );
    await run('backfill', workflowTypes.backfill, 'backfill/replay::inc', [
      { feature: 'replay::inc', fromMs: T0 + 20, toMs: T0 + 120, options: { pageSize: 30, chunkRows: 40 } },
    ]);
    await run('transform-and-upsync', workflowTypes.transformAndUpsync, 'pipeline/replay/2024-03-10', [
      {
        pipeline: 'replay',
        transforms: ['replay/src.sql'],
        features: ['replay::pipe'],
        logicalDate: '2024-03-10',
      },
    ]);
    await run('scheduled-upsync', workflowTypes.scheduledUpsync, 'scheduled/upsync/replay::pipe', [
      { feature: 'replay::pipe', cron: '0 5 * * *' },
    ]);
    await run('replay-dead-letters', workflowTypes.replay, 'replay/replay::inc', [
      { feature: 'replay::inc', batchSize: 1 },
    ]);
    await run('retention', workflowTypes.retention, 'retention/replay', [{}]);
    const consumer = await client.workflow.start(workflowTypes.commandConsumer, {
      taskQueue,
      workflowId: 'commands/replay',
      args: [{ heartbeatTimeout: '10 seconds' }],
    });
    while (consumerRuns < 3) await new Promise((r) => setTimeout(r, 50));
    await consumer.cancel();
    await consumer.result().catch(() => undefined);
    await save('command-consumer', 'commands/replay');
  });
  console.log(
    `recorded ${recorded.length} histories in ${path.relative(process.cwd(), here)}: ${recorded.join(', ')}`,
  );
} finally {
  await closeWorkflowTestEnv();
  await env.close();
}
