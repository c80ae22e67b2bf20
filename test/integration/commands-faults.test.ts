import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCommandMessage } from '../../domain/commands/command-message.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { deadLetterTopicOf } from '../../streaming/commands/command-kafka.ts';
import { CommandProducer } from '../../streaming/commands/command-producer.ts';
import { intervalOf, isKeySampled, keyPhaseMs } from '../../streaming/downsync/downsync-sampler.ts';
import { commandConsumerWorkflowId } from '../../workflow-contract/command-consumer-ids.ts';
import {
  applyDefinitions,
  brokers,
  consumerHeartbeat,
  createTopics,
  dropDataset,
  dropKeyspace,
  eventually,
  groupProgress,
  kafkaAdmin,
  openStores,
  type Stores,
  temporalClient,
  testEnv,
  testSettings,
  uniqueNames,
} from './commands-harness.ts';
import { type FerryProcess, productionWorkflowBundle, runFerry, spawnFerryWorker } from './ferry-process.ts';
import { killServer, startServer } from './server-faults.ts';
import { requireServer } from './servers.ts';

// Faults of the real-time path against the real servers, with the shipped `ferry worker` in a child
// process and the consumer started by `ferry downsync start`: the worker killed (SIGKILL)
// mid-stream, Kafka restarted mid-stream (infra/down.sh and infra/up.sh), and Cassandra killed
// (SIGKILL) mid-stream and started again.

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

const { definitions, errors } = loadDefinitionsFromText(
  'faults.yaml',
  `
faults::counter:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    seq: { type: Long, default_value: 0 }
    note: { type: Text, default_value: "" }
  downsync:
    enabled: true
    min_interval_by_key: 2s
    random_sampling_ratio: 0.5
`,
);
if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
const counter: FeatureDefinition = definitions[0]!;
const table = 'faults__counter';

const names = uniqueNames('cmdfault');
const settings = testSettings(names);
let stores: Stores;
let admin: Admin;
let temporal: Awaited<ReturnType<typeof temporalClient>>;
let client: Client;
const cleanups: (() => Promise<unknown>)[] = [];

/**
 * The commands of `keys` keys × `rounds` updates: update j of key k has seq j and event time
 * base + j s + (k mod 1000) ms; with a 2 s interval, one or two updates of a key share one.
 * Within a round the event times go up and down by up to 1 s (k mod 1000), so the consumers are
 * given a lateness allowance of 1.5 s.
 */
function workload(firstKey: number, keys: number, rounds: number, base: number) {
  const messages = [];
  for (let j = 0; j < rounds; j++)
    for (let k = firstKey; k < firstKey + keys; k++)
      messages.push(
        encodeCommandMessage(counter, {
          feature: counter.name,
          method: 'UPDATE',
          keys: { user_id: k },
          values: { seq: j, note: `k${k}j${j}` },
          eventTimeMs: base + j * 1_000 + (k % 1_000),
        }),
      );
  return messages;
}

/** A past time aligned to the 2 s interval (its intervals are long over: they close by event time). */
function pastBase(hoursAgo: number): number {
  const t = Date.now() - hoursAgo * 3_600_000;
  return t - (t % 2_000);
}

/** What the online and offline stores must hold after `workload(firstKey, keys, rounds, base)`. */
async function verify(firstKey: number, keys: number, rounds: number, base: number) {
  const ids = Array.from({ length: keys }, (_, i) => firstKey + i);
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = await stores.online.readObjects(
      counter,
      chunk.map((user_id) => ({ user_id })),
    );
    const wrong = rows.flatMap((r, n) => {
      const k = chunk[n]!;
      const t = base + (rounds - 1) * 1_000 + (k % 1_000);
      return r.values.seq === rounds - 1 && r.lastUpdatedAtMs === t ? [] : [{ k, r }];
    });
    expect(wrong.slice(0, 3)).toEqual([]);
  }
  const offline = (await stores.offline.readRows(table)).filter(
    (r) => (r.user_id as number) >= firstKey && (r.user_id as number) < firstKey + keys,
  );
  const got = offline.map((r) => `${r.user_id}@${r._last_updated_at_ms}=${r.seq}`);
  const expected: string[] = [];
  for (const k of ids) {
    if (!isKeySampled(JSON.stringify([k]), 0.5)) continue;
    // independently: the last update of each of the key's (phase-shifted) 2 s intervals
    const phase = keyPhaseMs(JSON.stringify([k]), 2_000);
    const last = new Map<number, number>();
    for (let j = 0; j < rounds; j++) last.set(intervalOf(base + j * 1_000 + (k % 1_000), 2_000, phase), j);
    for (const j of last.values()) expected.push(`${k}@${base + j * 1_000 + (k % 1_000)}=${j}`);
  }
  const want = new Set(expected);
  const have = new Set(got);
  const extra = got.filter((g) => !want.has(g));
  const missing = expected.filter((e) => !have.has(e));
  if (extra.length > 0 || missing.length > 0 || got.length !== have.size)
    console.error(
      `offline: ${got.length} rows, ${have.size} distinct, ${expected.length} expected; extra ${extra.length} e.g. ${extra.slice(0, 5)}; missing ${missing.length} e.g. ${missing.slice(0, 5)}`,
    );
  expect(got.length).toBe(expected.length); // each row once
  expect(new Set(got).size).toBe(got.length);
  expect(got.sort()).toEqual(expected.sort());
  return { online: ids.length, offline: got.length };
}

