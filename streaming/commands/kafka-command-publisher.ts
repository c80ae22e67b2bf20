import type { Settings } from '../../config/settings.ts';
import type { CommandFormat } from '../../domain/commands/command-message.ts';
import { kafkaBrokersOf } from './command-kafka.ts';
import { CommandProducer } from './command-producer.ts';
import type { CommandBatch, CommandPublisher } from './command-publisher.ts';

/**
 * The push endpoint's publisher when Kafka is configured: validated commands go to the commands
 * topic (with the calling service in the `ferry-producer` header) and the command consumer
 * applies them. `publish` resolves once every in-sync replica has them.
 */
export class KafkaCommandPublisher implements CommandPublisher {
  readonly mode = 'published' as const;

  constructor(private readonly producer: CommandProducer) {}

  static async connect(
    settings: Pick<Settings, 'kafkaBrokers' | 'kafkaCommandsTopic'>,
    options: { format?: CommandFormat; clientId?: string } = {},
  ): Promise<KafkaCommandPublisher> {
    const producer = await CommandProducer.connect({
      brokers: kafkaBrokersOf(settings),
      topic: settings.kafkaCommandsTopic,
      clientId: options.clientId ?? 'ferry-reader',
      format: options.format,
    });
    return new KafkaCommandPublisher(producer);
  }

  async publish(batches: readonly CommandBatch[], producer: string): Promise<string[]> {
    const commands = batches.flatMap((b) => b.commands.map((command) => ({ def: b.definition, command })));
    await this.producer.send(commands, { producer });
    // the consumer decides what is late (dead letters)
    return [];
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}
