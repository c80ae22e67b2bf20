import { createHash } from 'node:crypto';
import { defaultHistoryMaxEntries, eventTimeField } from '../../domain/definitions/feature-definition.ts';
import { describeValue } from '../../domain/definitions/field-types.ts';
import type { OnlineLayout } from '../../domain/kinds/feature-kind.ts';
import { kindsKeptAs, layoutOf } from '../../domain/kinds/feature-kinds.ts';
import { coerceValue } from '../../domain/values/coerce-value.ts';
import type { CompiledFeature, CompiledField } from './compiled-feature.ts';
import {
  type HistoryAppend,
  type KeyDelete,
  type KeyValues,
  type ObjectWrite,
  OnlineStoreInputError,
} from './online-store.ts';

/**
 * Validates and encodes a whole call's input before anything is written, so a bad item
 * refuses the call with an OnlineStoreInputError naming the field and nothing changes.
 */

/** The key values in the definition's key-field order (Text as string, Long/Int as number). */
export type KeyTuple = (string | number)[];

/** One field of a write: its encoded cell, or null to clear the field. */
export interface PreparedCell {
  field: CompiledField;
  bytes: Buffer | null;
}

export interface PreparedWrite {
  key: KeyTuple;
  eventTimeMs: number;
  /** In definition order. */
  cells: PreparedCell[];
}

export interface PreparedAppend extends PreparedWrite {
  /** Identifies the entry among those of the same key and event time: equal content, equal hash. */
  entryHash: string;
}

export interface PreparedDelete {
  key: KeyTuple;
  eventTimeMs: number;
}

/** Which value fields the store can hold for this feature (fields added by ensureFeature). */
export type StoredFieldCheck = (field: string) => boolean;

const feature_name = 'feature_name';
/** Longest Text key value: LMDB keys are at most 1,978 bytes, Cassandra partition keys 64 KiB. */
export const maxKeyTextBytes = 512;

/** The refusal of item `i` of a call of `count` items names it (OnlineStoreInputError.item). */
function refusedItem(e: unknown, i: number, count: number): unknown {
  return e instanceof OnlineStoreInputError && e.item === undefined ? e.atItem(i, count) : e;
}

