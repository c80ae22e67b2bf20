import {
  type Admin,
  type Consumer,
  Kafka,
  type logCreator,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, servers } from './servers.ts';

// kafkajs logs WARN and worse to stderr, except the retried "coordinator is not available /
// is loading" that a fresh broker answers while it creates __consumer_offsets for the first group.
const quietLogs: logCreator =
  () =>
  ({ level, log }) => {
    if (level > logLevel.WARN || /coordinator is (not available|loading)/i.test(String(log.error ?? '')))
      return;
    console.error(`[kafkajs] ${log.message}${log.error ? `: ${log.error}` : ''}`);
  };

describe('kafka smoke (kafkajs against the local broker)', () => {
  const runId = `${process.pid}-${Date.now()}`;
  const topic = `ferry-smoke-${runId}`;
  const groupId = `ferry-smoke-group-${runId}`;
  let kafka: Kafka;
  let admin: Admin | undefined;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  let topicCreated = false;

  beforeAll(async () => {
    await requireServer('kafka');
    kafka = new Kafka({
      clientId: 'ferry-smoke',
      brokers: [`${servers.kafka.host}:${servers.kafka.port}`],
      connectionTimeout: 3000,
      requestTimeout: 10_000,
      retry: { retries: 3 },
      logLevel: logLevel.WARN,
      logCreator: quietLogs,
    });
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await consumer?.disconnect().catch(() => {});
    await producer?.disconnect().catch(() => {});
    if (admin) {
      if (topicCreated) await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => {});
      await admin.deleteGroups([groupId]).catch(() => {});
      await admin.disconnect();
    }
  });

  it('creates a topic, produces keyed messages and consumes them in per-key order', async () => {
    const created = await admin!.createTopics({
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    expect(created).toBe(true);
    topicCreated = true;
    const [meta] = (await admin!.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(meta?.partitions).toHaveLength(3);

    // 3 keys x 5 versions each, interleaved
    const keys = ['user:1', 'user:2', 'item:9'];
    const sent = Array.from({ length: 15 }, (_, i) => ({
      key: keys[i % keys.length]!,
      value: JSON.stringify({ seq: Math.floor(i / keys.length), key: keys[i % keys.length] }),
    }));
    producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    // one send per message so each lands after the previous one (order per key is the point)
    for (const m of sent) await producer.send({ topic, acks: -1, messages: [m] });

    const received: { key: string; value: string; partition: number }[] = [];
    consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out with ${received.length}/${sent.length} messages`)),
        60_000,
      );
      consumer!
        .run({
          eachMessage: async ({ partition, message }) => {
            received.push({
              key: message.key?.toString() ?? '',
              value: message.value?.toString() ?? '',
              partition,
            });
            if (received.length >= sent.length) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await done;
    await consumer.stop();

    // exactly what was sent, nothing more (the topic holds as many records as were sent)
    const offsets = await admin!.fetchTopicOffsets(topic);
    expect(offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0)).toBe(sent.length);
    const asPairs = (ms: { key: string; value: string }[]) => ms.map((m) => `${m.key}=${m.value}`).sort();
    expect(asPairs(received)).toEqual(asPairs(sent));
    // per key: the order it was produced in, all from one partition
    for (const key of keys) {
      const got = received.filter((m) => m.key === key);
      expect(got.map((m) => m.value)).toEqual(sent.filter((m) => m.key === key).map((m) => m.value));
      expect(new Set(got.map((m) => m.partition)).size).toBe(1);
    }
    // the keys are spread over more than one partition (3 partitions, default partitioner)
    expect(new Set(received.map((m) => m.partition)).size).toBeGreaterThan(1);
  });
});
