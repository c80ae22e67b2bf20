import type { AggregateField } from '../aggregations/aggregate-field.ts';
import type { FromEventsSettings } from '../events/event-rules.ts';
import type { FeatureType } from '../kinds/feature-kinds.ts';
import type { FieldType } from './field-types.ts';

export type { FeatureType };

export interface FieldDefinition {
  name: string;
  type: FieldType;
  isKey: boolean;
  /** The default filled in for a missing value; undefined for key fields and fields without one (null). */
  defaultValue: unknown;
  description: string;
  deprecated: boolean;
  /** Aggregation features: what the field aggregates (absent for keys and inputs). */
  aggregate?: Omit<AggregateField, 'name'>;
}

export interface UpsyncSettings {
  enabled: boolean;
  incremental: boolean;
  /** Where rows come from: a transform in `sql/` whose destination is read, or a table. */
  source: { kind: 'transform'; transform: string } | { kind: 'table'; table: string };
  watermarkColumn: string;
  /** Cron expression of the Temporal Schedule, if the upsync runs on its own. */
  schedule?: string;
  /** Throughput limit: rows written to the online store per second (undefined: unlimited). */
  maxRowsPerSecond?: number;
}

export interface DownsyncSettings {
  enabled: boolean;
  minIntervalByKeyMs: number;
  randomSamplingRatio: number;
}

export interface RetentionSettings {
  onlineMs?: number;
  offlineMs?: number;
}

export interface AccessSettings {
  /** Services that may read; `*` means every authenticated service. */
  readers: string[];
  /** Services that may write (push endpoint, Kafka commands with a producer header). */
  writers: string[];
}

/** A validated, normalised feature definition. */
export interface FeatureDefinition {
  /** Full name, e.g. `live::hakuna-host-stat-v1`. */
  name: string;
  namespace: string;
  /** Name without namespace or version, e.g. `hakuna-host-stat`. */
  baseName: string;
  /** The `-vN` suffix as a number, when present. */
  version?: number;
  featureType: FeatureType;
  owner: string;
  description: string;
  tags: string[];
  /** Fields in the order the YAML lists them. */
  fields: FieldDefinition[];
  keyFields: string[];
  upsync?: UpsyncSettings;
  downsync?: DownsyncSettings;
  retention: RetentionSettings;
  access: AccessSettings;
  /** History features: the most entries kept per key. */
  maxEntriesPerKey?: number;
  /** Aggregation features: how late an event may arrive (older than the key's newest by more: a dead letter). */
  aggregation?: { latenessMs: number };
  /** Fed straight from domain events by rules (`from_events`), beside commands and upsync. */
  fromEvents?: FromEventsSettings;
  /** Where it was defined. */
  origin: { file: string; line: number };
}

export const defaultHistoryMaxEntries = 100;
export const defaultWatermarkColumn = '_last_updated_at_ms';
export const eventTimeField = '_last_updated_at_ms';
/** The id of an event (Aggregation features count each id once), among a command's values. */
export const eventIdField = '_event_id';
/** The event time as a Timestamp column of a feature's offline table (beside eventTimeField in ms). */
export const offlineEventTimeColumn = '_event_time';

export function fieldOf(def: FeatureDefinition, name: string): FieldDefinition | undefined {
  return def.fields.find((f) => f.name === name);
}

/** The table a feature's upsync reads by default: namespace and name with non-word characters as `_`. */
export function defaultSourceTable(name: string): string {
  return name.replace(/::/g, '__').replace(/[^A-Za-z0-9_]/g, '_');
}