beforeAll(async () => {
  for (const s of ['kafka', 'cassandra', 'temporal', 'bigquery'] as const) await requireServer(s);
  stores = await openStores(settings);
  await applyDefinitions(stores, [counter]);
  admin = await kafkaAdmin();
  temporal = await temporalClient();
  client = temporal.client;
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await temporal?.close();
  await admin?.disconnect();
  if (stores) {
    await dropDataset(stores.offline).catch(() => {});
    await stores.close();
  }
  await dropKeyspace(names.keyspace).catch(() => {});
}, 180_000);

/** `ferry worker` on the test's stores and the given task queue. */
async function startWorker(taskQueue: string): Promise<FerryProcess> {
  const worker = spawnFerryWorker({ ...testEnv(names), FERRY_TEMPORAL_TASK_QUEUE: taskQueue }, taskQueue, [
    '--workflow-bundle',
    await productionWorkflowBundle(),
  ]);
  await worker.ready;
  return worker;
}

/**
 * `ferry downsync start` for a topic and group, with a short heartbeat timeout (a killed worker's
 * consumer restarts within seconds), and downsync intervals that stay open through a stall: the
 * commands carry event times of hours ago, and a stall of the producer on this busy machine must
 * not pass for the quiet period that closes intervals by the wall clock.
 */
async function startConsumer(topic: string, groupId: string, taskQueue: string, heartbeatTimeout: string) {
  const r = await runFerry(
    [
      'downsync',
      'start',
      '--topic',
      topic,
      '--group',
      groupId,
      '--session-timeout',
      '10s',
      '--heartbeat-timeout',
      heartbeatTimeout,
      '--max-retry-interval',
      '5s',
      '--lateness',
      '1500ms',
      '--idle-close',
      '10s',
    ],
    { ...testEnv(names), FERRY_TEMPORAL_TASK_QUEUE: taskQueue },
  );
  expect(r.code, r.stderr).toBe(0);
  const handle: WorkflowHandle = client.workflow.getHandle(commandConsumerWorkflowId(topic, groupId));
  cleanups.push(() => handle.terminate());
  return handle;
}

/** Sends `messages` in slices of `slice` every `everyMs`; a slice that fails (broker down) is sent again. */
function produce(topic: string, messages: ReturnType<typeof workload>, slice: number, everyMs: number) {
  const state = { sent: 0, sendFailures: 0 };
  const done = (async () => {
    const producer = await CommandProducer.connect({ brokers, topic });
    try {
      for (let i = 0; i < messages.length; i += slice) {
        const started = Date.now();
        for (;;) {
          try {
            await producer.sendMessages(messages.slice(i, i + slice));
            break;
          } catch {
            state.sendFailures++;
            await new Promise((r) => setTimeout(r, 1_000));
          }
        }
        state.sent = Math.min(messages.length, i + slice);
        await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - started))));
      }
    } finally {
      await producer.close();
    }
  })();
  return { state, done };
}

/**
 * A fresh topic (and its dead letters) with `partitions` partitions, the shipped worker on a task
 * queue of its own, and the consumer started on it; `finish` cancels the consumer and stops the
 * worker with SIGTERM, which must end it cleanly.
 */
async function stream(name: string, partitions: number, heartbeatTimeout: string) {
  const topic = `${names.topic}-${name}`;
  const groupId = `ferry-${name}-${process.pid}`;
  const taskQueue = `ferry-commands-${name}-${randomUUID()}`;
  await createTopics(admin, topic, partitions);
  cleanups.push(() => admin.deleteTopics({ topics: [topic, deadLetterTopicOf(topic)] }));
  // `worker` is replaced when a test kills it and starts another
  const r = { topic, groupId, taskQueue, workflowId: commandConsumerWorkflowId(topic, groupId) };
  const s = { ...r, worker: await startWorker(taskQueue) };
  cleanups.push(() => s.worker.stop('SIGKILL'));
  const handle = await startConsumer(topic, groupId, taskQueue, heartbeatTimeout);
  const finish = async () => {
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect(await s.worker.stop()).toBe(0);
  };
  return Object.assign(s, { handle, finish });
}

