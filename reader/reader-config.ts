import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parse } from 'yaml';
import { z } from 'zod';
import { readSettings, settingSpecs } from '../config/settings.ts';
import { parseDuration } from '../domain/definitions/duration.ts';

/** Cache settings of one feature (or of a `namespace::*` pattern, or of `*`). */
export interface CachePolicySpec {
  ttlMs?: number;
  staleIfErrorMs?: number;
  redis?: boolean;
  redisTtlMs?: number;
}

/** Everything a reader thread needs besides the store and the tokens; plain data (sent to workers). */
export interface ReaderConfig {
  /** Worker threads; 1 serves in the calling thread. */
  threads: number;
  maxBodyBytes: number;
  maxKeys: number;
  storeTimeoutMs: number;
  storeMaxKeysInFlight: number;
  refreshMs: number;
  shutdownTimeoutMs: number;
  metricsRequireToken: boolean;
  cache: {
    /** Bytes of the in-process cache over all threads (approximate). */
    maxBytes: number;
    realtimeTtlMs: number;
    batchTtlMs: number;
    staleIfErrorMs: number;
    redisTtlMs: number;
    redisPrefix: string;
    /** Per feature overrides by full name, `namespace::*` or `*`; the most specific wins. */
    features: Record<string, CachePolicySpec>;
  };
}

export class ReaderConfigError extends Error {
  override name = 'ReaderConfigError';
}

const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 500ms, 1s or 5m, got "${v}"` });
    return z.NEVER;
  }
  return ms;
});

const policyYaml = z.strictObject({
  ttl: duration.optional(),
  stale_if_error: duration.optional(),
  redis: z.boolean().optional(),
  redis_ttl: duration.optional(),
});

const cacheFileYaml = z.strictObject({
  features: z.record(z.string(), policyYaml).optional(),
});

/** Reads the per-feature cache file: `features: {<name or namespace::* or *>: {ttl, stale_if_error, redis, redis_ttl}}`. */
export function parseCacheFile(text: string, file: string): Record<string, CachePolicySpec> {
  const parsed = cacheFileYaml.safeParse(parse(text) ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ReaderConfigError(`${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  const out: Record<string, CachePolicySpec> = {};
  for (const [name, p] of Object.entries(parsed.data.features ?? {})) {
    out[name] = {
      ...(p.ttl !== undefined ? { ttlMs: p.ttl } : {}),
      ...(p.stale_if_error !== undefined ? { staleIfErrorMs: p.stale_if_error } : {}),
      ...(p.redis !== undefined ? { redis: p.redis } : {}),
      ...(p.redis_ttl !== undefined ? { redisTtlMs: p.redis_ttl } : {}),
    };
  }
  return out;
}

/** The reader configuration from the FERRY_READER_* settings and the optional cache file. */
export function readReaderConfig(env: NodeJS.ProcessEnv = process.env): ReaderConfig {
  const s = readSettings(env);
  const features: Record<string, CachePolicySpec> = {};
  for (const name of s.readerRedisFeatures) features[name] = { redis: true };
  const file = s.readerCacheFile;
  if (existsSync(file)) {
    for (const [name, p] of Object.entries(parseCacheFile(readFileSync(file, 'utf8'), file))) {
      features[name] = { ...features[name], ...p };
    }
  } else if (
    env[settingSpecs.readerCacheFile.env] !== undefined &&
    env[settingSpecs.readerCacheFile.env] !== ''
  ) {
    throw new ReaderConfigError(`${settingSpecs.readerCacheFile.env}: no such file "${file}"`);
  }
  return {
    threads: s.readerThreads === 0 ? os.availableParallelism() : s.readerThreads,
    maxBodyBytes: s.readerMaxBodyBytes,
    maxKeys: s.readerMaxKeys,
    storeTimeoutMs: s.readerStoreTimeoutMs,
    storeMaxKeysInFlight: s.readerStoreMaxKeysInFlight,
    refreshMs: s.readerRefreshMs,
    shutdownTimeoutMs: s.readerShutdownTimeoutMs,
    metricsRequireToken: s.readerMetricsRequireToken,
    cache: {
      maxBytes: s.readerCacheMb * 1024 * 1024,
      realtimeTtlMs: s.readerCacheTtlMs,
      batchTtlMs: s.readerCacheBatchTtlMs,
      staleIfErrorMs: s.readerStaleIfErrorMs,
      redisTtlMs: s.readerRedisTtlMs,
      redisPrefix: s.readerRedisPrefix,
      features,
    },
  };
}