/** Keys of a read, coerced; throws naming the first bad key field. */
export function prepareKeys(feature: CompiledFeature, keys: readonly KeyValues[]): KeyTuple[] {
  const out: KeyTuple[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    try {
      out[i] = prepareKey(feature, keys[i]!);
    } catch (e) {
      throw refusedItem(e, i, keys.length);
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Checks that the feature's kind is kept in `layout`; the field named is `feature_type`. */
export function requireLayout(feature: CompiledFeature, layout: OnlineLayout): void {
  if (layoutOf(feature.def) !== layout) {
    throw new OnlineStoreInputError(
      feature.name,
      'feature_type',
      `is ${feature.def.featureType}, this operation is for ${kindsKeptAs(layout)} features`,
    );
  }
}

/** Thrown when the store holds nothing for the feature (ensureFeature / `ferry apply` never ran). */
export function unknownFeature(name: string): OnlineStoreInputError {
  return new OnlineStoreInputError(
    name,
    feature_name,
    'unknown feature: the online store has no table for it (run ferry apply)',
  );
}

/** Coerces one entity key; throws naming the missing, unknown or badly typed key field. */
export function prepareKey(feature: CompiledFeature, keys: KeyValues): KeyTuple {
  if (!isPlainObject(keys)) {
    throw new OnlineStoreInputError(
      feature.name,
      'keys',
      `expected a map of key field to value, got ${describeValue(keys)}`,
    );
  }
  const kf = feature.keyFields;
  const out: KeyTuple = new Array(kf.length);
  for (let i = 0; i < kf.length; i++) {
    const { name, type } = kf[i]!;
    const raw = keys[name];
    if (raw === undefined || raw === null) {
      throw new OnlineStoreInputError(feature.name, name, `missing key field`);
    }
    let v: unknown;
    try {
      v = coerceValue(type, raw);
    } catch (e) {
      throw new OnlineStoreInputError(feature.name, name, `${(e as Error).message}`);
    }
    if (typeof v === 'string') {
      if (v === '') throw new OnlineStoreInputError(feature.name, name, `a key must not be empty text`);
      if (v.length > maxKeyTextBytes / 3 && Buffer.byteLength(v) > maxKeyTextBytes) {
        throw new OnlineStoreInputError(
          feature.name,
          name,
          `a key must be at most ${maxKeyTextBytes} bytes of UTF-8`,
        );
      }
    }
    out[i] = v as string | number;
  }
  for (const name in keys) {
    if (keys[name] === undefined) continue;
    let known = false;
    for (let i = 0; i < kf.length; i++) if (kf[i]!.name === name) known = true;
    if (!known) throw new OnlineStoreInputError(feature.name, name, `not a key field of the feature`);
  }
  return out;
}

export function prepareEventTime(feature: CompiledFeature, t: unknown): number {
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
    throw new OnlineStoreInputError(
      feature.name,
      eventTimeField,
      `expected the event time as epoch milliseconds (a non-negative integer), got ${describeValue(t)}`,
    );
  }
  return t;
}

function prepareCells(
  feature: CompiledFeature,
  values: Record<string, unknown>,
  eventTimeMs: number,
  stored: StoredFieldCheck | undefined,
  keepNulls: boolean,
): PreparedCell[] {
  if (!isPlainObject(values)) {
    throw new OnlineStoreInputError(
      feature.name,
      'values',
      `expected a map of field to value, got ${describeValue(values)}`,
    );
  }
  for (const name in values) {
    if (feature.byName.has(name)) continue;
    if (name === eventTimeField) {
      // the command shape carries the event time among the values; it must agree
      if (values[name] === eventTimeMs || values[name] === undefined) continue;
      throw new OnlineStoreInputError(
        feature.name,
        name,
        `differs from the write's event time (${describeValue(values[name])} vs ${eventTimeMs})`,
      );
    }
    const isKey = feature.keyFields.some((k) => k.name === name);
    throw new OnlineStoreInputError(
      feature.name,
      name,
      isKey ? 'is a key field; pass it in keys' : 'no such value field in the definition',
    );
  }
  const cells: PreparedCell[] = [];
  for (const field of feature.valueFields) {
    const raw = values[field.name];
    if (raw === undefined) continue;
    if (stored && !stored(field.name)) {
      throw new OnlineStoreInputError(
        feature.name,
        field.name,
        `the online store has no place for this field yet (run ferry apply)`,
      );
    }
    let v: ReturnType<typeof coerceValue>;
    try {
      v = coerceValue(field.type, raw);
    } catch (e) {
      throw new OnlineStoreInputError(feature.name, field.name, `${(e as Error).message}`);
    }
    if (v === null) {
      if (keepNulls) cells.push({ field, bytes: null });
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = field.codec.encode(v);
    } catch (e) {
      // avsc's long stops at ±(2^53 − 2), one short of what coerceValue accepts
      throw new OnlineStoreInputError(
        feature.name,
        field.name,
        `cannot be Avro-encoded: ${(e as Error).message}`,
      );
    }
    cells.push({ field, bytes });
  }
  return cells;
}

export function prepareObjectWrites(
  feature: CompiledFeature,
  writes: readonly ObjectWrite[],
  stored?: StoredFieldCheck,
): PreparedWrite[] {
  requireLayout(feature, 'row');
  return writes.map((w, i) => {
    try {
      const key = prepareKey(feature, w.keys);
      const eventTimeMs = prepareEventTime(feature, w.eventTimeMs);
      return { key, eventTimeMs, cells: prepareCells(feature, w.values, eventTimeMs, stored, true) };
    } catch (e) {
      throw refusedItem(e, i, writes.length);
    }
  });
}

function entryHash(cells: readonly PreparedCell[]): string {
  const h = createHash('sha256');
  const sorted = cells.length > 1 ? [...cells].sort((a, b) => (a.field.name < b.field.name ? -1 : 1)) : cells;
  for (const c of sorted) {
    h.update(c.field.name);
    h.update('\0');
    h.update(c.bytes!);
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

export function prepareHistoryAppends(
  feature: CompiledFeature,
  entries: readonly HistoryAppend[],
  stored?: StoredFieldCheck,
): PreparedAppend[] {
  requireLayout(feature, 'entries');
  const out: PreparedAppend[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    try {
      const key = prepareKey(feature, entry.keys);
      const eventTimeMs = prepareEventTime(feature, entry.eventTimeMs);
      const cells = prepareCells(feature, entry.values, eventTimeMs, stored, false);
      out[i] = { key, eventTimeMs, cells, entryHash: entryHash(cells) };
    } catch (e) {
      throw refusedItem(e, i, entries.length);
    }
  }
  return out;
}

export function prepareDeletes(feature: CompiledFeature, deletes: readonly KeyDelete[]): PreparedDelete[] {
  const out: PreparedDelete[] = new Array(deletes.length);
  for (let i = 0; i < deletes.length; i++) {
    const d = deletes[i]!;
    try {
      out[i] = { key: prepareKey(feature, d.keys), eventTimeMs: prepareEventTime(feature, d.eventTimeMs) };
    } catch (e) {
      throw refusedItem(e, i, deletes.length);
    }
  }
  return out;
}

/** The limit of a History read: the requested one, never above the definition's maximum. */
export function historyLimit(feature: CompiledFeature, limit: number | undefined): number {
  const max = feature.def.maxEntriesPerKey ?? defaultHistoryMaxEntries;
  if (limit === undefined) return max;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new OnlineStoreInputError(
      feature.name,
      'limit',
      `expected a non-negative integer, got ${describeValue(limit)}`,
    );
  }
  return Math.min(limit, max);
}
