import { Client } from 'cassandra-driver';
import { afterAll } from 'vitest';
import { openCassandraOnlineStore } from '../../core/online/cassandra-online-store.ts';
import { describeApplyRoundTrip } from '../unit/apply-round-trip.ts';
import { requireServer, servers } from './servers.ts';

// a fresh keyspace per run, dropped at the end
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
}, 120_000);

describeApplyRoundTrip('cassandra', async () => {
  await requireServer('cassandra');
  return openCassandraOnlineStore({
    contactPoints: [contactPoint],
    localDataCenter: 'datacenter1',
    keyspace,
    replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    consistency: 'ONE',
  });
});
