import type { FieldValue } from '../../domain/values/coerce-value.ts';
import { type CompiledField, copyDefault } from './compiled-feature.ts';
import type { HistoryReadResult, ObjectReadResult } from './online-store.ts';

/** Every requested field at its default: what a key with nothing stored reads as. */
export function defaultValues(fields: readonly CompiledField[]): Record<string, FieldValue> {
  const values: Record<string, FieldValue> = {};
  for (const f of fields) values[f.name] = copyDefault(f.defaultValue);
  return values;
}

export function objectNotFound(fields: readonly CompiledField[]): ObjectReadResult {
  return { found: false, values: defaultValues(fields), lastUpdatedAtMs: null };
}

export function historyNotFound(): HistoryReadResult {
  return { found: false, entries: [] };
}

/**
 * Collects one key's fields while a store walks its stored cells: a live cell that
 * decodes sets the field and counts as found; anything else leaves the default.
 */
export class ObjectResultBuilder {
  values: Record<string, FieldValue> = {};
  found = false;
  lastUpdatedAtMs = -1;

  /** Call once per requested field, in order; `cell` undefined/null means nothing live is stored. */
  add(field: CompiledField, cell: Uint8Array | null | undefined, eventTimeMs: number): void {
    if (cell) {
      const v = field.codec.decode(cell);
      if (v !== undefined) {
        this.values[field.name] = v;
        this.found = true;
        if (eventTimeMs > this.lastUpdatedAtMs) this.lastUpdatedAtMs = eventTimeMs;
        return;
      }
    }
    this.values[field.name] = copyDefault(field.defaultValue);
  }

  result(): ObjectReadResult {
    return {
      found: this.found,
      values: this.values,
      lastUpdatedAtMs: this.found ? this.lastUpdatedAtMs : null,
    };
  }
}
