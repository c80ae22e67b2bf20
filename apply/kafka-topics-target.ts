import type { Admin, ITopicConfig } from 'kafkajs';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { createKafka, deadLetterTopicOf } from '../streaming/commands/command-kafka.ts';
import type { ApplyTarget, ResourceChange } from './apply-target.ts';

export interface KafkaTopicsTargetOptions {
  brokers: string[];
  /** The commands topic (settings.kafkaCommandsTopic). */
  topic: string;
  /** Default `<topic>.dead-letters`. */
  deadLetterTopic?: string;
  /** Partitions of the commands topic (default 6): the most consumers that share the work. */
  partitions?: number;
  deadLetterPartitions?: number;
  /** Default: the broker's default.replication.factor. */
  replicationFactor?: number;
  /** Dead letters are kept this long on the topic (default 30 days; the offline table keeps them too). */
  deadLetterRetentionMs?: number;
}

/**
 * Creates the commands topic and its dead-letter topic (every feature's commands share them).
 * The dead-letter topic takes messages up to 4 MiB: a refused command plus its reason headers
 * must fit even when the command was near the commands topic's limit. Topics are only created,
 * never changed or deleted (their partition count fixes which partition a key lands on).
 */
export class KafkaTopicsTarget implements ApplyTarget {
  readonly name = 'kafka topics';
  private admin: Admin | undefined;
  private missing: Promise<string[]> | undefined;
  private reported = false;

  constructor(private readonly options: KafkaTopicsTargetOptions) {}

  private get deadLetterTopic(): string {
    return this.options.deadLetterTopic ?? deadLetterTopicOf(this.options.topic);
  }

  private async connect(): Promise<Admin> {
    if (!this.admin) {
      const admin = createKafka(this.options.brokers, 'ferry-apply').admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  private missingTopics(): Promise<string[]> {
    this.missing ??= (async () => {
      const existing = new Set(await (await this.connect()).listTopics());
      return [this.options.topic, this.deadLetterTopic].filter((t) => !existing.has(t));
    })();
    return this.missing;
  }

  /** The topics to create, reported with the first feature planned (they serve every feature). */
  async plan(_def: FeatureDefinition, _before?: FeatureDefinition): Promise<ResourceChange[]> {
    if (this.reported) return [];
    this.reported = true;
    return (await this.missingTopics()).map((name) => ({
      kind: 'kafka topic',
      name,
      action: 'create' as const,
    }));
  }

  async apply(_def: FeatureDefinition, _before?: FeatureDefinition): Promise<void> {
    const missing = await this.missingTopics();
    if (missing.length === 0) return;
    const admin = await this.connect();
    const replicationFactor = this.options.replicationFactor ?? -1;
    const topics: ITopicConfig[] = missing.map((topic) =>
      topic === this.options.topic
        ? { topic, numPartitions: this.options.partitions ?? 6, replicationFactor }
        : {
            topic,
            numPartitions: this.options.deadLetterPartitions ?? 3,
            replicationFactor,
            configEntries: [
              { name: 'max.message.bytes', value: String(4 * 1_048_576) },
              { name: 'retention.ms', value: String(this.options.deadLetterRetentionMs ?? 30 * 86_400_000) },
            ],
          },
    );
    // false when a topic already existed (another apply got there first): fine either way
    await admin.createTopics({ topics, waitForLeaders: true });
    this.missing = Promise.resolve([]);
  }

  async close(): Promise<void> {
    await this.admin?.disconnect();
    this.admin = undefined;
  }
}
