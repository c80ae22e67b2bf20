import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Settings } from '../../config/settings.ts';
import { commandEnvelopeFingerprint } from '../../domain/commands/command-avro.ts';
import {
  avroContentType,
  commandMessageKey,
  encodeCommandMessage,
} from '../../domain/commands/command-message.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { deadLetterTopicOf } from '../../streaming/commands/command-kafka.ts';
import { CommandProducer } from '../../streaming/commands/command-producer.ts';
import { KafkaCommandPublisher } from '../../streaming/commands/kafka-command-publisher.ts';
import { isKeySampled } from '../../streaming/downsync/downsync-sampler.ts';
import { commandConsumerWorkflowId } from '../../workflow-contract/command-consumer-ids.ts';
import { seedCommands } from '../fixtures/seed-commands.ts';
import { definitionsWithoutRetention } from '../unit/command-test-harness.ts';
import {
  applyDefinitions,
  brokers,
  createTopics,
  dropDataset,
  dropKeyspace,
  eventually,
  groupProgress,
  kafkaAdmin,
  openStores,
  readTopic,
  type Stores,
  temporalClient,
  testEnv,
  testSettings,
  uniqueNames,
} from './commands-harness.ts';
import { type FerryProcess, productionWorkflowBundle, runFerry, spawnFerryWorker } from './ferry-process.ts';
import { requireServer } from './servers.ts';

// The real-time path end to end: Kafka → the consumer workflow and activity on the shipped
// `ferry worker` (a child process), started by `ferry downsync start` → Cassandra (online) and the
// BigQuery emulator (offline downsync and dead letters).
const names = uniqueNames('cmdflow');
const groupId = `ferry-flow-${process.pid}`;
const workflowId = commandConsumerWorkflowId(names.topic, groupId);
let settings: Settings;
let stores: Stores;
let defs: FeatureDefinition[];
let admin: Admin;
let producer: CommandProducer;
let worker: FerryProcess;
let temporal: Awaited<ReturnType<typeof temporalClient>>;
let client: Client;
let handle: WorkflowHandle;
const taskQueue = `ferry-commands-flow-${randomUUID()}`;
const env = { ...testEnv(names), FERRY_TEMPORAL_TASK_QUEUE: taskQueue };

/** Runs `ferry <args>` with the test's settings; its exit code and what it printed. */
async function ferry(...args: string[]) {
  const r = await runFerry(args, env);
  return { code: r.code, out: [r.stdout.trim(), r.stderr.trim()].filter(Boolean).join('\n') };
}
const def = (name: string) => defs.find((d) => d.name === name)!;

/** Sends raw message values keyed like the producer does (the seed bytes are not re-encoded). */
async function sendRaw(feature: string, keys: Record<string, unknown>, value: string | Buffer, headers = {}) {
  await producer.sendMessages([
    { key: commandMessageKey(def(feature), keys), value: Buffer.from(value), headers },
  ]);
}

beforeAll(async () => {
  for (const s of ['kafka', 'cassandra', 'temporal', 'bigquery'] as const) await requireServer(s);
  settings = testSettings(names);
  stores = await openStores(settings);
  defs = await definitionsWithoutRetention();
  await applyDefinitions(stores, defs);
  admin = await kafkaAdmin();
  await createTopics(admin, names.topic, 3);
  producer = await CommandProducer.connect({ brokers, topic: names.topic });
  worker = spawnFerryWorker(env, taskQueue, ['--workflow-bundle', await productionWorkflowBundle()]);
  await worker.ready;
  temporal = await temporalClient();
  client = temporal.client;
  // as an operator starts it (the definitions are applied before, so the first catalog has them)
  const started = await ferry(
    'downsync',
    'start',
    '--group',
    groupId,
    '--session-timeout',
    '10s',
    '--heartbeat-timeout',
    '15s',
    '--lateness',
    '500ms',
    '--json',
  );
  expect(started.code, started.out).toBe(0);
  expect(JSON.parse(started.out)).toMatchObject({ workflowId, taskQueue });
  handle = client.workflow.getHandle(workflowId);
}, 240_000);

