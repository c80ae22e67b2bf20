import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterTopicOf } from '../../streaming/commands/command-kafka.ts';
import { CommandProducer } from '../../streaming/commands/command-producer.ts';
import { eventGroupOf } from '../../workflow-contract/command-consumer-ids.ts';
import { seedCommands } from '../fixtures/seed-commands.ts';
import {
  brokers,
  dropDataset,
  dropKeyspace,
  eventually,
  kafkaAdmin,
  openStores,
  temporalAddress,
  testEnv,
  testSettings,
} from './commands-harness.ts';
import { type FerryProcess, root, runFerry, spawnFerryReader, spawnFerryWorker } from './ferry-process.ts';
import { requireServer } from './servers.ts';

// The README's operator path against the real servers, every step a shipped entry point in a child
// process, nothing assembled for the test: `ferry validate`, `plan` and `apply` of the sample
// features (Cassandra tables, BigQuery tables, Kafka topics, Temporal Schedules), `ferry worker`,
// `ferry serve`, `ferry downsync start`, commands on Kafka (the seed's ksqlDB output and
// `ferry send`), reads through the reader with a bearer token, `ferry downsync status` and `stop`,
// and both processes stopped with SIGTERM. The Temporal namespace `ferry` (which infra/up.sh
// registers) keeps the Schedules apply makes apart from the other tests'.

const hex = randomBytes(3).toString('hex');
const names = { keyspace: `ferry_op_${hex}`, dataset: `ferry_op_${hex}`, topic: `ferry-op-${hex}` };
const namespace = 'ferry';
const taskQueue = `ferry-op-${hex}`;
const env = {
  ...testEnv(names),
  FERRY_TEMPORAL_NAMESPACE: namespace,
  FERRY_TEMPORAL_TASK_QUEUE: taskQueue,
  FERRY_FEATURES_DIR: path.join(root, 'features'),
  FERRY_SQL_DIR: path.join(root, 'sql'),
  FERRY_TOKENS_FILE: path.join(root, 'tokens.yaml'),
  FERRY_READER_THREADS: '1',
};
const token = { Authorization: 'Bearer ferry-sample-app-token' };
const group = 'ferry-commands'; // what `ferry downsync start` uses unless told otherwise
let worker: FerryProcess | undefined;
let reader: (FerryProcess & { url: string }) | undefined;
let admin: Admin;
let temporal: Connection;

/** `ferry <args>` as the operator types it; exit code 0 expected unless said. */
async function ferry(...args: string[]) {
  const r = await runFerry(args, env);
  return { ...r, out: `${r.stdout}${r.stderr}` };
}

async function get(urlPath: string, headers: Record<string, string> = token) {
  const res = await fetch(`${reader!.url}${urlPath}`, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  for (const s of ['kafka', 'cassandra', 'temporal', 'bigquery'] as const) await requireServer(s);
  admin = await kafkaAdmin();
  temporal = await Connection.connect({ address: temporalAddress });
}, 60_000);

afterAll(async () => {
  await ferry('downsync', 'stop').catch(() => {});
  // the consumers `ferry apply` started for the features fed by domain events, and their topics
  const eventTopics = ['azar_user_cdc', 'live_room_event', 'azar_match_event', 'azar_user_login'];
  for (const t of eventTopics)
    await ferry('downsync', 'stop', '--topic', t, '--group', eventGroupOf(t)).catch(() => {});
  await admin
    ?.deleteTopics({ topics: eventTopics.flatMap((t) => [t, deadLetterTopicOf(t)]) })
    .catch(() => {});
  await reader?.stop('SIGKILL');
  await worker?.stop('SIGKILL');
  // the Schedules apply made, the topics, keyspace and dataset
  const client = new Client({ connection: temporal, namespace });
  for await (const s of client.schedule.list()) {
    const handle = client.schedule.getHandle(s.scheduleId);
    const d = await handle.describe().catch(() => undefined);
    if (d?.action.type === 'startWorkflow' && d.action.taskQueue === taskQueue)
      await handle.delete().catch(() => {});
  }
  await temporal?.close();
  await admin?.deleteTopics({ topics: [names.topic, deadLetterTopicOf(names.topic)] }).catch(() => {});
  await admin?.deleteGroups([group]).catch(() => {});
  await admin?.disconnect();
  const stores = await openStores(testSettings(names)).catch(() => undefined);
  if (stores) {
    await dropDataset(stores.offline).catch(() => {});
    await stores.close();
  }
  await dropKeyspace(names.keyspace).catch(() => {});
}, 180_000);

