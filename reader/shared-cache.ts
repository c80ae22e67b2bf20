import { Redis } from 'ioredis';
import type { KeyId } from './row-cache.ts';
import type { CachedRow } from './row-json.ts';
import { rowFromJson } from './row-json.ts';
import type { ServedFeature } from './served-features.ts';

/** A row found in the shared cache, with the time it was read from the store. */
export interface SharedRow {
  row: CachedRow;
  fetchedAtMs: number;
}

/**
 * A cache shared by every reader process, in front of the online store. Failures never fail
 * a lookup: a get that fails counts as a miss, a set or delete that fails is dropped.
 */
export interface SharedCache {
  get(feature: ServedFeature, ids: readonly KeyId[]): Promise<(SharedRow | undefined)[]>;
  set(feature: ServedFeature, rows: readonly { id: KeyId; row: CachedRow }[], fetchedAtMs: number): void;
  delete(feature: ServedFeature, ids: readonly KeyId[]): Promise<void>;
  close(): Promise<void>;
}

export interface RedisSharedCacheOptions {
  url: string;
  /** Longest wait for Redis before treating the call as a miss. */
  timeoutMs?: number;
  keyPrefix?: string;
  onError?: (e: Error) => void;
}

/**
 * The shared cache on Redis (ioredis). Keys are `<prefix><feature>#<schema fingerprint>|<key>`; values
 * are `<fetched at ms>|<row JSON>` with a PX expiry of the feature's redis TTL.
 */
export class RedisSharedCache implements SharedCache {
  private readonly redis: Redis;
  private readonly prefix: string;

  private constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  static async open(options: RedisSharedCacheOptions): Promise<RedisSharedCache> {
    const redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs ?? 100,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    let last = 0;
    redis.on('error', (e: Error) => {
      // ioredis reconnects by itself; report at most one error per 10 s
      if (Date.now() - last > 10_000) {
        last = Date.now();
        options.onError?.(e);
      }
    });
    try {
      await redis.connect();
    } catch (e) {
      options.onError?.(e as Error);
    }
    return new RedisSharedCache(redis, options.keyPrefix ?? 'ferry:reader:');
  }

  private key(feature: ServedFeature, id: KeyId): string {
    return this.prefix + feature.sharedPrefix + id;
  }

  async get(feature: ServedFeature, ids: readonly KeyId[]): Promise<(SharedRow | undefined)[]> {
    const values = await this.redis.mgetBuffer(ids.map((id) => this.key(feature, id)));
    return values.map((v) => {
      if (v === null) return undefined;
      const bar = v.indexOf(0x7c); // '|'
      const fetchedAtMs = Number(v.toString('latin1', 0, bar));
      if (bar < 0 || !Number.isFinite(fetchedAtMs)) return undefined;
      try {
        return { row: rowFromJson(feature, v.toString('utf8', bar + 1)), fetchedAtMs };
      } catch {
        return undefined;
      }
    });
  }

  set(feature: ServedFeature, rows: readonly { id: KeyId; row: CachedRow }[], fetchedAtMs: number): void {
    if (rows.length === 0) return;
    const ttl = feature.policy.redisTtlMs;
    const stamp = Buffer.from(`${fetchedAtMs}|`);
    const p = this.redis.pipeline();
    for (const { id, row } of rows) p.set(this.key(feature, id), Buffer.concat([stamp, row.body]), 'PX', ttl);
    p.exec().catch(() => {});
  }

  async delete(feature: ServedFeature, ids: readonly KeyId[]): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.del(...ids.map((id) => this.key(feature, id)));
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
