import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterTopicOf } from '../../core/commands/command-kafka.ts';
import { encodeCommandMessage } from '../../core/commands/command-message.ts';
import { CommandProducer } from '../../core/commands/command-producer.ts';
import type { FeatureDefinition } from '../../core/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../../core/definitions/load-definitions.ts';
import { intervalOf, isKeySampled, keyPhaseMs } from '../../core/downsync/downsync-sampler.ts';
import { commandConsumerWorkflowId } from '../../workflows/command-consumer-ids.ts';
import { commandConsumerWorkflow } from '../../workflows/command-consumer-workflow.ts';
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
  startWorker,
  temporalClient,
  testSettings,
  uniqueNames,
  workflowBundle,
} from './commands-harness.ts';
import { requireServer } from './servers.ts';

// Faults of the real-time path against the real servers: a worker killed (SIGKILL) mid-stream,
// and Kafka restarted mid-stream (only through infra/down.sh and infra/up.sh).

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const childPath = fileURLToPath(new URL('./commands-worker-child.ts', import.meta.url));

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

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
  log: string[];
}

function spawnWorker(topic: string, taskQueue: string, bundle: string): Child {
  const p = spawn(
    process.execPath,
    ['--import', 'tsx', childPath, names.keyspace, names.dataset, topic, taskQueue, bundle],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log: string[] = [];
  const keep = (chunk: Buffer) => {
    log.push(...chunk.toString().split('\n').filter(Boolean));
    if (log.length > 200) log.splice(0, log.length - 200);
  };
  p.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (chunk.toString().includes('ready')) resolve();
    });
    void exited.then((code) =>
      reject(new Error(`worker exited (${code}) before it was ready:\n${log.join('\n')}`)),
    );
  });
  return { process: p, ready, exited, log };
}

