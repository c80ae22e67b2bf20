import path from 'node:path';
import type { ApplyTarget } from '../apply/apply-target.ts';
import { EventConsumersTarget } from '../apply/event-consumers-target.ts';
import { KafkaTopicsTarget } from '../apply/kafka-topics-target.ts';
import { OfflineStoreTarget } from '../apply/offline-store-target.ts';
import { OnlineStoreTarget } from '../apply/online-store-target.ts';
import { openTemporalSchedulesTarget } from '../apply/temporal-schedules-target.ts';
import type { Settings } from '../config/settings.ts';
import { DefinitionsInvalidError } from '../domain/definitions/definition-error.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { listTransforms, loadDefinitions } from '../domain/definitions/load-definitions.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';

export interface ApplyContext {
  online: OnlineStore;
  offline: OfflineStore;
  registry: DefinitionRegistry;
  targets: ApplyTarget[];
  close(): Promise<void>;
}

/** Loads and validates the local definitions; throws with every problem when any is invalid. */
export async function loadLocalDefinitions(
  settings: Settings,
  paths?: string[],
): Promise<FeatureDefinition[]> {
  const transforms = await listTransforms(path.resolve(settings.sqlDir));
  const { definitions, errors } = await loadDefinitions(paths ?? [settings.featuresDir], { transforms });
  if (errors.length > 0) throw new DefinitionsInvalidError(errors);
  return definitions;
}

/** Opens the configured stores and the targets that `plan` and `apply` work on. */
export async function openApplyContext(settings: Settings): Promise<ApplyContext> {
  const online = await openOnlineStore(settings);
  let offline: OfflineStore;
  try {
    offline = await openOfflineStore(settings);
  } catch (e) {
    await online.close();
    throw e;
  }
  const targets: ApplyTarget[] = [new OnlineStoreTarget(online), new OfflineStoreTarget(offline)];
  const closers: (() => Promise<void>)[] = [() => online.close(), () => offline.close()];
  // Kafka topics and Temporal schedules are managed where they are configured;
  // FERRY_KAFKA_BROKERS= (the default) or FERRY_TEMPORAL_ADDRESS= leaves them out.
  const brokers = splitList(settings.kafkaBrokers);
  if (brokers.length > 0) {
    const kafka = new KafkaTopicsTarget({ brokers, topic: settings.kafkaCommandsTopic });
    targets.push(kafka);
    closers.push(() => kafka.close());
  }
  if (settings.temporalAddress !== '') {
    await requireTemporal(settings.temporalAddress);
    const schedules = await openTemporalSchedulesTarget(settings);
    targets.push(schedules.target);
    closers.push(() => schedules.close());
    if (brokers.length > 0) {
      // features fed by domain events: their topics and one consumer workflow per topic
      const { Client, Connection } = await import('@temporalio/client');
      const connection = Connection.lazy({ address: settings.temporalAddress });
      const events = new EventConsumersTarget({
        client: new Client({ connection, namespace: settings.temporalNamespace }),
        brokers,
        taskQueue: settings.temporalTaskQueue,
        commandsTopic: settings.kafkaCommandsTopic,
      });
      targets.push(events);
      closers.push(async () => {
        await events.close();
        await connection.close();
      });
    }
  }
  return {
    online,
    offline,
    registry: new DefinitionRegistry(online),
    targets,
    close: async () => {
      await Promise.allSettled(closers.map((c) => c()));
    },
  };
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Fails early, and in words, when the Temporal server that holds the schedules does not answer. */
async function requireTemporal(address: string): Promise<void> {
  const { Connection } = await import('@temporalio/client');
  try {
    const probe = await Connection.connect({ address, connectTimeout: 3000 });
    await probe.close();
  } catch (e) {
    throw new Error(
      `Temporal is not reachable at ${address} (${(e as Error).message}); start it (\`npm run infra:up\` locally) ` +
        'or set FERRY_TEMPORAL_ADDRESS= to apply without schedules',
    );
  }
}
