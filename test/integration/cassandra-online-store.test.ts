import { Client } from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AggregateWindow, DAY } from '../../domain/aggregations/aggregate-field.ts';
import { aggregationSpecOf } from '../../domain/aggregations/aggregation-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { decodeKeyRow } from '../../stores/online/aggregate-codec.ts';
import {
  type CassandraOnlineStore,
  openCassandraOnlineStore,
} from '../../stores/online/cassandra-online-store.ts';
import { featureTableName } from '../../stores/online/cassandra-schema.ts';
import { fieldsOf, runScenario, type Scenario } from '../aggregation-contract.ts';
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

describe("cassandra online store: a small key's aggregation state lives in its meta row", () => {
  const fields = fieldsOf([
    ['count', undefined],
    ['sum', 'duration'],
    ['avg', 'duration'],
  ]);
  const windowText = (w: AggregateWindow) => (w.kind === 'lifetime' ? 'lifetime' : `${w.ms / 1000}s`);
  const { definitions, errors } = loadDefinitionsFromText(
    'inline.yaml',
    `inline::match-stats:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: {type: Long, is_key_field: true}
    duration: {type: Long}
${fields.map((f) => `    ${f.name}: {aggregate: {function: ${f.fn}${f.of ? `, of: ${f.of}` : ''}, window: ${windowText(f.window)}}}`).join('\n')}
  aggregation:
    allowed_lateness: 1h
`,
  );
  const def = definitions[0]!;
  let store: CassandraOnlineStore;
  let nextUser = 1;

  beforeAll(async () => {
    expect(errors).toEqual([]);
    store = await open();
    await store.ensureFeature(def);
  }, 120_000);
  afterAll(async () => {
    await store?.close();
  });

  /** Drives one key through the contract's simulation; returns the key's rows afterwards. */
  async function scenario(s: Scenario) {
    const keys = { user_id: nextUser++ };
    const spec = aggregationSpecOf(def);
    const r = await runScenario(
      s,
      {
        latenessMs: spec.latenessMs,
        rawHorizonMs: spec.rawHorizonMs,
        add: (events, now) =>
          store.writeAggregateEvents(
            def,
            events.map((e) => ({
              keys,
              eventTimeMs: e.t,
              eventId: e.id,
              values: { duration: e.values.duration },
            })),
            now,
          ),
        read: async (t) => (await store.readAggregates(def, [keys], { atMs: t }))[0]!.values,
      },
      fields,
    );
    expect(r).toMatchObject({ mismatches: 0 });
    const rows = await store.client.execute(
      `SELECT "_level" AS level, "_value" AS value FROM ${keyspace}.${featureTableName(def)} WHERE user_id = ?`,
      [BigInt(keys.user_id)],
      { prepare: true },
    );
    const meta = rows.rows.find((row) => row.get('level') === 0);
    return {
      rows: rows.rows.length,
      inline: decodeKeyRow(meta!.get('value') as Buffer).inline !== undefined,
    };
  }

  it('a key with a few events a day stays one row for two months, its expired pieces dropped inside it; reads equal a brute force', async () => {
    const got = await scenario({ name: 'sparse', events: 150, spanMs: 60 * DAY, reads: 75, seed: 5 });
    expect(got).toEqual({ rows: 1, inline: true });
  }, 120_000);

  it('a busy key outgrows the row: its pieces move to rows of their own, and reads before and after equal a brute force', async () => {
    const got = await scenario({
      name: 'busy',
      events: 1_500,
      spanMs: 2 * DAY,
      reads: 100,
      seed: 7,
      batch: 10,
    });
    expect(got.inline).toBe(false);
    expect(got.rows).toBeGreaterThan(100);
  }, 300_000);
});
