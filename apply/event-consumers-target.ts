import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { createKafka, deadLetterTopicOf } from '../streaming/commands/command-kafka.ts';
import type { CommandConsumerInput } from '../workflow-contract/activities.ts';
import { commandConsumerWorkflowId, eventGroupOf } from '../workflow-contract/command-consumer-ids.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import type { ApplyTarget, ResourceChange } from './apply-target.ts';

export interface EventConsumersTargetOptions {
  client: Client;
  brokers: string[];
  taskQueue: string;
  /** The commands topic: no feature may read its events from it. */
  commandsTopic: string;
  /** Partitions of an event topic Ferry creates because it does not exist yet (default 6). */
  partitions?: number;
}

/**
 * `ferry apply` target for features fed by domain events (`from_events`): for each topic they
 * read, the topic and its dead-letter topic (created when missing: in production the product's
 * backend has made the topic already), and one consumer workflow `commands/<topic>/ferry-events-
 * <topic>` on the worker, started if it is not running. The consumer reads the applied rules from
 * the registry (reloaded every 30 s), so changing a rule is an apply, and the group keeps its
 * position. Several features on one topic share its consumer: each event is read once and goes
 * through every feature's rules.
 */
export class EventConsumersTarget implements ApplyTarget {
  readonly name = 'event consumers';
  private admin: Admin | undefined;
  private existing: Promise<Set<string>> | undefined;
  /** Topics already reported in this plan (a topic several features read is reported once). */
  private readonly reported = new Set<string>();

  constructor(private readonly options: EventConsumersTargetOptions) {}

  private async connect(): Promise<Admin> {
    if (!this.admin) {
      const admin = createKafka(this.options.brokers, 'ferry-apply-events').admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  private topics(): Promise<Set<string>> {
    this.existing ??= (async () => new Set(await (await this.connect()).listTopics()))();
    return this.existing;
  }

  private async running(workflowId: string): Promise<boolean> {
    try {
      const d = await this.options.client.workflow.getHandle(workflowId).describe();
      return d.status.name === 'RUNNING';
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return false;
      throw e;
    }
  }

  private check(def: FeatureDefinition): string | undefined {
    const topic = def.fromEvents?.topic;
    if (topic === this.options.commandsTopic)
      throw new Error(
        `${def.name}: from_events.topic "${topic}" is the commands topic; domain events need a topic of their own`,
      );
    return topic;
  }

  async plan(def: FeatureDefinition): Promise<ResourceChange[]> {
    const topic = this.check(def);
    if (topic === undefined || this.reported.has(topic)) return [];
    this.reported.add(topic);
    const existing = await this.topics();
    const changes: ResourceChange[] = [topic, deadLetterTopicOf(topic)]
      .filter((t) => !existing.has(t))
      .map((name) => ({ kind: 'kafka topic', name, action: 'create' as const }));
    const id = commandConsumerWorkflowId(topic, eventGroupOf(topic));
    if (!(await this.running(id))) changes.push({ kind: 'event consumer', name: id, action: 'create' });
    return changes;
  }

  async apply(def: FeatureDefinition): Promise<void> {
    const topic = this.check(def);
    if (topic === undefined) return;
    const existing = await this.topics();
    const missing = [topic, deadLetterTopicOf(topic)].filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await (await this.connect()).createTopics({
        topics: missing.map((t) => ({
          topic: t,
          numPartitions: t === topic ? (this.options.partitions ?? 6) : 3,
          replicationFactor: -1,
          ...(t === topic
            ? {}
            : { configEntries: [{ name: 'max.message.bytes', value: String(4 * 1_048_576) }] }),
        })),
        waitForLeaders: true,
      });
      for (const t of missing) existing.add(t);
    }
    const groupId = eventGroupOf(topic);
    const input: CommandConsumerInput = { topic, groupId, events: true };
    // a consumer already running keeps going (and picks the new rules up from the registry)
    await this.options.client.workflow.start(workflowTypes.commandConsumer, {
      taskQueue: this.options.taskQueue,
      workflowId: commandConsumerWorkflowId(topic, groupId),
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  }

  async close(): Promise<void> {
    await this.admin?.disconnect();
    this.admin = undefined;
  }
}
