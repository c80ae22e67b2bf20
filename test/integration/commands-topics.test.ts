import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaTopicsTarget } from '../../apply/kafka-topics-target.ts';
import { deadLetterTopicOf } from '../../streaming/commands/command-kafka.ts';
import { definitionsWithoutRetention } from '../unit/command-test-harness.ts';
import { brokers, kafkaAdmin } from './commands-harness.ts';
import { requireServer } from './servers.ts';

// `ferry apply`'s Kafka target: the commands topic and its dead-letter topic, created once.
const topic = `ferry-apply-${process.pid}-${Date.now()}`;

describe('kafka topics apply target', () => {
  beforeAll(() => requireServer('kafka'));
  afterAll(async () => {
    const admin = await kafkaAdmin();
    await admin.deleteTopics({ topics: [topic, deadLetterTopicOf(topic)] }).catch(() => {});
    await admin.disconnect();
  });

  it('plans both topics once, creates them, and plans nothing afterwards', async () => {
    const [a, b] = await definitionsWithoutRetention();
    const target = new KafkaTopicsTarget({ brokers, topic, partitions: 4 });
    try {
      expect(await target.plan(a!, undefined)).toEqual([
        { kind: 'kafka topic', name: topic, action: 'create' },
        { kind: 'kafka topic', name: `${topic}.dead-letters`, action: 'create' },
      ]);
      expect(await target.plan(b!, undefined)).toEqual([]);
      await target.apply(a!, undefined);
      await target.apply(b!, undefined);
    } finally {
      await target.close();
    }
    const admin = await kafkaAdmin();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic, deadLetterTopicOf(topic)] });
      expect(meta.topics.map((t) => [t.name, t.partitions.length]).sort()).toEqual([
        [topic, 4],
        [deadLetterTopicOf(topic), 3],
      ]);
      const configs = await admin.describeConfigs({
        resources: [{ type: 2, name: deadLetterTopicOf(topic), configNames: ['max.message.bytes'] }],
        includeSynonyms: false,
      });
      expect(configs.resources[0]!.configEntries[0]!.configValue).toBe(String(4 * 1_048_576));
    } finally {
      await admin.disconnect();
    }
    const again = new KafkaTopicsTarget({ brokers, topic });
    try {
      expect(await again.plan(a!, undefined)).toEqual([]);
      await again.apply(a!, undefined);
    } finally {
      await again.close();
    }
  });
});
