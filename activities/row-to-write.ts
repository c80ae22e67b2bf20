import { eventTimeField, type FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { describeValue, type FieldType } from '../domain/definitions/field-types.ts';
import { coerceValue } from '../domain/values/coerce-value.ts';
import type { OfflineRow } from '../stores/offline/offline-store.ts';
import type { ObjectWrite } from '../stores/online/online-store.ts';

/** A row ready for the online store (an Object write or a History append: same shape), or why not. */
export type Converted = ObjectWrite | string;

export interface ConvertOptions {
  /** Value fields to take from the row (those the source has). */
  valueFields: readonly string[];
  /** The column holding the event time in epoch ms (`_last_updated_at_ms`, or the watermark). */
  eventTimeColumn: string;
}

/**
 * Builds the checker that turns an offline row into an online write: every key field present and
 * of its type, each value field coerced to its type (NULL clears the field at that event time),
 * and the event time a non-negative integer of epoch milliseconds. Returns the reason instead of
 * the write when the row does not fit; the reason names the field, as dead letters show it.
 */
export function rowConverter(
  def: FeatureDefinition,
  options: ConvertOptions,
): (row: OfflineRow) => Converted {
  const byName = new Map(def.fields.map((f) => [f.name, f]));
  const keys = def.keyFields.map((name) => ({ name, type: byName.get(name)!.type }));
  const values: { name: string; type: FieldType }[] = [];
  for (const name of options.valueFields) {
    const f = byName.get(name);
    if (f && !f.isKey) values.push({ name, type: f.type });
  }
  const timeColumn = options.eventTimeColumn;
  return (row) => {
    const k: Record<string, unknown> = {};
    for (const { name, type } of keys) {
      const raw = row[name];
      if (raw === null || raw === undefined) return `${name}: the key field is NULL`;
      let v: unknown;
      try {
        v = coerceValue(type, raw);
      } catch (e) {
        return `${name}: ${(e as Error).message}`;
      }
      if (v === '') return `${name}: a key must not be empty text`;
      k[name] = v;
    }
    const t = row[timeColumn];
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
      return `${timeColumn}: expected the event time as epoch milliseconds, got ${describeValue(t)}`;
    }
    const vals: Record<string, unknown> = {};
    for (const { name, type } of values) {
      const raw = row[name];
      if (raw === undefined) continue;
      try {
        vals[name] = coerceValue(type, raw);
      } catch (e) {
        return `${name}: ${(e as Error).message}`;
      }
    }
    return { keys: k, values: vals, eventTimeMs: t };
  };
}

/** The event-time column of a source: `_last_updated_at_ms` when it has one, else the watermark. */
export function eventTimeColumnOf(sourceColumns: readonly string[], watermarkColumn: string): string {
  return sourceColumns.includes(eventTimeField) ? eventTimeField : watermarkColumn;
}

/** A page of offline rows converted: the writes (with the row each came from) and the refused rows. */
export interface ConvertedPage<L> {
  writes: ObjectWrite[];
  /** sources[i] is the row writes[i] came from (for a dead letter if the store refuses it). */
  sources: OfflineRow[];
  letters: L[];
}

/** Converts a page; each row that does not fit becomes `refuse(row, reason)`. */
export function convertPage<L>(
  rows: readonly OfflineRow[],
  convert: (row: OfflineRow) => Converted,
  refuse: (row: OfflineRow, reason: string) => L,
): ConvertedPage<L> {
  const out: ConvertedPage<L> = { writes: [], sources: [], letters: [] };
  for (const row of rows) {
    const c = convert(row);
    if (typeof c === 'string') out.letters.push(refuse(row, c));
    else {
      out.writes.push(c);
      out.sources.push(row);
    }
  }
  return out;
}
