import { beforeAll } from 'vitest';
import { BigQueryOfflineStore } from '../../stores/offline/bigquery-offline-store.ts';
import { describeOfflineStoreConformance } from '../conformance/offline-store-conformance.ts';
import { bigqueryProject, bigqueryStorageEndpoint, requireServer, servers } from './servers.ts';

// The shared offline-store suite against the BigQuery emulator (infra/services/bigquery.sh), in a
// dataset of its own that is dropped afterwards. Incremental reads go through the Storage Read API
// (the default); bigquery-storage-read.test.ts compares them with the REST path.
const endpoint = `http://${servers.bigquery.host}:${servers.bigquery.port}`;
const dataset = `ferry_conformance_${Date.now()}_${process.pid}`;

beforeAll(() => requireServer('bigquery'));

describeOfflineStoreConformance('BigQuery (emulator)', () => {
  let store: BigQueryOfflineStore | undefined;
  return {
    open: async (sqlDir) => {
      store = await BigQueryOfflineStore.open({
        projectId: bigqueryProject,
        dataset,
        location: 'US',
        endpoint,
        storageEndpoint: bigqueryStorageEndpoint,
        sqlDir,
      });
      return store;
    },
    teardown: async () => {
      await store?.dropDataset();
    },
    gaps: ['insert-repeated-bytes'],
  };
});
