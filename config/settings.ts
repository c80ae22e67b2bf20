import { z } from 'zod';

/**
 * Every setting Ferry reads, with its environment variable, default and schema: readSettings
 * parses them all here, once, into typed values (numbers, choices, lists), and refuses a bad one
 * naming its variable. The README's configuration reference is this table (scripts/settings-table.ts);
 * `ferry config` prints the values in force.
 */
export interface SettingSpec {
  env: string;
  default: string;
  description: string;
  /** Parses the variable's text; its message says what is expected ("must be …"). */
  schema: z.ZodType<unknown, string>;
}

const text = z.string();

/** One of `values` (surrounding spaces ignored). */
function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z
    .string()
    .trim()
    .pipe(z.enum(values, { error: `must be ${values.join(' or ')}` }));
}

/** A whole number from `min` (to `max`). */
function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  const expected =
    max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .regex(/^\d+$/, { error: `must be ${expected}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { error: `must be ${expected}` })
        .max(max, { error: `must be ${expected}` }),
    );
}

/** A size DuckDB takes: 64MB, 1GB, 512MiB. */
const size = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, { error: 'must be a size such as 64MB or 1GB' });

/** Megabytes, 0 meaning off. */
const megabytes = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, { error: 'must be a number of MB (0: off)' })
  .transform(Number);

/** A comma-separated list (empty items dropped). */
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

/** true/1 or false/0 (any case). */
const flag = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', '1', 'false', '0', ''], { error: 'must be true or false' }))
  .transform((s) => s === 'true' || s === '1');

export const settingSpecs = {
  dataDir: {
    env: 'FERRY_DATA_DIR',
    default: '.ferry',
    description: 'Folder of the embedded stores (LMDB, DuckDB)',
    schema: text,
  },
  featuresDir: {
    env: 'FERRY_FEATURES_DIR',
    default: 'features',
    description: 'Folder of feature YAML',
    schema: text,
  },
  sqlDir: { env: 'FERRY_SQL_DIR', default: 'sql', description: 'Folder of SQL transforms', schema: text },
  onlineStore: {
    env: 'FERRY_ONLINE_STORE',
    default: 'embedded',
    description: 'Online store: embedded (LMDB) or cassandra',
    schema: choice(['embedded', 'cassandra']),
  },
  cassandraContactPoints: {
    env: 'FERRY_CASSANDRA_CONTACT_POINTS',
    default: '127.0.0.1:9042',
    description: 'Comma-separated host:port of Cassandra/ScyllaDB nodes',
    schema: text,
  },
  cassandraLocalDc: {
    env: 'FERRY_CASSANDRA_LOCAL_DC',
    default: 'datacenter1',
    description: 'Local data centre for the driver',
    schema: text,
  },
  cassandraKeyspace: {
    env: 'FERRY_CASSANDRA_KEYSPACE',
    default: 'ferry',
    description: 'Keyspace of the online tables',
    schema: text,
  },
  cassandraReplication: {
    env: 'FERRY_CASSANDRA_REPLICATION',
    default: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    description: 'Replication map used when `ferry apply` creates the keyspace',
    schema: text,
  },
  cassandraConsistency: {
    env: 'FERRY_CASSANDRA_CONSISTENCY',
    default: 'LOCAL_QUORUM',
    description: 'Consistency of reads and writes (ONE for a single local node)',
    schema: text,
  },
  cassandraKeysPerRead: {
    env: 'FERRY_CASSANDRA_KEYS_PER_READ',
    default: '20',
    description: 'Keys per `IN` select of a many-key read (single-column keys; 1: one select per key)',
    schema: wholeNumber(1, 1000),
  },
  cassandraUsername: {
    env: 'FERRY_CASSANDRA_USERNAME',
    default: '',
    description: 'Username (empty: no authentication)',
    schema: text,
  },
  cassandraPassword: { env: 'FERRY_CASSANDRA_PASSWORD', default: '', description: 'Password', schema: text },
  offlineStore: {
    env: 'FERRY_OFFLINE_STORE',
    default: 'duckdb',
    description: 'Offline store: duckdb or bigquery',
    schema: choice(['duckdb', 'bigquery']),
  },
  duckdbMemoryLimit: {
    env: 'FERRY_DUCKDB_MEMORY_LIMIT',
    default: '64MB',
    description:
      "DuckDB's working memory in the embedded offline store (beyond it DuckDB spills to disk), e.g. 32MB, 1GB",
    schema: size,
  },
  bigqueryProject: {
    env: 'FERRY_BIGQUERY_PROJECT',
    default: 'ferry-local',
    description: 'BigQuery project id',
    schema: text,
  },
  bigqueryDataset: {
    env: 'FERRY_BIGQUERY_DATASET',
    default: 'ferry',
    description: 'Dataset of Ferry tables',
    schema: text,
  },
  bigqueryLocation: {
    env: 'FERRY_BIGQUERY_LOCATION',
    default: 'US',
    description: 'Dataset location',
    schema: text,
  },
  bigqueryEndpoint: {
    env: 'FERRY_BIGQUERY_ENDPOINT',
    default: '',
    description: 'API endpoint; set to the emulator (http://127.0.0.1:9050) to skip Google credentials',
    schema: text,
  },
  bigqueryReadApi: {
    env: 'FERRY_BIGQUERY_READ_API',
    default: 'storage',
    description:
      'How incremental reads (upsync) fetch a query result: storage (Storage Read API, Arrow over gRPC) or rest (jobs.getQueryResults pages)',
    schema: choice(['storage', 'rest']),
  },
  bigqueryStorageEndpoint: {
    env: 'FERRY_BIGQUERY_STORAGE_ENDPOINT',
    default: '',
    description:
      'host:port of the Storage Read API (empty: the emulator host with port 9060 when FERRY_BIGQUERY_ENDPOINT is set, else bigquerystorage.googleapis.com:443)',
    schema: text,
  },
  temporalAddress: {
    env: 'FERRY_TEMPORAL_ADDRESS',
    default: '127.0.0.1:7233',
    description: 'Temporal frontend host:port',
    schema: text,
  },
  temporalNamespace: {
    env: 'FERRY_TEMPORAL_NAMESPACE',
    default: 'default',
    description: 'Temporal namespace',
    schema: text,
  },
  temporalTaskQueue: {
    env: 'FERRY_TEMPORAL_TASK_QUEUE',
    default: 'ferry',
    description: 'Task queue of Ferry workers',
    schema: text,
  },
  workerMetricsPort: {
    env: 'FERRY_WORKER_METRICS_PORT',
    default: '0',
    description:
      "Port of the worker's Prometheus /metrics (command and event consumers; 0: none), on FERRY_WORKER_METRICS_HOST",
    schema: wholeNumber(0, 65535),
  },
  workerMetricsHost: {
    env: 'FERRY_WORKER_METRICS_HOST',
    default: '127.0.0.1',
    description: "Address the worker's /metrics binds",
    schema: text,
  },
  workerHeapSoftLimitMb: {
    env: 'FERRY_WORKER_HEAP_SOFT_LIMIT_MB',
    default: '96',
    description:
      'Growth of the V8 heap during a bulk copy (upsync, backfill) above which it collects garbage at a page boundary (0: off)',
    schema: megabytes,
  },
  kafkaBrokers: {
    env: 'FERRY_KAFKA_BROKERS',
    default: '',
    description: 'Comma-separated brokers (empty: no Kafka)',
    schema: text,
  },
  kafkaCommandsTopic: {
    env: 'FERRY_KAFKA_COMMANDS_TOPIC',
    default: 'ferry.commands',
    description: 'Topic of feature commands',
    schema: text,
  },
  redisUrl: {
    env: 'FERRY_REDIS_URL',
    default: '',
    description: 'Shared cache (empty: in-process cache only)',
    schema: text,
  },
  readerPort: {
    env: 'FERRY_READER_PORT',
    default: '8080',
    description: 'Port of the read API',
    schema: wholeNumber(0, 65535),
  },
  readerHost: {
    env: 'FERRY_READER_HOST',
    default: '127.0.0.1',
    description: 'Address the read API binds',
    schema: text,
  },
  tokensFile: {
    env: 'FERRY_TOKENS_FILE',
    default: 'tokens.yaml',
    description: 'Token hashes mapped to service names',
    schema: text,
  },
  // the reader's own
  readerThreads: {
    env: 'FERRY_READER_THREADS',
    default: '0',
    description:
      'Worker threads of the read API, each with its own uWS app on the same port (0: one per core)',
    schema: wholeNumber(0),
  },
  readerMaxBodyBytes: {
    env: 'FERRY_READER_MAX_BODY_BYTES',
    default: '1048576',
    description: 'Largest request body (413 above)',
    schema: wholeNumber(64),
  },
  readerMaxKeys: {
    env: 'FERRY_READER_MAX_KEYS',
    default: '1000',
    description: 'Most keys in one lookup request (400 above)',
    schema: wholeNumber(1),
  },
  readerStoreTimeoutMs: {
    env: 'FERRY_READER_STORE_TIMEOUT_MS',
    default: '1000',
    description: 'Longest wait for an online store read before answering 503 (or stale values)',
    schema: wholeNumber(1),
  },
  readerStoreMaxKeysInFlight: {
    env: 'FERRY_READER_STORE_MAX_KEYS_IN_FLIGHT',
    default: '512',
    description:
      'Most keys one thread reads from the online store at once; more wait (up to the store timeout, then 503)',
    schema: wholeNumber(1),
  },
  readerRefreshMs: {
    env: 'FERRY_READER_REFRESH_MS',
    default: '5000',
    description: 'How often the reader reloads the applied definitions from the online store',
    schema: wholeNumber(100),
  },
  readerShutdownTimeoutMs: {
    env: 'FERRY_READER_SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    description: 'Longest wait for in-flight requests on shutdown',
    schema: wholeNumber(0),
  },
  readerCacheMb: {
    env: 'FERRY_READER_CACHE_MB',
    default: '64',
    description: 'Memory of the in-process row cache, split between threads (0: no cache)',
    schema: wholeNumber(0),
  },
  readerCacheTtlMs: {
    env: 'FERRY_READER_CACHE_TTL_MS',
    default: '1000',
    description: 'Freshness of cached rows of features that accept commands (real-time features)',
    schema: wholeNumber(0),
  },
  readerCacheBatchTtlMs: {
    env: 'FERRY_READER_CACHE_BATCH_TTL_MS',
    default: '60000',
    description: 'Freshness of cached rows of features nobody may write by command (upsync only)',
    schema: wholeNumber(0),
  },
  readerStaleIfErrorMs: {
    env: 'FERRY_READER_STALE_IF_ERROR_MS',
    default: '0',
    description:
      'How long past freshness a cached row may be served, marked stale, while the store fails (0: never)',
    schema: wholeNumber(0),
  },
  readerRedisFeatures: {
    env: 'FERRY_READER_REDIS_FEATURES',
    default: '',
    description: 'Features read through the shared Redis cache: comma-separated names, `namespace::*` or `*`',
    schema: list,
  },
  readerRedisTtlMs: {
    env: 'FERRY_READER_REDIS_TTL_MS',
    default: '10000',
    description: 'Freshness of rows in the shared Redis cache',
    schema: wholeNumber(1),
  },
  readerRedisPrefix: {
    env: 'FERRY_READER_REDIS_PREFIX',
    default: 'ferry:reader:',
    description: 'Prefix of shared cache keys in Redis (one per deployment sharing a Redis)',
    schema: text,
  },
  readerCacheFile: {
    env: 'FERRY_READER_CACHE_FILE',
    default: 'reader-cache.yaml',
    description: 'Per-feature cache settings (ttl, stale_if_error, redis, redis_ttl); optional',
    schema: text,
  },
  readerMetricsRequireToken: {
    env: 'FERRY_READER_METRICS_REQUIRE_TOKEN',
    default: 'false',
    description: 'Whether /metrics needs a valid bearer token (its labels name features)',
    schema: flag,
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof settingSpecs;
export type Settings = { [K in SettingName]: z.output<(typeof settingSpecs)[K]['schema']> };

/** A setting the environment gives a value its schema refuses; names every such variable. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Reads every setting from the environment (or `env`), falling back to its default, and parses it. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(settingSpecs) as [SettingName, SettingSpec][]) {
    const raw = env[spec.env] ?? spec.default;
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${spec.env} ${parsed.error.issues[0]!.message}, not "${raw}"`);
  }
  if (problems.length > 0) throw new SettingsError(problems.join('; '));
  return out as Settings;
}
