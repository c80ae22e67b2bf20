import { z } from 'zod';
import { parseDuration } from '../definitions/duration.ts';
import {
  eventTimeField,
  type FeatureDefinition,
  offlineEventTimeColumn,
} from '../definitions/feature-definition.ts';
import type { FieldType } from '../definitions/field-types.ts';
import type { FeatureKind } from './feature-kind.ts';

/** The `aggregation:` block of an Aggregation feature. */
export const aggregationYaml = z.strictObject({
  allowed_lateness: z.string().optional(),
});

export const defaultLatenessMs = 3_600_000;

/**
 * An Aggregation feature: fields that aggregate the events of a key over sliding windows
 * (count, sum, avg, min, max, last, approximate distinct count, last distinct values; from
 * seconds to 400 days, or lifetime), exact as of the read. Its other value fields are the inputs
 * the events carry; each event is an APPEND (from rules or commands).
 */
export const aggregationKind = {
  name: 'Aggregation',
  storageTag: 'a',
  onlineLayout: 'aggregates',
  writeMethod: 'APPEND',
  needsValueField: true,
  ownBlocks: {
    aggregation: 'only Aggregation features aggregate; remove this block or use feature_type: Aggregation',
  },
  // the values as served at the event time of each downsynced event (inputs are not columns)
  offlineColumns: (def: FeatureDefinition): { name: string; type: FieldType }[] => [
    ...def.fields.filter((f) => f.isKey || f.aggregate).map((f) => ({ name: f.name, type: f.type })),
    { name: eventTimeField, type: { kind: 'scalar', scalar: 'Long' } },
    { name: offlineEventTimeColumn, type: { kind: 'scalar', scalar: 'Timestamp' } },
  ],
  build: (raw, problem) => {
    const block = raw.aggregation as z.infer<typeof aggregationYaml> | undefined;
    let latenessMs = defaultLatenessMs;
    if (block?.allowed_lateness !== undefined) {
      const ms = parseDuration(block.allowed_lateness);
      if (ms === undefined || ms > 7 * 86_400_000)
        problem(
          ['aggregation', 'allowed_lateness'],
          `expected a duration up to 7d such as 30s, 10m or 1h, got "${block.allowed_lateness}"`,
        );
      else latenessMs = ms;
    }
    return { aggregation: { latenessMs } };
  },
} as const satisfies FeatureKind;
