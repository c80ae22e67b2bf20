import { Client } from 'cassandra-driver';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../config/settings.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { ReaderConfig } from '../../reader/reader-config.ts';
import { type ReaderHandle, startReader } from '../../reader/start-reader.ts';
import {
  type CassandraOnlineStore,
  openCassandraOnlineStore,
} from '../../stores/online/cassandra-online-store.ts';
import {
  applyTestFeatures,
  CountingStore,
  client,
  describeReaderApi,
  metric,
  sleep,
  testReaderConfig,
  tokenEntries,
} from '../conformance/reader-api-suite.ts';
import { requireServer, servers } from './servers.ts';

// the read API against a real Cassandra (a fresh keyspace per run, dropped at the end), and
// the shared cache against a real Redis
const keyspace = `ferry_reader_${process.pid}_${Date.now()}`;
const contactPoint = `${servers.cassandra.host}:${servers.cassandra.port}`;
const redisUrl = `redis://${servers.redis.host}:${servers.redis.port}`;

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
  const c = new Client({ contactPoints: [contactPoint], localDataCenter: 'datacenter1' });
  try {
    await c.connect();
    await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await c.shutdown();
  }
}, 120_000);

describeReaderApi('cassandra', open);

describe('reader: shared Redis cache', () => {
  const prefix = `ferry:test:${process.pid}:${Date.now()}:`;
  const feature = 'azar::user-profile';
  let store: CassandraOnlineStore;
  let defs: Map<string, FeatureDefinition>;
  let redis: Redis;
  const readers: ReaderHandle[] = [];

  const config = (): ReaderConfig => {
    const base = testReaderConfig();
    // a short local freshness, so the second reader's answers come through Redis
    return {
      ...base,
      cache: {
        ...base.cache,
        redisPrefix: prefix,
        features: { [feature]: { redis: true, ttlMs: 100, redisTtlMs: 60_000 } },
      },
    };
  };
  const start = async (counting: CountingStore, url = redisUrl) => {
    const r = await startReader({
      store: counting,
      settings: { ...readSettings({}), redisUrl: url },
      config: config(),
      tokens: tokenEntries,
      host: '127.0.0.1',
      port: 0,
      log: () => {},
    });
    readers.push(r);
    return r;
  };

  beforeAll(async () => {
    await requireServer('redis');
    store = await open();
    defs = await applyTestFeatures(store);
    redis = new Redis(redisUrl, { lazyConnect: true });
    await redis.connect();
  });

  afterAll(async () => {
    for (const r of readers) await r.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await store.close();
  });

  it('lets a second reader answer from Redis without a store read, and drops the key on push', async () => {
    const now = Date.now();
    await store.writeObjects(defs.get(feature)!, [
      { keys: { user_id: 31 }, values: { level: 31 }, eventTimeMs: now - 1000 },
    ]);
    const storeA = new CountingStore(store);
    const storeB = new CountingStore(store);
    const a = await start(storeA);
    const b = await start(storeB);
    const httpA = client(() => `http://127.0.0.1:${a.port}`);
    const httpB = client(() => `http://127.0.0.1:${b.port}`);

    expect((await httpA.get(`/v1/features/${feature}/31`)).json.values.level).toBe(31);
    expect(storeA.readsOf(feature)).toBe(1);
    await sleep(50); // the Redis write is not awaited by the lookup
    const keys = await redis.keys(`${prefix}${feature}#*|31`);
    expect(keys).toHaveLength(1);
    expect(await redis.pttl(keys[0]!)).toBeGreaterThan(50_000);

    const fromRedis = await httpB.get(`/v1/features/${feature}/31`);
    expect(fromRedis.json).toMatchObject({
      found: true,
      values: { level: 31 },
      _last_updated_at_ms: now - 1000,
    });
    expect(storeB.readsOf(feature)).toBe(0);
    const m = (await httpB.get('/metrics', undefined)).text;
    expect(metric(m, 'ferry_reader_redis_hits_total', { feature })).toBe(1);

    const pushed = await httpA.post('/v1/commands', {
      feature_name: feature,
      method: 'UPDATE',
      keys: { user_id: 31 },
      values: { level: 32, _last_updated_at_ms: now },
    });
    expect(pushed.status).toBe(200);
    expect(await redis.exists(keys[0]!)).toBe(0);
    await sleep(150); // B's local freshness (100 ms) passes
    expect((await httpB.get(`/v1/features/${feature}/31`)).json.values.level).toBe(32);
    expect(storeB.readsOf(feature)).toBe(1);
  });

  it('keeps answering from the store when Redis is unreachable, counting the errors', async () => {
    const counting = new CountingStore(store);
    const r = await start(counting, 'redis://127.0.0.1:1');
    const http = client(() => `http://127.0.0.1:${r.port}`);
    for (let i = 0; i < 3; i++) {
      const got = await http.post('/v1/features/lookup', { feature, keys: [31, 33] });
      expect(got.status).toBe(200);
      await sleep(120);
    }
    expect(counting.readsOf(feature)).toBe(3);
    const m = (await http.get('/metrics', undefined)).text;
    expect(metric(m, 'ferry_reader_redis_errors_total', { feature })).toBeGreaterThanOrEqual(3);
  });
});
