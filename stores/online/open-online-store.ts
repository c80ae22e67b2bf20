import path from 'node:path';
import type { Settings } from '../../config/settings.ts';
import type { OnlineStore } from './online-store.ts';

/** The embedded store's LMDB folder under the data directory. */
export function embeddedOnlineStorePath(settings: Pick<Settings, 'dataDir'>): string {
  return path.resolve(settings.dataDir, 'online');
}

/**
 * Opens the online store that `settings.onlineStore` names: `embedded` (LMDB under the data
 * directory) or `cassandra`. Each driver loads only when chosen.
 */
export async function openOnlineStore(settings: Settings): Promise<OnlineStore> {
  switch (settings.onlineStore) {
    case 'embedded': {
      const { openEmbeddedOnlineStore } = await import('./embedded-online-store.ts');
      return openEmbeddedOnlineStore({ path: embeddedOnlineStorePath(settings) });
    }
    case 'cassandra': {
      const { openCassandraOnlineStore } = await import('./cassandra-online-store.ts');
      return openCassandraOnlineStore({
        contactPoints: settings.cassandraContactPoints
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0),
        localDataCenter: settings.cassandraLocalDc,
        keyspace: settings.cassandraKeyspace,
        replication: settings.cassandraReplication,
        consistency: settings.cassandraConsistency,
        keysPerRead: settings.cassandraKeysPerRead,
        ...(settings.cassandraUsername
          ? { username: settings.cassandraUsername, password: settings.cassandraPassword }
          : {}),
      });
    }
    default:
      throw new Error(
        `unknown online store "${settings.onlineStore}" (FERRY_ONLINE_STORE): use embedded or cassandra`,
      );
  }
}
