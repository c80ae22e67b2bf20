import { Client, Connection, defaultPayloadConverter } from '@temporalio/client';
import { Client as CassandraClient } from 'cassandra-driver';
import type { Admin } from 'kafkajs';
import { readSettings, type Settings } from '../../config/settings.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { BigQueryOfflineStore } from '../../stores/offline/bigquery-offline-store.ts';
import type { OfflineStore } from '../../stores/offline/offline-store.ts';
import { openOfflineStore } from '../../stores/offline/open-offline-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { openOnlineStore } from '../../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../../stores/registry/definition-registry.ts';
import { createKafka, deadLetterTopicOf } from '../../streaming/commands/command-kafka.ts';
import { servers } from './servers.ts';

/** Shared by the commands integration tests (their worker is `ferry worker`: ferry-process.ts). */

export const brokers = [`${servers.kafka.host}:${servers.kafka.port}`];
export const temporalAddress = `${servers.temporal.host}:${servers.temporal.port}`;

/**
 * The environment of a test's Ferry processes (`ferry worker`, `ferry send`, `ferry downsync`):
 * its own keyspace, dataset and topic on the local servers.
 */
export function testEnv(names: { keyspace: string; dataset: string; topic: string }): Record<string, string> {
  return {
    FERRY_ONLINE_STORE: 'cassandra',
    FERRY_CASSANDRA_CONTACT_POINTS: `${servers.cassandra.host}:${servers.cassandra.port}`,
    FERRY_CASSANDRA_KEYSPACE: names.keyspace,
    FERRY_CASSANDRA_CONSISTENCY: 'ONE',
    FERRY_OFFLINE_STORE: 'bigquery',
    FERRY_BIGQUERY_PROJECT: process.env.FERRY_BIGQUERY_PROJECT ?? 'ferry-local',
    FERRY_BIGQUERY_ENDPOINT: `http://${servers.bigquery.host}:${servers.bigquery.port}`,
    FERRY_BIGQUERY_DATASET: names.dataset,
    FERRY_KAFKA_BROKERS: brokers.join(','),
    FERRY_KAFKA_COMMANDS_TOPIC: names.topic,
    FERRY_TEMPORAL_ADDRESS: temporalAddress,
    FERRY_TEMPORAL_NAMESPACE: 'default',
  };
}

/** The same settings, read as Ferry reads them, for the test's own store connections. */
export function testSettings(names: { keyspace: string; dataset: string; topic: string }): Settings {
  return readSettings({ ...process.env, ...testEnv(names) });
}

export function uniqueNames(prefix: string) {
  const id = `${process.pid}_${Date.now()}`;
  return {
    keyspace: `ferry_${prefix}_${id}`,
    dataset: `ferry_${prefix}_${id}`,
    topic: `ferry-${prefix}-${id}`,
  };
}

export interface Stores {
  online: OnlineStore;
  offline: OfflineStore;
  close(): Promise<void>;
}

export async function openStores(settings: Settings): Promise<Stores> {
  const online = await openOnlineStore(settings);
  const offline = await openOfflineStore(settings);
  return {
    online,
    offline,
    close: async () => {
      await online.close();
      await offline.close();
    },
  };
}

/** Applies definitions as `ferry apply` does for the stores: tables, offline tables, registry. */
export async function applyDefinitions(
  stores: Stores,
  definitions: readonly FeatureDefinition[],
): Promise<void> {
  const registry = new DefinitionRegistry(stores.online);
  for (const d of definitions) {
    await stores.online.ensureFeature(d);
    if (d.downsync?.enabled) await stores.offline.ensureFeatureTables(d);
    await registry.record(d);
  }
}

export async function kafkaAdmin(): Promise<Admin> {
  const admin = createKafka(brokers, 'ferry-test-admin').admin();
  await admin.connect();
  return admin;
}

export async function createTopics(admin: Admin, topic: string, partitions: number): Promise<void> {
  await admin.createTopics({
    topics: [
      { topic, numPartitions: partitions, replicationFactor: 1 },
      { topic: deadLetterTopicOf(topic), numPartitions: 1, replicationFactor: 1 },
    ],
    waitForLeaders: true,
  });
}

/** Offsets the group committed, summed over the topic's partitions, and the topic's end. */
export async function groupProgress(admin: Admin, groupId: string, topic: string) {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  const sum = (xs: string[]) => xs.reduce((n, x) => n + Math.max(0, Number(x)), 0);
  return {
    committed: sum((committed?.partitions ?? []).map((p) => p.offset)),
    end: sum(ends.map((p) => p.high)),
  };
}

/** Every message of a topic (for the dead-letter topic), read with a throwaway consumer. */
export async function readTopic(topic: string, expected: number, timeoutMs = 30_000) {
  const kafka = createKafka(brokers, 'ferry-test-reader');
  const consumer = kafka.consumer({ groupId: `ferry-test-reader-${process.pid}-${Date.now()}` });
  const got: { key: string | null; value: Buffer | null; headers: Record<string, string> }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${topic}: ${got.length}/${expected} messages`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(message.headers ?? {}))
              if (v !== undefined) headers[k] = String(v);
            got.push({ key: message.key?.toString() ?? null, value: message.value, headers });
            if (got.length >= expected) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

/** Polls `check` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function temporalClient() {
  const connection = await Connection.connect({ address: temporalAddress });
  return { client: new Client({ connection, namespace: 'default' }), close: () => connection.close() };
}

/** The consumer activity's last heartbeat details (received, applied, ...), if it runs. */
export async function consumerHeartbeat(
  client: Client,
  workflowId: string,
): Promise<
  | {
      attempt: number;
      details?: {
        received: number;
        applied: number;
        rejected: number;
        downsyncWritten: number;
        rebalances: number;
      };
    }
  | undefined
> {
  const d = await client.workflow.getHandle(workflowId).describe();
  const pending = d.raw.pendingActivities?.[0];
  if (!pending) return undefined;
  const payload = pending.heartbeatDetails?.payloads?.[0];
  return {
    attempt: pending.attempt ?? 0,
    details: payload ? (defaultPayloadConverter.fromPayload(payload as never) as never) : undefined,
  };
}

export async function dropKeyspace(keyspace: string): Promise<void> {
  const client = new CassandraClient({
    contactPoints: [`${servers.cassandra.host}:${servers.cassandra.port}`],
    localDataCenter: 'datacenter1',
  });
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
}

export async function dropDataset(offline: OfflineStore): Promise<void> {
  await (offline as BigQueryOfflineStore).dropDataset?.();
}
