import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { FieldType } from '../../domain/definitions/field-types.ts';
import { coerceValue, type FieldValue } from '../../domain/values/coerce-value.ts';
import { CellCodec } from './cell-codec.ts';
import { OnlineStoreInputError } from './online-store.ts';

/** A value field of a feature, ready for the online stores. */
export interface CompiledField {
  name: string;
  type: FieldType;
  codec: CellCodec;
  /** The definition's default in the in-memory form (null when it has none). */
  defaultValue: FieldValue;
}

/** What both online stores need from a definition, computed once per definition object. */
export interface CompiledFeature {
  def: FeatureDefinition;
  name: string;
  keyFields: { name: string; type: FieldType }[];
  valueFields: CompiledField[];
  byName: Map<string, CompiledField>;
  /** Online retention in milliseconds, undefined when values never expire. */
  retentionMs: number | undefined;
  /** Projections seen so far (field list joined by ',' → fields), all fields under ''. */
  projections: Map<string, CompiledField[]>;
}

const compiled = new WeakMap<FeatureDefinition, CompiledFeature>();

/** The compiled form of `def`, cached per definition object. */
export function compileFeature(def: FeatureDefinition): CompiledFeature {
  let c = compiled.get(def);
  if (c) return c;
  const valueFields: CompiledField[] = def.fields
    .filter((f) => !f.isKey)
    .map((f) => {
      let defaultValue: FieldValue = null;
      try {
        defaultValue = coerceValue(f.type, f.defaultValue);
      } catch {
        // a definition that passed validation always has a coercible default
      }
      return { name: f.name, type: f.type, codec: new CellCodec(f.type), defaultValue };
    });
  const retention = def.retention.onlineMs;
  c = {
    def,
    name: def.name,
    keyFields: def.keyFields.map((name) => ({ name, type: def.fields.find((f) => f.name === name)!.type })),
    valueFields,
    byName: new Map(valueFields.map((f) => [f.name, f])),
    retentionMs: retention !== undefined && retention > 0 ? retention : undefined,
    projections: new Map([['', valueFields]]),
  };
  compiled.set(def, c);
  return c;
}

/** The value fields a read returns, in request order; throws naming an unknown field. */
export function projectFields(
  feature: CompiledFeature,
  fields: readonly string[] | undefined,
): CompiledField[] {
  if (fields === undefined) return feature.valueFields;
  if (fields.length === 0) return [];
  const id = fields.join(',');
  let out = feature.projections.get(id);
  if (out) return out;
  out = fields.map((name) => {
    const f = feature.byName.get(name);
    if (f) return f;
    const isKey = feature.keyFields.some((k) => k.name === name);
    throw new OnlineStoreInputError(
      feature.name,
      name,
      isKey ? 'is a key field, not a value field' : 'no such value field in the definition',
    );
  });
  if (feature.projections.size < 256) feature.projections.set(id, out);
  return out;
}

/** A fresh copy of a default, so callers may change what they get back. */
export function copyDefault(value: FieldValue): FieldValue {
  if (Array.isArray(value)) return value.slice();
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  return value;
}

/** True when a value with this event time is past the feature's online retention at `nowMs`. */
export function isExpired(feature: CompiledFeature, eventTimeMs: number, nowMs: number): boolean {
  return feature.retentionMs !== undefined && eventTimeMs + feature.retentionMs <= nowMs;
}
