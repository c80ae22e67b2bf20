import {
  eventTimeField,
  type FeatureDefinition,
  offlineEventTimeColumn,
} from '../definitions/feature-definition.ts';
import type { FieldType } from '../definitions/field-types.ts';

/**
 * The offline table of a feature whose rows are its values at an event time (Object and History):
 * the keys, the value fields, and the event time as Long ms and as a Timestamp.
 */
export function valuesAtEventTime(def: FeatureDefinition): { name: string; type: FieldType }[] {
  return [
    ...def.fields.map((f) => ({ name: f.name, type: f.type })),
    { name: eventTimeField, type: { kind: 'scalar', scalar: 'Long' } },
    { name: offlineEventTimeColumn, type: { kind: 'scalar', scalar: 'Timestamp' } },
  ];
}
