import { Kafka, type KafkaConfig, type logCreator, logLevel } from 'kafkajs';
import type { Settings } from '../../config/settings.ts';

/** The dead-letter topic of a commands topic. */
export function deadLetterTopicOf(topic: string): string {
  return `${topic}.dead-letters`;
}

/** The brokers of the settings; throws when Kafka is not configured. */
export function kafkaBrokersOf(settings: Pick<Settings, 'kafkaBrokers'>): string[] {
  const brokers = settings.kafkaBrokers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (brokers.length === 0)
    throw new Error('no Kafka brokers configured: set FERRY_KAFKA_BROKERS (e.g. 127.0.0.1:9092)');
  return brokers;
}

export type KafkaLog = (level: 'error' | 'warn' | 'info', message: string) => void;

const defaultLog: KafkaLog = (level, message) => {
  if (level !== 'info') console.error(`[kafkajs] ${message}`);
};

/**
 * kafkajs logs at WARN and worse, minus the noise a healthy client makes: the retried
 * "coordinator is not available / loading" a fresh broker answers while it creates
 * __consumer_offsets, and the rebalance notices of a group member joining.
 */
export function kafkaLogCreator(log: KafkaLog = defaultLog): logCreator {
  return () =>
    ({ level, log: entry }) => {
      if (level > logLevel.WARN) return;
      const error = String(entry.error ?? '');
      if (/coordinator is (not available|loading)|rebalanc/i.test(error)) return;
      // commands are idempotent (event time wins), so a resend after exhausted retries is harmless
      if (/Limiting retries for the idempotent producer/.test(entry.message)) return;
      log(level === logLevel.ERROR ? 'error' : 'warn', `${entry.message}${error ? `: ${error}` : ''}`);
    };
}

/** A kafkajs client with Ferry's defaults: short connection timeout, patient retries, quiet logs. */
export function createKafka(
  brokers: string[],
  clientId: string,
  options: { log?: KafkaLog; config?: Partial<KafkaConfig> } = {},
): Kafka {
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, maxRetryTime: 5_000, retries: 10 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(options.log),
    ...options.config,
  });
}
