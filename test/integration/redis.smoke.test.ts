import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, servers } from './servers.ts';

describe('redis smoke (ioredis against the local server)', () => {
  let redis: Redis;
  beforeAll(async () => {
    await requireServer('redis');
    redis = new Redis({ host: servers.redis.host, port: servers.redis.port, lazyConnect: true });
    await redis.connect();
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('sets and gets a value with an expiry', async () => {
    const key = `ferry:smoke:${process.pid}:${Date.now()}`;
    await redis.set(key, 'hello', 'PX', 60_000);
    expect(await redis.get(key)).toBe('hello');
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await redis.del(key);
    expect(await redis.get(key)).toBeNull();
  });
});
