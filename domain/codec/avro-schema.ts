import avro from 'avsc';
import type { FeatureDefinition, FieldDefinition } from '../definitions/feature-definition.ts';
import { eventTimeField } from '../definitions/feature-definition.ts';
import type { FieldType, ScalarType } from '../definitions/field-types.ts';

type AvroSchema = avro.Schema;

const scalarAvro: Record<ScalarType, AvroSchema> = {
  Text: 'string',
  Long: 'long',
  Int: 'int',
  Double: 'double',
  Float: 'float',
  Boolean: 'boolean',
  Timestamp: { type: 'long', logicalType: 'timestamp-millis' } as AvroSchema,
  Bytes: 'bytes',
};

/** The Avro type of one field's value (not nullable). */
export function fieldAvroType(type: FieldType): AvroSchema {
  return type.kind === 'scalar' ? scalarAvro[type.scalar] : { type: 'array', items: scalarAvro[type.item] };
}

function avroName(def: FeatureDefinition): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
  return `ferry.${clean(def.namespace)}.${clean(def.baseName)}${def.version !== undefined ? `_v${def.version}` : ''}`;
}

function avroField(f: FieldDefinition): Record<string, unknown> {
  // every value field is nullable with a null default, so a reader with a newer schema
  // resolves values written before a field existed; Ferry fills the definition's default itself
  return {
    name: f.name,
    type: ['null', fieldAvroType(f.type)],
    default: null,
    ...(f.description ? { doc: f.description } : {}),
  };
}

/** The Avro record schema of a feature's value fields (keys excluded) plus the event time. */
export function valueRecordSchema(def: FeatureDefinition): AvroSchema {
  return {
    type: 'record',
    name: avroName(def),
    fields: [
      ...def.fields.filter((f) => !f.isKey).map(avroField),
      { name: eventTimeField, type: 'long', default: 0 },
    ],
  } as AvroSchema;
}

/** A short, stable identifier of an Avro schema: the first 16 hex digits of its SHA-256 fingerprint. */
export function schemaFingerprint(schema: AvroSchema): string {
  return avro.Type.forSchema(schema).fingerprint('sha256').toString('hex').slice(0, 16);
}