describe("the README's operator path (apply, worker, serve, downsync start, commands on Kafka, reads)", () => {
  it('validate, plan and apply the sample features against Cassandra, BigQuery, Kafka and Temporal', async () => {
    const validate = await ferry('validate');
    expect(validate.code, validate.out).toBe(0);
    const plan = await ferry('plan');
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain('live::live-room-context');
    const apply = await ferry('apply');
    expect(apply.code, apply.out).toBe(0);
    // the topic and its dead letters exist; a second apply changes nothing
    const topics = await admin.listTopics();
    expect(topics).toEqual(expect.arrayContaining([names.topic, deadLetterTopicOf(names.topic)]));
    const again = await ferry('apply');
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/no changes|nothing to (do|change)|0 applied/i);
  }, 240_000);

  it('ferry worker and ferry serve start; ferry downsync start runs the consumer on the worker', async () => {
    worker = spawnFerryWorker(env, taskQueue);
    await worker.ready;
    reader = await spawnFerryReader(env, ['--threads', '1']);
    const started = await ferry('downsync', 'start', '--json');
    expect(started.code, started.out).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({
      workflowId: `commands/${names.topic}/${group}`,
      taskQueue,
    });
    const status = await eventually('the consumer running on the worker', 60_000, async () => {
      const s = await ferry('downsync', 'status', '--json');
      const j = s.code === 0 ? JSON.parse(s.stdout) : undefined;
      return j?.status === 'RUNNING' && j.activity?.heartbeat ? j : undefined;
    }).catch((e) => {
      throw new Error(`${e}\nworker:\n${worker!.log()}`);
    });
    expect(status.activity.attempt).toBe(1);
  }, 240_000);

  it("the seed's ksqlDB commands and `ferry send` reach the online store and are served by the reader", async () => {
    const now = Date.now() - 60_000;
    const at = (t: number) => (s: string) => s.replace(/1700000\d{6}/g, String(t));
    const producer = await CommandProducer.connect({ brokers, topic: names.topic });
    const key = JSON.stringify;
    await producer.sendMessages([
      {
        key: key(['azar::user-profile', 1001]),
        value: Buffer.from(at(now)(seedCommands.userProfileLevel)),
        headers: {},
      },
      {
        key: key(['live::live-room-context', 'room-42']),
        value: Buffer.from(at(now)(seedCommands.guestEntrance)),
        headers: {},
      },
      {
        key: key(['live::live-room-context', 'room-43']),
        value: Buffer.from(at(now)(seedCommands.guestEntrance).replace('room-42', 'room-43')),
        headers: {},
      },
      // the guest of room 43 leaves a second later: the newer value wins
      {
        key: key(['live::live-room-context', 'room-43']),
        value: Buffer.from(at(now + 1_000)(seedCommands.guestLeave).replace('room-42', 'room-43')),
        headers: {},
      },
    ]);
    await producer.close();
    const sent = await ferry(
      'send',
      'azar::user-profile',
      '--keys',
      'user_id=1002',
      '--values',
      'level=12,gender=F',
      '--producer',
      'user-service',
    );
    expect(sent.code, sent.out).toBe(0);

    const profile = await eventually('user 1001 served', 60_000, async () => {
      const r = await get('/v1/features/azar::user-profile/1001');
      return r.body.found ? r : undefined;
    });
    expect(profile).toMatchObject({
      status: 200,
      body: { found: true, values: { level: 7, gender: 'UNKNOWN', age: 0 }, _last_updated_at_ms: now },
    });
    const room = await eventually('room 43 served after the leave', 60_000, async () => {
      const r = await get('/v1/features/live::live-room-context/room-43');
      return r.body._last_updated_at_ms === now + 1_000 ? r : undefined;
    });
    expect(room.body).toMatchObject({ found: true, values: { has_guest: false } });
    const sentUser = await eventually('user 1002 served', 60_000, async () => {
      const r = await get('/v1/features/azar::user-profile/1002');
      return r.body.found ? r : undefined;
    });
    expect(sentUser.body).toMatchObject({ values: { level: 12, gender: 'F' } });

    // a batch lookup of both features, as a recommendation server sends it
    const res = await fetch(`${reader!.url}/v1/features/lookup`, {
      method: 'POST',
      headers: { ...token, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        requests: [
          {
            feature: 'live::live-room-context',
            keys: [{ live_room_id: 'room-42' }, { live_room_id: 'room-404' }],
          },
          { feature: 'azar::user-profile', keys: [{ user_id: 1001 }] },
        ],
      }),
    });
    const lookup = await res.text();
    expect(res.status, lookup).toBe(200);
    expect(lookup).toContain('"has_guest":true');
    expect(lookup).toContain('"found":false');
    // without a token: 401 and a JSON body that says why
    const denied = await get('/v1/features/azar::user-profile/1001', {});
    expect(denied.status).toBe(401);
    expect(JSON.stringify(denied.body)).toMatch(/token/i);
  }, 180_000);

  it('ferry downsync stop ends the consumer; the reader and the worker stop cleanly on SIGTERM', async () => {
    const stop = await ferry('downsync', 'stop');
    expect(stop.code, stop.out).toBe(0);
    await eventually('the consumer workflow cancelled', 60_000, async () => {
      const s = await ferry('downsync', 'status', '--json');
      const j = s.code === 0 ? JSON.parse(s.stdout) : undefined;
      return j?.status === 'CANCELLED' ? j : undefined;
    });
    expect(await reader!.stop(), reader!.log()).toBe(0);
    expect(await worker!.stop(), worker!.log()).toBe(0);
    expect(worker!.log()).toContain('shut down cleanly');
  }, 120_000);
});
