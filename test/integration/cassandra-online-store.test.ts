import { Client } from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { decodeKeyRow } from '../../stores/online/aggregate-codec.ts';
import {
  type CassandraOnlineStore,
  openCassandraOnlineStore,
} from '../../stores/online/cassandra-online-store.ts';
import { featureTableName } from '../../stores/online/cassandra-schema.ts';
import { describeInlineAggregationConformance } from '../conformance/inline-aggregation-conformance.ts';
import { describeOnlineStoreConformance } from '../conformance/online-store-conformance.ts';
import { requireServer, servers } from './servers.ts';

// a fresh keyspace per run, dropped at the end
const keyspace = `ferry_online_${process.pid}_${Date.now()}`;
const contactPoint = `${servers.cassandra.host}:${servers.cassandra.port}`;

async function open(): Promise<CassandraOnlineStore> {
  await requireServer('cassandra');
  return openCassandraOnlineStore({
    contactPoints: [contactPoint],
    localDataCenter: 'datacenter1',
    keyspace,
    replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    consistency: 'ONE',
  });
}

afterAll(async () => {
  const client = new Client({ contactPoints: [contactPoint], localDataCenter: 'datacenter1' });
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
}, 120_000);

describeOnlineStoreConformance('cassandra', open);

describe('cassandra online store: the tables it creates', () => {
  const { definitions } = loadDefinitionsFromText(
    'tables.yaml',
    `
tables::user-stat:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    Level: { type: Long, default_value: 0 }
  retention:
    online: 1d
tables::recent:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Text, is_key_field: true }
    peer: { type: Long, default_value: 0 }
  history:
    max_entries_per_key: 3
`,
  );
  const [stat, recent] = definitions as [(typeof definitions)[0], (typeof definitions)[0]];
  let store: CassandraOnlineStore;

  beforeAll(async () => {
    store = await open();
    await store.ensureFeature(stat);
    await store.ensureFeature(recent);
  }, 120_000);
  afterAll(async () => {
    await store?.close();
  });

  it('keys the table by the key fields, one blob per value field, the write time from the event time, TTL from retention', async () => {
    const table = featureTableName(stat);
    expect(table).toMatch(/^o_tables__user_stat_[0-9a-f]{8}$/);
    const eventTimeMs = Date.now() - 60_000;
    await store.writeObjects(stat, [{ keys: { user_id: 7 }, eventTimeMs, values: { Level: 3 } }]);
    const rs = await store.client.execute(
      `SELECT "Level", WRITETIME("Level") AS w, TTL("Level") AS ttl FROM ${keyspace}.${table} WHERE user_id = ?`,
      [7n],
      { prepare: true },
    );
    const row = rs.first();
    expect(Buffer.isBuffer(row.get('Level'))).toBe(true);
    expect(row.get('w')).toBe(BigInt(eventTimeMs) * 1000n);
    // one day minus the minute already gone, rounded up, plus one second
    expect(row.get('ttl')).toBeGreaterThan(86_400 - 60 - 5);
    expect(row.get('ttl')).toBeLessThanOrEqual(86_400 - 60 + 2);
  });

  it('clusters History newest first by event time and entry hash', async () => {
    const cols = await store.client.execute(
      'SELECT column_name, kind, clustering_order, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?',
      [keyspace, featureTableName(recent)],
      { prepare: true },
    );
    const byName = Object.fromEntries(
      cols.rows.map((r) => [
        r.get('column_name'),
        `${r.get('kind')} ${r.get('type')} ${r.get('clustering_order')}`,
      ]),
    );
    expect(byName).toEqual({
      user_id: 'partition_key text none',
      _event_time: 'clustering bigint desc',
      _entry_hash: 'clustering text desc',
      peer: 'regular blob none',
    });
  });

  it('trims History to the maximum entries per key when appending', async () => {
    for (let t = 1; t <= 10; t++) {
      await store.appendHistory(recent, [
        { keys: { user_id: 'a' }, eventTimeMs: t, values: { peer: t } },
        { keys: { user_id: 'b' }, eventTimeMs: 11 - t, values: { peer: t } },
      ]);
    }
    const rs = await store.client.execute(
      `SELECT COUNT(*) AS n FROM ${keyspace}.${featureTableName(recent)}`,
    );
    expect(rs.first().get('n')).toBe(6n);
    const [a, b] = await store.readHistory(recent, [{ user_id: 'a' }, { user_id: 'b' }]);
    expect(a!.entries.map((e) => e.eventTimeMs)).toEqual([10, 9, 8]);
    expect(b!.entries.map((e) => e.eventTimeMs)).toEqual([10, 9, 8]);
  });
});

describeInlineAggregationConformance('cassandra', open, async (store, def, userId) => {
  const rows = await (store as CassandraOnlineStore).client.execute(
    `SELECT "_level" AS level, "_value" AS value FROM ${keyspace}.${featureTableName(def)} WHERE user_id = ?`,
    [BigInt(userId)],
    { prepare: true },
  );
  const meta = rows.rows.find((row) => row.get('level') === 0);
  return {
    entries: rows.rows.length,
    inline: meta !== undefined && decodeKeyRow(meta.get('value') as Buffer).inline !== undefined,
  };
});