describe('command consumer faults', () => {
  it('a worker killed mid-stream with 100,000 commands in flight: after the restart every command is applied and every sampled row exists once', async () => {
    const topic = `${names.topic}-kill`;
    const groupId = `ferry-kill-${process.pid}`;
    const taskQueue = `ferry-commands-kill-${randomUUID()}`;
    await createTopics(admin, topic, 6);
    cleanups.push(() => admin.deleteTopics({ topics: [topic, deadLetterTopicOf(topic)] }));
    const bundle = await workflowBundle();

    let worker = spawnWorker(topic, taskQueue, bundle);
    cleanups.push(async () => worker.process.kill('SIGKILL'));
    await worker.ready;
    const workflowId = commandConsumerWorkflowId(topic, groupId);
    const handle = await client.workflow.start(commandConsumerWorkflow, {
      taskQueue,
      workflowId,
      args: [
        {
          topic,
          groupId,
          sessionTimeoutMs: 10_000,
          heartbeatTimeout: '10 seconds',
          maxRetryInterval: '5 seconds',
          heartbeatEveryMs: 1_000,
          // the commands carry event times of 2 hours ago: a stall of the producer on this busy
          // machine must not pass for the quiet period that closes intervals by the wall clock
          downsync: { latenessMs: 1_500, idleMs: 10_000 },
        },
      ],
    });
    cleanups.push(() => handle.terminate());

    const base = pastBase(2);
    const messages = workload(0, 10_000, 10, base);
    expect(messages).toHaveLength(100_000);
    const producer = await CommandProducer.connect({ brokers, topic });
    let sent = 0;
    const producing = (async () => {
      // about 10,000 commands/s, so that most are still to come when the worker dies
      for (let i = 0; i < messages.length; i += 1_000) {
        const started = Date.now();
        await producer.sendMessages(messages.slice(i, i + 1_000));
        sent = i + 1_000;
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
      }
    })();

    // kill the worker once a part is applied and committed, with the rest still in flight
    const atKill = await eventually('20,000 commands committed', 300_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed >= 20_000 ? p : undefined;
    });
    worker.process.kill('SIGKILL');
    expect(await worker.exited).toBeNull();
    const sentAtKill = sent;
    const before = await consumerHeartbeat(client, workflowId);
    expect(before).toBeDefined();

    worker = spawnWorker(topic, taskQueue, bundle);
    await worker.ready;
    await producing;
    await producer.close();
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
      console.error(`worker log:\n${worker.log.slice(-40).join('\n')}`);
      throw e;
    });
    console.log(
      `kill test: at the kill ${sentAtKill} sent, ${atKill.committed} committed; restarted as attempt ${restarted.attempt}; offline rows ${counts.offline}`,
    );

    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    worker.process.kill('SIGTERM');
    await worker.exited;
  }, 600_000);

  it('Kafka restarted mid-stream: the consumer reconnects and catches up without losing commands', async () => {
    const topic = `${names.topic}-restart`;
    const groupId = `ferry-restart-${process.pid}`;
    const taskQueue = `ferry-commands-restart-${randomUUID()}`;
    await createTopics(admin, topic, 3);
    cleanups.push(() => admin.deleteTopics({ topics: [topic, deadLetterTopicOf(topic)] }));
    const worker = await startWorker(settings, stores, taskQueue);
    cleanups.push(() => worker.stop());
    const workflowId = commandConsumerWorkflowId(topic, groupId);
    const handle = await client.workflow.start(commandConsumerWorkflow, {
      taskQueue,
      workflowId,
      args: [
        {
          topic,
          groupId,
          sessionTimeoutMs: 10_000,
          heartbeatTimeout: '20 seconds',
          maxRetryInterval: '5 seconds',
          // event times of 3 hours ago; the outage must not pass for a quiet period either
          downsync: { latenessMs: 1_500, idleMs: 10_000 },
        },
      ],
    });
    cleanups.push(() => handle.terminate());

    const base = pastBase(3);
    const firstKey = 100_000;
    const messages = workload(firstKey, 3_000, 10, base);
    const producer = await CommandProducer.connect({ brokers, topic });
    let sent = 0;
    let sendFailures = 0;
    const producing = (async () => {
      // a steady 2,000 commands/s; a send that fails while Kafka is down is sent again
      for (let i = 0; i < messages.length; i += 500) {
        const started = Date.now();
        for (;;) {
          try {
            await producer.sendMessages(messages.slice(i, i + 500));
            break;
          } catch {
            sendFailures++;
            await new Promise((r) => setTimeout(r, 1_000));
          }
        }
        sent = i + 500;
        await new Promise((r) => setTimeout(r, Math.max(0, 250 - (Date.now() - started))));
      }
    })();
    await eventually('a quarter sent and some committed', 120_000, async () => {
      if (sent < 7_500) return undefined;
      const p = await groupProgress(admin, groupId, topic);
      return p.committed > 0 ? p : undefined;
    });
    const sentAtRestart = sent;
    const down = await exec('bash', ['infra/down.sh', 'kafka'], { cwd: root });
    expect(down.stderr).toMatch(/kafka stopped/);
    await new Promise((r) => setTimeout(r, 3_000));
    await exec('bash', ['infra/up.sh', 'kafka'], { cwd: root, timeout: 240_000 });
    await producing;
    await producer.close();
    await eventually('every offset committed', 300_000, async () => {
      const p = await groupProgress(admin, groupId, topic);
      return p.committed >= 30_000 && p.committed === p.end ? p : undefined;
    });
    const counts = await verify(firstKey, 3_000, 10, base);
    // kafkajs reconnects (and rejoins) by itself; had it given up, the activity would have failed
    // and Temporal started it again (a higher attempt)
    const h = (await consumerHeartbeat(client, workflowId))!;
    console.log(
      `kafka restart test: restarted after ${sentAtRestart} of 30000 sent; ${sendFailures} sends failed and were repeated; consumer attempt ${h.attempt}, ${h.details?.rebalances} group joins; offline rows ${counts.offline}`,
    );
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
  }, 600_000);
});
