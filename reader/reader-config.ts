import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parse } from 'yaml';
import { z } from 'zod';
import type { SettingSpec } from '../config/settings.ts';
import { parseDuration } from '../domain/definitions/duration.ts';

/**
 * The reader's own settings. They belong in config/settings.ts (same shape, same
 * FERRY_* names); until they move there, the reader reads them from the environment here.
 */
export const readerSettingSpecs = {
  readerThreads: {
    env: 'FERRY_READER_THREADS',
    default: '0',
    description:
      'Worker threads of the read API, each with its own uWS app on the same port (0: one per core)',
  },
  readerMaxBodyBytes: {
    env: 'FERRY_READER_MAX_BODY_BYTES',
    default: '1048576',
    description: 'Largest request body (413 above)',
  },
  readerMaxKeys: {
    env: 'FERRY_READER_MAX_KEYS',
    default: '1000',
    description: 'Most keys in one lookup request (400 above)',
  },
  readerStoreTimeoutMs: {
    env: 'FERRY_READER_STORE_TIMEOUT_MS',
    default: '1000',
    description: 'Longest wait for an online store read before answering 503 (or stale values)',
  },
  readerStoreMaxKeysInFlight: {
    env: 'FERRY_READER_STORE_MAX_KEYS_IN_FLIGHT',
    default: '512',
    description:
      'Most keys one thread reads from the online store at once; more wait (up to the store timeout, then 503)',
  },
  readerRefreshMs: {
    env: 'FERRY_READER_REFRESH_MS',
    default: '5000',
    description: 'How often the reader reloads the applied definitions from the online store',
  },
  readerShutdownTimeoutMs: {
    env: 'FERRY_READER_SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    description: 'Longest wait for in-flight requests on shutdown',
  },
  readerCacheMb: {
    env: 'FERRY_READER_CACHE_MB',
    default: '64',
    description: 'Memory of the in-process row cache, split between threads (0: no cache)',
  },
  readerCacheTtlMs: {
    env: 'FERRY_READER_CACHE_TTL_MS',
    default: '1000',
    description: 'Freshness of cached rows of features that accept commands (real-time features)',
  },
  readerCacheBatchTtlMs: {
    env: 'FERRY_READER_CACHE_BATCH_TTL_MS',
    default: '60000',
    description: 'Freshness of cached rows of features nobody may write by command (upsync only)',
  },
  readerStaleIfErrorMs: {
    env: 'FERRY_READER_STALE_IF_ERROR_MS',
    default: '0',
    description:
      'How long past freshness a cached row may be served, marked stale, while the store fails (0: never)',
  },
  readerRedisFeatures: {
    env: 'FERRY_READER_REDIS_FEATURES',
    default: '',
    description: 'Features read through the shared Redis cache: comma-separated names, `namespace::*` or `*`',
  },
  readerRedisTtlMs: {
    env: 'FERRY_READER_REDIS_TTL_MS',
    default: '10000',
    description: 'Freshness of rows in the shared Redis cache',
  },
  readerRedisPrefix: {
    env: 'FERRY_READER_REDIS_PREFIX',
    default: 'ferry:reader:',
    description: 'Prefix of shared cache keys in Redis (one per deployment sharing a Redis)',
  },
  readerCacheFile: {
    env: 'FERRY_READER_CACHE_FILE',
    default: 'reader-cache.yaml',
    description: 'Per-feature cache settings (ttl, stale_if_error, redis, redis_ttl); optional',
  },
  readerMetricsRequireToken: {
    env: 'FERRY_READER_METRICS_REQUIRE_TOKEN',
    default: 'false',
    description: 'Whether /metrics needs a valid bearer token (its labels name features)',
  },
} as const satisfies Record<string, SettingSpec>;

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

function int(env: NodeJS.ProcessEnv, spec: SettingSpec, min: number): number {
  const raw = env[spec.env] ?? spec.default;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min)
    throw new ReaderConfigError(`${spec.env}: expected an integer ≥ ${min}, got "${raw}"`);
  return n;
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

/** The reader configuration from FERRY_READER_* variables and the optional cache file. */
export function readReaderConfig(env: NodeJS.ProcessEnv = process.env): ReaderConfig {
  const s = readerSettingSpecs;
  const threads = int(env, s.readerThreads, 0);
  const features: Record<string, CachePolicySpec> = {};
  const redisList = (env[s.readerRedisFeatures.env] ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const name of redisList) features[name] = { redis: true };
  const file = env[s.readerCacheFile.env] ?? s.readerCacheFile.default;
  if (existsSync(file)) {
    for (const [name, p] of Object.entries(parseCacheFile(readFileSync(file, 'utf8'), file))) {
      features[name] = { ...features[name], ...p };
    }
  } else if (env[s.readerCacheFile.env] !== undefined && env[s.readerCacheFile.env] !== '') {
    throw new ReaderConfigError(`${s.readerCacheFile.env}: no such file "${file}"`);
  }
  const requireToken = (
    env[s.readerMetricsRequireToken.env] ?? s.readerMetricsRequireToken.default
  ).toLowerCase();
  return {
    threads: threads === 0 ? os.availableParallelism() : threads,
    maxBodyBytes: int(env, s.readerMaxBodyBytes, 64),
    maxKeys: int(env, s.readerMaxKeys, 1),
    storeTimeoutMs: int(env, s.readerStoreTimeoutMs, 1),
    storeMaxKeysInFlight: int(env, s.readerStoreMaxKeysInFlight, 1),
    refreshMs: int(env, s.readerRefreshMs, 100),
    shutdownTimeoutMs: int(env, s.readerShutdownTimeoutMs, 0),
    metricsRequireToken: requireToken === 'true' || requireToken === '1',
    cache: {
      maxBytes: int(env, s.readerCacheMb, 0) * 1024 * 1024,
      realtimeTtlMs: int(env, s.readerCacheTtlMs, 0),
      batchTtlMs: int(env, s.readerCacheBatchTtlMs, 0),
      staleIfErrorMs: int(env, s.readerStaleIfErrorMs, 0),
      redisTtlMs: int(env, s.readerRedisTtlMs, 1),
      redisPrefix: env[s.readerRedisPrefix.env] ?? s.readerRedisPrefix.default,
      features,
    },
  };
}
