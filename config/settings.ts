/**
 * Every setting Ferry reads, with its environment variable and default. The README's
 * configuration reference is this table; `ferry config` prints the values in force.
 */
export interface SettingSpec {
  env: string;
  default: string;
  description: string;
}

export const settingSpecs = {
  dataDir: {
    env: 'FERRY_DATA_DIR',
    default: '.ferry',
    description: 'Folder of the embedded stores (LMDB, DuckDB)',
  },
  featuresDir: { env: 'FERRY_FEATURES_DIR', default: 'features', description: 'Folder of feature YAML' },
  sqlDir: { env: 'FERRY_SQL_DIR', default: 'sql', description: 'Folder of SQL transforms' },
  onlineStore: {
    env: 'FERRY_ONLINE_STORE',
    default: 'embedded',
    description: 'Online store: embedded (LMDB) or cassandra',
  },
  cassandraContactPoints: {
    env: 'FERRY_CASSANDRA_CONTACT_POINTS',
    default: '127.0.0.1:9042',
    description: 'Comma-separated host:port of Cassandra/ScyllaDB nodes',
  },
  cassandraLocalDc: {
    env: 'FERRY_CASSANDRA_LOCAL_DC',
    default: 'datacenter1',
    description: 'Local data centre for the driver',
  },
  cassandraKeyspace: {
    env: 'FERRY_CASSANDRA_KEYSPACE',
    default: 'ferry',
    description: 'Keyspace of the online tables',
  },
  cassandraReplication: {
    env: 'FERRY_CASSANDRA_REPLICATION',
    default: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    description: 'Replication map used when `ferry apply` creates the keyspace',
  },
  cassandraConsistency: {
    env: 'FERRY_CASSANDRA_CONSISTENCY',
    default: 'LOCAL_QUORUM',
    description: 'Consistency of reads and writes (ONE for a single local node)',
  },
  cassandraKeysPerRead: {
    env: 'FERRY_CASSANDRA_KEYS_PER_READ',
    default: '20',
    description: 'Keys per `IN` select of a many-key read (single-column keys; 1: one select per key)',
  },
  cassandraUsername: {
    env: 'FERRY_CASSANDRA_USERNAME',
    default: '',
    description: 'Username (empty: no authentication)',
  },
  cassandraPassword: { env: 'FERRY_CASSANDRA_PASSWORD', default: '', description: 'Password' },
  offlineStore: {
    env: 'FERRY_OFFLINE_STORE',
    default: 'duckdb',
    description: 'Offline store: duckdb or bigquery',
  },
  duckdbMemoryLimit: {
    env: 'FERRY_DUCKDB_MEMORY_LIMIT',
    default: '64MB',
    description:
      "DuckDB's working memory in the embedded offline store (beyond it DuckDB spills to disk), e.g. 32MB, 1GB",
  },
  bigqueryProject: {
    env: 'FERRY_BIGQUERY_PROJECT',
    default: 'ferry-local',
    description: 'BigQuery project id',
  },
  bigqueryDataset: {
    env: 'FERRY_BIGQUERY_DATASET',
    default: 'ferry',
    description: 'Dataset of Ferry tables',
  },
  bigqueryLocation: { env: 'FERRY_BIGQUERY_LOCATION', default: 'US', description: 'Dataset location' },
  bigqueryEndpoint: {
    env: 'FERRY_BIGQUERY_ENDPOINT',
    default: '',
    description: 'API endpoint; set to the emulator (http://127.0.0.1:9050) to skip Google credentials',
  },
  bigqueryReadApi: {
    env: 'FERRY_BIGQUERY_READ_API',
    default: 'storage',
    description:
      'How incremental reads (upsync) fetch a query result: storage (Storage Read API, Arrow over gRPC) or rest (jobs.getQueryResults pages)',
  },
  bigqueryStorageEndpoint: {
    env: 'FERRY_BIGQUERY_STORAGE_ENDPOINT',
    default: '',
    description:
      'host:port of the Storage Read API (empty: the emulator host with port 9060 when FERRY_BIGQUERY_ENDPOINT is set, else bigquerystorage.googleapis.com:443)',
  },
  temporalAddress: {
    env: 'FERRY_TEMPORAL_ADDRESS',
    default: '127.0.0.1:7233',
    description: 'Temporal frontend host:port',
  },
  temporalNamespace: {
    env: 'FERRY_TEMPORAL_NAMESPACE',
    default: 'default',
    description: 'Temporal namespace',
  },
  temporalTaskQueue: {
    env: 'FERRY_TEMPORAL_TASK_QUEUE',
    default: 'ferry',
    description: 'Task queue of Ferry workers',
  },
  workerHeapSoftLimitMb: {
    env: 'FERRY_WORKER_HEAP_SOFT_LIMIT_MB',
    default: '96',
    description:
      'V8 heap size above which bulk copies (upsync, backfill) collect garbage at a page boundary (0: off)',
  },
  kafkaBrokers: {
    env: 'FERRY_KAFKA_BROKERS',
    default: '',
    description: 'Comma-separated brokers (empty: no Kafka)',
  },
  kafkaCommandsTopic: {
    env: 'FERRY_KAFKA_COMMANDS_TOPIC',
    default: 'ferry.commands',
    description: 'Topic of feature commands',
  },
  redisUrl: {
    env: 'FERRY_REDIS_URL',
    default: '',
    description: 'Shared cache (empty: in-process cache only)',
  },
  readerPort: { env: 'FERRY_READER_PORT', default: '8080', description: 'Port of the read API' },
  readerHost: { env: 'FERRY_READER_HOST', default: '127.0.0.1', description: 'Address the read API binds' },
  tokensFile: {
    env: 'FERRY_TOKENS_FILE',
    default: 'tokens.yaml',
    description: 'Token hashes mapped to service names',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof settingSpecs;
export type Settings = { [K in SettingName]: string };

/** Reads every setting from the environment, falling back to its default. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const out = {} as Settings;
  for (const [name, spec] of Object.entries(settingSpecs) as [SettingName, SettingSpec][]) {
    out[name] = env[spec.env] ?? spec.default;
  }
  return out;
}
