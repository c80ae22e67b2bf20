import { Client } from 'cassandra-driver';
import { afterAll } from 'vitest';
import { BigQueryOfflineStore } from '../../stores/offline/bigquery-offline-store.ts';
import { openCassandraOnlineStore } from '../../stores/online/cassandra-online-store.ts';
import { describeApplyRoundTrip } from '../conformance/apply-round-trip.ts';
import { bigqueryProject, requireServer, servers } from './servers.ts';

// a fresh keyspace and dataset per run, dropped at the end
const dataset = `ferry_apply_${Date.now()}_${process.pid}`;
let offline: BigQueryOfflineStore | undefined;
const keyspace = `ferry_apply_${process.pid}_${Date.now()}`;
const contactPoint = `${servers.cassandra.host}:${servers.cassandra.port}`;

afterAll(async () => {
  const client = new Client({ contactPoints: [contactPoint], localDataCenter: 'datacenter1' });
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
  const cleanup = await BigQueryOfflineStore.open({
    projectId: bigqueryProject,
    dataset,
    location: 'US',
    endpoint: `http://${servers.bigquery.host}:${servers.bigquery.port}`,
    sqlDir: 'sql',
  });
  await cleanup.dropDataset();
  await cleanup.close();
}, 120_000);

describeApplyRoundTrip('Cassandra + BigQuery emulator', async () => {
  await requireServer('cassandra');
  await requireServer('bigquery');
  offline = await BigQueryOfflineStore.open({
    projectId: bigqueryProject,
    dataset,
    location: 'US',
    endpoint: `http://${servers.bigquery.host}:${servers.bigquery.port}`,
    sqlDir: 'sql',
  });
  const online = await openCassandraOnlineStore({
    contactPoints: [contactPoint],
    localDataCenter: 'datacenter1',
    keyspace,
    replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    consistency: 'ONE',
  });
  return { online, offline };
});