afterAll(async () => {
  await handle?.cancel().catch(() => {});
  // SIGTERM: the worker stops the consumer after its batch and exits 0
  if (worker) expect(await worker.stop(), worker.log()).toBe(0);
  await temporal?.close();
  await producer?.close();
  if (admin) {
    await admin.deleteTopics({ topics: [names.topic, deadLetterTopicOf(names.topic)] }).catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
  if (stores) {
    await dropDataset(stores.offline).catch(() => {});
    await stores.close();
  }
  await dropKeyspace(names.keyspace).catch(() => {});
}, 120_000);

describe('commands end to end (Kafka, Temporal, Cassandra, BigQuery emulator)', () => {
  it('the seed examples flow into the online store and, sampled, into the offline store', async () => {
    await sendRaw('azar::user-profile', { user_id: 1001 }, seedCommands.userProfileLevel);
    await sendRaw('live::live-room-context', { live_room_id: 'room-42' }, seedCommands.guestEntrance);
    await sendRaw('live::live-room-context', { live_room_id: 'room-42' }, seedCommands.guestLeave);
    await sendRaw('azar-match::match-feature', { user_id: 1001 }, seedCommands.matchWindow);
    // the upper-case and single-column-wrapped forms ksqlDB may emit, and the Avro form with a producer
    await sendRaw(
      'azar::user-profile',
      { user_id: 1002 },
      seedCommands.userProfileLevelUpperCase.replace('1001', '1002'),
    );
    await sendRaw(
      'azar::user-profile',
      { user_id: 1003 },
      seedCommands.userProfileLevelWrapped.replace('1001', '1003'),
    );
    const avro = encodeCommandMessage(
      def('azar::user-profile'),
      {
        feature: 'azar::user-profile',
        method: 'UPDATE',
        keys: { user_id: 1004 },
        values: { level: 9 },
        eventTimeMs: 1_700_000_000_500,
      },
      { format: 'avro', producer: 'ksqldb' },
    );
    await producer.sendMessages([avro]);

    const profiles = await eventually('the profiles online', 60_000, async () => {
      const rows = await stores.online.readObjects(
        def('azar::user-profile'),
        [1001, 1002, 1003, 1004].map((user_id) => ({ user_id })),
      );
      return rows.every((r) => r.found) ? rows : undefined;
    });
    expect(profiles.map((r) => r.values.level)).toEqual([7, 7, 7, 9]);
    expect(profiles[0]).toMatchObject({
      lastUpdatedAtMs: 1_700_000_000_000,
      values: { gender: 'UNKNOWN', age: 0 },
    });
    const room = await eventually('the room online', 60_000, async () => {
      const [r] = await stores.online.readObjects(def('live::live-room-context'), [
        { live_room_id: 'room-42' },
      ]);
      return r?.lastUpdatedAtMs === 1_700_000_120_000 ? r : undefined;
    });
    expect(room).toMatchObject({ found: true, values: { has_guest: false } });
    const match = await eventually('the match online', 60_000, async () => {
      const [r] = await stores.online.readObjects(def('azar-match::match-feature'), [{ user_id: 1001 }]);
      return r?.found ? r : undefined;
    });
    expect(match.values).toEqual({ recent_10min_match_count: 5, recent_10min_avg_chat_duration: 71.4 });

    // downsync: the guest's entrance and leave are in different 30 s intervals (two rows); user
    // 1001 is in the half of the keys match-feature keeps
    expect(isKeySampled('[1001]', 0.5)).toBe(true);
    const rooms = await eventually('the room rows offline', 60_000, async () => {
      const rows = await stores.offline.readRows('live__live_room_context', {
        orderBy: ['_last_updated_at_ms'],
      });
      return rows.length >= 2 ? rows : undefined;
    });
    expect(rooms.map((r) => [r.live_room_id, r.has_guest, r._last_updated_at_ms, r._event_time])).toEqual([
      ['room-42', true, 1_700_000_060_000, 1_700_000_060_000],
      ['room-42', false, 1_700_000_120_000, 1_700_000_120_000],
    ]);
    expect(typeof rooms[0]!._ingested_at).toBe('number');
    const matches = await eventually('the match row offline', 60_000, async () => {
      const rows = await stores.offline.readRows('azar_match__match_feature');
      return rows.length > 0 ? rows : undefined;
    });
    expect(matches.map(({ _ingested_at, ...r }) => r)).toEqual([
      {
        user_id: 1001,
        recent_10min_match_count: 5,
        recent_10min_avg_chat_duration: 71.4,
        _last_updated_at_ms: 1_700_000_720_000,
        _event_time: 1_700_000_720_000,
      },
    ]);
  });

  it('out-of-order delivery of one key’s updates leaves the newest by event time; partial updates both survive', async () => {
    const d = def('azar::user-profile');
    const times = Array.from({ length: 40 }, (_, i) => 1_750_000_000_000 + i * 1_000);
    // a fixed shuffle: the newest is neither first nor last
    const order = times.map((t, i) => ({ t, i, k: (i * 17) % 40 })).sort((a, b) => a.k - b.k);
    const cmd = (values: Record<string, unknown>, eventTimeMs: number) =>
      encodeCommandMessage(d, {
        feature: d.name,
        method: 'UPDATE',
        keys: { user_id: 55 },
        values,
        eventTimeMs,
      });
    await producer.sendMessages(order.map(({ t, i }) => cmd({ level: i }, t)));
    // different fields of one key, each with its own (interleaved) event time
    await producer.sendMessages([
      cmd({ age: 31 }, 1_750_000_100_000),
      cmd({ gender: 'F' }, 1_750_000_050_000),
    ]);
    const r = await eventually('user 55', 60_000, async () => {
      const [row] = await stores.online.readObjects(d, [{ user_id: 55 }]);
      return row?.values.age === 31 && row.values.gender === 'F' ? row : undefined;
    });
    expect(r.values.level).toBe(39);
    expect(r.lastUpdatedAtMs).toBe(1_750_000_100_000);
  });

  it('a poison message between good ones: the good ones are applied, the poison ones are in dead letters', async () => {
    const d = def('live::realtime-room-context');
    const good = (i: number) =>
      encodeCommandMessage(d, {
        feature: d.name,
        method: 'UPDATE',
        keys: { live_room_id: `poison-${i}` },
        values: { viewer_count: i, vision_tags: ['a', String(i)] },
        eventTimeMs: 1_760_000_000_000 + i,
      });
    // all on one key so that they share a partition and its order
    const key = 'poison-test';
    const avro = encodeCommandMessage(
      d,
      {
        feature: d.name,
        method: 'UPDATE',
        keys: { live_room_id: 'x' },
        values: { viewer_count: 1 },
        eventTimeMs: 5,
      },
      { format: 'avro' },
    );
    const poison: { value: Buffer; headers: Record<string, string>; why: string | RegExp }[] = [
      {
        value: Buffer.from(
          '{"feature_name":"live::realtime-room-context","method":"UPDATE","keys":{"live_room_id":"p"},"values":{"viewer_count":"many","_last_updated_at_ms":5}}',
        ),
        headers: {},
        why: 'values.viewer_count: expected Long, got "many"',
      },
      {
        value: Buffer.from(
          '{"feature_name":"live::nope","method":"UPDATE","keys":{"id":1},"values":{"_last_updated_at_ms":5}}',
        ),
        headers: {},
        why: 'unknown feature "live::nope"',
      },
      {
        value: good(0).value,
        headers: { 'ferry-producer': 'rogue-service' },
        why: 'producer "rogue-service" may not write live::realtime-room-context',
      },
      {
        value: avro.value.subarray(0, avro.value.length - 3),
        headers: avro.headers,
        why: /^not a valid Avro command: .*(truncated|runs past|cannot fit)/,
      },
      {
        value: Buffer.from(
          '{"feature_name":"live::realtime-room-context","method":"UPDATE","keys":{},"values":{"viewer_count":1,"_last_updated_at_ms":5}}',
        ),
        headers: {},
        why: 'keys.live_room_id: missing key field',
      },
    ];
    const messages = [
      ...Array.from({ length: 10 }, (_, i) => ({ ...good(i + 1), key })),
      ...poison.map((p) => ({ key, value: p.value, headers: p.headers })),
      ...Array.from({ length: 10 }, (_, i) => ({ ...good(i + 11), key })),
    ];
    await producer.sendMessages(messages);
    const rows = await eventually('the good commands online', 60_000, async () => {
      const rs = await stores.online.readObjects(
        d,
        Array.from({ length: 20 }, (_, i) => ({ live_room_id: `poison-${i + 1}` })),
      );
      return rs.every((r) => r.found) ? rs : undefined;
    });
    expect(rows.map((r) => r.values.viewer_count)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(rows[4]!.values.vision_tags).toEqual(['a', '5']);

    const topicLetters = await readTopic(deadLetterTopicOf(names.topic), poison.length);
    expect(topicLetters).toHaveLength(poison.length);
    for (const [i, p] of poison.entries()) {
      const l = topicLetters[i]!;
      expect(l.value).toEqual(p.value);
      expect(l.key).toBe(key);
      if (typeof p.why === 'string') expect(l.headers['ferry-reason']).toBe(p.why);
      else expect(l.headers['ferry-reason']).toMatch(p.why);
      expect(l.headers['ferry-source']).toMatch(new RegExp(`^${names.topic}/\\d+/\\d+$`));
    }
    expect(topicLetters[3]!.headers['content-type']).toBe(avroContentType);
    expect(topicLetters[3]!.headers['ferry-schema']).toBe(commandEnvelopeFingerprint);

    const tableLetters = await eventually('the dead letters in the table', 60_000, async () => {
      const ls = await stores.offline.readDeadLetters(d.name);
      return ls.length >= 4 ? ls : undefined;
    }).catch(async (e) => {
      console.error(await stores.offline.readRows('ferry_dead_letters').catch((x) => x));
      throw e;
    });
    // the truncated Avro message still names its feature at its start
    expect(tableLetters.map((l) => [l.origin, l.reason]).sort()).toEqual(
      [
        ['command', 'values.viewer_count: expected Long, got "many"'],
        ['command', 'producer "rogue-service" may not write live::realtime-room-context'],
        ['command', topicLetters[3]!.headers['ferry-reason']],
        ['command', 'keys.live_room_id: missing key field'],
      ].sort(),
    );
    expect(tableLetters.find((l) => l.reason.startsWith('values.viewer_count'))!.payload).toBe(
      poison[0]!.value.toString(),
    );
    expect(tableLetters.find((l) => l.reason.startsWith('not a valid Avro'))!.payload).toBe(
      `base64:${poison[3]!.value.toString('base64')}`,
    );
    const unknown = await stores.offline.readDeadLetters('live::nope');
    expect(unknown.map((l) => l.reason)).toEqual(['unknown feature "live::nope"']);
    expect(tableLetters.every((l) => /^command:.+:\d+:\d+$/.test(l.id))).toBe(true);
  });

  it('`ferry send` and the reader’s Kafka publisher publish commands the consumer applies', async () => {
    const sent = await ferry(
      'send',
      'user-profile',
      '--keys',
      'user_id=3001',
      '--values',
      'level=12,gender=F',
      '--producer',
      'ksqldb',
      '--event-time',
      '2025-01-01T00:00:00Z',
      '--json',
    );
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.out)).toMatchObject({
      topic: names.topic,
      key: '["azar::user-profile",3001]',
      command: {
        feature: 'azar::user-profile',
        values: { level: 12, gender: 'F' },
        eventTimeMs: 1_735_689_600_000,
      },
    });
    const avro = await ferry(
      'send',
      'azar::user-profile',
      '--keys',
      'user_id=3002',
      '--values',
      'level=13',
      '--format',
      'avro',
    );
    expect(avro.out).toMatch(
      /^sent UPDATE azar::user-profile \{"user_id":3002\} to .* partition \d+ offset \d+$/,
    );
    const refused = await ferry('send', 'user-profile', '--keys', 'user_id=1', '--values', 'level=high');
    expect(refused).toEqual({
      code: 1,
      out: 'ferry send: the command would be refused: values.level: expected Long, got "high"',
    });

    const publisher = await KafkaCommandPublisher.connect(settings);
    expect(publisher.mode).toBe('published');
    const d = def('live::live-room-context');
    await publisher.publish(
      [
        {
          definition: d,
          commands: [
            {
              feature: d.name,
              method: 'UPDATE',
              keys: { live_room_id: 'pushed' },
              values: { has_guest: true },
              eventTimeMs: 1_760_000_000_000,
            },
          ],
        },
      ],
      'sample-app',
    );
    await publisher.close();

    const rows = await eventually('the sent commands online', 60_000, async () => {
      const [a, b] = await stores.online.readObjects(def('azar::user-profile'), [
        { user_id: 3001 },
        { user_id: 3002 },
      ]);
      const [c] = await stores.online.readObjects(d, [{ live_room_id: 'pushed' }]);
      return a?.found && b?.found && c?.found ? [a, b, c] : undefined;
    });
    expect(rows.map((r) => r.values.level ?? r.values.has_guest)).toEqual([12, 13, true]);
  });

  it('`ferry downsync status` shows the running consumer; `start` finds it running', async () => {
    const status = await ferry('downsync', 'status', '--topic', names.topic, '--group', groupId, '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({ workflowId, status: 'RUNNING', activity: { attempt: 1 } });
    const start = await ferry('downsync', 'start', '--topic', names.topic, '--group', groupId);
    expect(start.code).toBe(0);
    expect(start.out).toContain(`consumer workflow ${workflowId} running`);
    expect((await handle.describe()).runId).toBe(JSON.parse(status.out).runId);
  });

  it('stops cleanly when the workflow is cancelled: every offset committed, the group left', async () => {
    // every pending downsync row closes (its interval is long past) and is written; then all is committable
    await eventually('all offsets committed', 60_000, async () => {
      const p = await groupProgress(admin, groupId, names.topic);
      return p.committed === p.end ? p : undefined;
    });
    const stop = await ferry('downsync', 'stop', '--topic', names.topic, '--group', groupId);
    expect(stop.code).toBe(0);
    await expect(handle.result()).rejects.toThrow();
    const d = await handle.describe();
    expect(d.status.name).toBe('CANCELLED');
    const p = await groupProgress(admin, groupId, names.topic);
    expect(p.committed).toBe(p.end);
    const [group] = (await admin.describeGroups([groupId])).groups;
    expect(group?.members ?? []).toHaveLength(0);
  });
});
