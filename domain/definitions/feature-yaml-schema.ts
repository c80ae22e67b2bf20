import { z } from 'zod';
import { aggregateFunctions } from '../aggregations/aggregate-field.ts';
import { fromEventsYaml } from '../events/from-events-yaml.ts';
import { aggregationYaml } from '../kinds/aggregation-kind.ts';
import { featureTypes } from '../kinds/feature-kinds.ts';
import { historyYaml } from '../kinds/history-kind.ts';

// The shape of one feature entry in YAML, before the checks that span fields.
// Keys are snake_case as in the seed examples; unknown keys are refused (typos must not pass silently).

const text = z.string();
const duration = z.string();

export const aggregateYaml = z.strictObject({
  function: z.enum(aggregateFunctions),
  of: text.optional(),
  window: text,
  n: z.number().int().min(1).max(100).optional(),
});

export const fieldYaml = z.strictObject({
  type: text.optional(),
  aggregate: aggregateYaml.optional(),
  is_key_field: z.boolean().optional(),
  default_value: z.unknown().optional(),
  description: text.optional(),
  deprecated: z.boolean().optional(),
});

export const upsyncYaml = z.strictObject({
  enabled: z.boolean(),
  incremental_update: z.boolean().optional(),
  source: z.union([z.strictObject({ transform: text }), z.strictObject({ table: text })]).optional(),
  watermark_column: text.optional(),
  schedule: text.optional(),
  max_rows_per_second: z.number().int().positive().optional(),
});

export const downsyncYaml = z.strictObject({
  enabled: z.boolean(),
  min_interval_by_key: duration.optional(),
  random_sampling_ratio: z.number().optional(),
});

export const retentionYaml = z.strictObject({
  online: duration.optional(),
  offline: duration.optional(),
});

export const accessYaml = z.strictObject({
  readers: z.array(text).optional(),
  writers: z.array(text).optional(),
});

export const featureYaml = z.strictObject({
  feature_type: z.enum(featureTypes),
  owner: text,
  description: text.optional(),
  tags: z.array(text).optional(),
  schema: z.record(text, fieldYaml),
  upsync: upsyncYaml.optional(),
  downsync: downsyncYaml.optional(),
  retention: retentionYaml.optional(),
  access: accessYaml.optional(),
  history: historyYaml.optional(),
  aggregation: aggregationYaml.optional(),
  from_events: fromEventsYaml.optional(),
});

export type FeatureYaml = z.infer<typeof featureYaml>;