describe('command consumer faults', () => {
  it('a worker killed mid-stream with 100,000 commands in flight: after the restart every command is applied and every sampled row exists once', async () => {
    const s = await stream('kill', 6, '10s');
    const { topic, groupId, workflowId } = s;

    const base = pastBase(2);
    const messages = workload(0, 10_000, 10, base);
    expect(messages).toHaveLength(100_000);
    // about 10,000 commands/s, so that most are still to come when the worker dies
    const producing = produce(topic, messages, 1_000, 100);

    // kill the worker once a part is applied and committed, with the rest still in flight
    const atKill = await eventually('20,000 commands committed', 300_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed >= 20_000 ? p : undefined;
    });
    expect(await s.worker.stop('SIGKILL')).toBeNull();
    const sentAtKill = producing.state.sent;
    const before = await consumerHeartbeat(client, workflowId);
    expect(before).toBeDefined();

    s.worker = await startWorker(s.taskQueue);
    await producing.done;
    // Temporal restarts the activity on the new worker once the heartbeat times out
    const restarted = await eventually('the consumer restarted', 120_000, async () => {
      const h = await consumerHeartbeat(client, workflowId);
      return h && h.attempt > before!.attempt ? h : undefined;
    });
    await eventually('every offset committed', 400_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed === 100_000 ? p : undefined;
    });
    const counts = await verify(0, 10_000, 10, base).catch((e) => {
      console.error(`worker log:\n${s.worker.log().split('\n').slice(-40).join('\n')}`);
      throw e;
    });
    console.log(
      `kill test: at the kill ${sentAtKill} sent, ${atKill.committed} committed; restarted as attempt ${restarted.attempt}; offline rows ${counts.offline}`,
    );

    await s.finish();
  }, 600_000);

  it('Kafka restarted mid-stream: the consumer reconnects and catches up without losing commands', async () => {
    const s = await stream('restart', 3, '20s');
    const { topic, groupId, workflowId } = s;

    const base = pastBase(3);
    const firstKey = 100_000;
    // a steady 2,000 commands/s; a send that fails while Kafka is down is sent again
    const producing = produce(topic, workload(firstKey, 3_000, 10, base), 500, 250);
    await eventually('a quarter sent and some committed', 120_000, async () => {
      if (producing.state.sent < 7_500) return undefined;
      const p = await groupProgress(admin, groupId, topic);
      return p.committed > 0 ? p : undefined;
    });
    const sentAtRestart = producing.state.sent;
    const down = await exec('bash', ['infra/down.sh', 'kafka'], { cwd: root });
    expect(down.stderr).toMatch(/kafka stopped/);
    await new Promise((r) => setTimeout(r, 3_000));
    await exec('bash', ['infra/up.sh', 'kafka'], { cwd: root, timeout: 240_000 });
    await producing.done;
    await eventually('every offset committed', 300_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed >= 30_000 && p.committed === p.end ? p : undefined;
    });
    const counts = await verify(firstKey, 3_000, 10, base);
    // kafkajs reconnects (and rejoins) by itself; had it given up, the activity would have failed
    // and Temporal started it again (a higher attempt)
    const h = (await consumerHeartbeat(client, workflowId))!;
    console.log(
      `kafka restart test: restarted after ${sentAtRestart} of 30000 sent; ${producing.state.sendFailures} sends failed and were repeated; consumer attempt ${h.attempt}, ${h.details?.rebalances} group joins; offline rows ${counts.offline}`,
    );
    await s.finish();
  }, 600_000);

  it('Cassandra killed (SIGKILL) mid-stream and started again: every command is applied, the newest value of each key wins, every sampled row exists once', async () => {
    const s = await stream('cassandra', 3, '20s');
    const { topic, groupId, workflowId } = s;

    // keys written once, before the kill, and committed: if the server lost acknowledged writes
    // when it was killed, nothing would write them again
    const earlyBase = pastBase(5);
    const earlyKey = 210_000;
    await produce(topic, workload(earlyKey, 2_000, 1, earlyBase), 1_000, 0).done;
    await eventually('the early commands committed', 120_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed === 2_000 ? p : undefined;
    });
    const base = pastBase(4);
    const firstKey = 200_000;
    // 2,000 commands/s over 15 s: rounds 0..9 of 3,000 keys, each round newer than the one before
    const producing = produce(topic, workload(firstKey, 3_000, 10, base), 500, 250);
    const atKill = await eventually('a third committed', 120_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed >= 12_000 ? p : undefined;
    });
    await killServer('cassandra');
    const sentAtKill = producing.state.sent;
    await new Promise((r) => setTimeout(r, 3_000));
    // nothing is committed past what was written before the kill while the store is down
    const whileDown = await groupProgress(admin, groupId, topic);
    await startServer('cassandra');
    await producing.done;
    await eventually('every offset committed', 300_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed >= 32_000 && p.committed === p.end ? p : undefined;
    });
    // the values written before the kill survived it (the schema too), and the newest round won
    await verify(earlyKey, 2_000, 1, earlyBase);
    const counts = await verify(firstKey, 3_000, 10, base).catch((e) => {
      console.error(`worker log:\n${s.worker.log().split('\n').slice(-40).join('\n')}`);
      throw e;
    });
    const h = (await consumerHeartbeat(client, workflowId))!;
    console.log(
      `cassandra kill test: killed after ${sentAtKill} of 30000 sent, ${atKill.committed} committed (${whileDown.committed} while down); consumer attempt ${h.attempt}; offline rows ${counts.offline}`,
    );
    await s.finish();
  }, 600_000);
});
