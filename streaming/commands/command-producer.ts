import { type Kafka, Partitioners, type Producer, type RecordMetadata } from 'kafkajs';
import {
  type CommandFormat,
  type CommandMessage,
  encodeCommandMessage,
} from '../../domain/commands/command-message.ts';
import type { ValidCommand } from '../../domain/commands/feature-command.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { createKafka, type KafkaLog } from './command-kafka.ts';

export interface CommandProducerOptions {
  brokers: string[];
  /** The commands topic (settings.kafkaCommandsTopic). */
  topic: string;
  clientId?: string;
  /** Encoding of the messages (default json). */
  format?: CommandFormat;
  log?: KafkaLog;
  /** An existing client to use instead of a new one. */
  kafka?: Kafka;
}

export interface CommandToSend {
  def: FeatureDefinition;
  command: ValidCommand;
}

/**
 * Publishes feature commands to the commands topic: an idempotent kafkajs producer (acks from
 * every in-sync replica, one request in flight, so retries neither duplicate nor reorder), keyed
 * by feature and key so one key's commands keep their order on one partition.
 */
export class CommandProducer {
  private constructor(
    private readonly producer: Producer,
    readonly topic: string,
    private readonly format: CommandFormat,
  ) {}

  static async connect(options: CommandProducerOptions): Promise<CommandProducer> {
    const kafka =
      options.kafka ??
      createKafka(options.brokers, options.clientId ?? 'ferry-command-producer', { log: options.log });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    return new CommandProducer(producer, options.topic, options.format ?? 'json');
  }

  /** Encodes and sends validated commands in one request; `producer` goes in the `ferry-producer` header. */
  send(
    commands: readonly CommandToSend[],
    options: { producer?: string; format?: CommandFormat } = {},
  ): Promise<RecordMetadata[]> {
    const format = options.format ?? this.format;
    return this.sendMessages(
      commands.map((c) => encodeCommandMessage(c.def, c.command, { format, producer: options.producer })),
    );
  }

  /** Sends messages already encoded (tests and benchmarks send raw bytes this way). */
  async sendMessages(
    messages: readonly (
      | CommandMessage
      | { key: string | Buffer | null; value: Buffer | string; headers?: Record<string, string | Buffer> }
    )[],
  ): Promise<RecordMetadata[]> {
    if (messages.length === 0) return [];
    return this.producer.send({ topic: this.topic, acks: -1, messages: messages as CommandMessage[] });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
