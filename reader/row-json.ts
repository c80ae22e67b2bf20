import { type FieldValue, valueToJson } from '../domain/values/coerce-value.ts';
import type { HistoryReadResult, ObjectReadResult } from '../stores/online/online-store.ts';
import type { ServedFeature } from './served-features.ts';

/** One History entry in JSON form, with its serialised text. */
export interface RowEntry {
  values: Record<string, unknown>;
  eventTimeMs: number;
  json: string;
}

/**
 * One key's value as the reader keeps and serves it: converted to JSON form once per
 * store read (the store has already Avro-decoded it and filled the defaults), with the
 * serialised row kept beside it as UTF-8 bytes. A response is those bytes copied once into
 * one buffer: no string is built, flattened or re-encoded per request (uWS would otherwise
 * convert every response string to UTF-8 itself).
 */
export interface CachedRow {
  found: boolean;
  lastUpdatedAtMs: number | null;
  /** Object features: every value field read, in JSON form. */
  values: Record<string, unknown> | null;
  /** History features: the entries read, newest first. */
  entries: RowEntry[] | null;
  /** `{"found":…,"values":{…},"_last_updated_at_ms":…}` (History: `"entries":[…]` instead of values), UTF-8. */
  body: Buffer;
  /** Approximate memory held by the row (its bytes and the decoded values). */
  bytes: number;
}

function jsonValues(feature: ServedFeature, stored: Record<string, FieldValue>): Record<string, unknown> {
  if (feature.valuesAreJson) return stored;
  const out: Record<string, unknown> = {};
  for (const name in stored) {
    const f = feature.valueFieldByName.get(name);
    const v = stored[name]!;
    out[name] = f ? valueToJson(f.type, v) : v;
  }
  return out;
}

const estimate = (body: Buffer) => 3 * body.length + 200;

function objectJson(found: boolean, values: Record<string, unknown>, lastUpdatedAtMs: number | null): string {
  return `{"found":${found},"values":${JSON.stringify(values)},"_last_updated_at_ms":${lastUpdatedAtMs ?? 'null'}}`;
}

export function objectRow(feature: ServedFeature, r: ObjectReadResult): CachedRow {
  const values = jsonValues(feature, r.values);
  const body = Buffer.from(objectJson(r.found, values, r.lastUpdatedAtMs));
  return {
    found: r.found,
    lastUpdatedAtMs: r.lastUpdatedAtMs,
    values,
    entries: null,
    body,
    bytes: estimate(body),
  };
}

function entryJson(values: Record<string, unknown>, eventTimeMs: number): string {
  return `{"values":${JSON.stringify(values)},"_last_updated_at_ms":${eventTimeMs}}`;
}

function historyJson(found: boolean, entries: readonly RowEntry[]): string {
  let body = '';
  for (let i = 0; i < entries.length; i++) body += i === 0 ? entries[i]!.json : `,${entries[i]!.json}`;
  const last = entries.length > 0 ? entries[0]!.eventTimeMs : 'null';
  return `{"found":${found},"entries":[${body}],"_last_updated_at_ms":${last}}`;
}

export function historyRow(feature: ServedFeature, r: HistoryReadResult): CachedRow {
  const entries = r.entries.map((e) => {
    const values = jsonValues(feature, e.values);
    return { values, eventTimeMs: e.eventTimeMs, json: entryJson(values, e.eventTimeMs) };
  });
  const body = Buffer.from(historyJson(r.found, entries));
  const lastUpdatedAtMs = entries.length > 0 ? entries[0]!.eventTimeMs : null;
  return { found: r.found, lastUpdatedAtMs, values: null, entries, body, bytes: estimate(body) };
}

/** A row back from its JSON text (the shared Redis cache keeps only the text). */
export function rowFromJson(feature: ServedFeature, json: string): CachedRow {
  const o = JSON.parse(json) as {
    found: boolean;
    values?: Record<string, unknown>;
    entries?: { values: Record<string, unknown>; _last_updated_at_ms: number }[];
    _last_updated_at_ms: number | null;
  };
  const body = Buffer.from(json);
  if (feature.isHistory) {
    const entries = (o.entries ?? []).map((e) => ({
      values: e.values,
      eventTimeMs: e._last_updated_at_ms,
      json: entryJson(e.values, e._last_updated_at_ms),
    }));
    return {
      found: o.found,
      lastUpdatedAtMs: o._last_updated_at_ms,
      values: null,
      entries,
      body,
      bytes: estimate(body),
    };
  }
  const values = o.values ?? {};
  return {
    found: o.found,
    lastUpdatedAtMs: o._last_updated_at_ms,
    values,
    entries: null,
    body,
    bytes: estimate(body),
  };
}

function pick(values: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = values[f] ?? null;
  return out;
}

const staleTail = Buffer.from(',"stale":true}');

/**
 * The row as a lookup returns it: only `fields` when given (in that order), at most `limit`
 * History entries, and `"stale":true` when it was served past its freshness. Without
 * projection, limit or stale mark this is the cached bytes themselves.
 */
export function renderRow(
  row: CachedRow,
  fields: readonly string[] | undefined,
  limit: number | undefined,
  stale: boolean,
): Buffer {
  let body: Buffer;
  if (row.entries === null) {
    body =
      fields === undefined
        ? row.body
        : Buffer.from(objectJson(row.found, pick(row.values ?? {}, fields), row.lastUpdatedAtMs));
  } else if (fields === undefined && (limit === undefined || limit >= row.entries.length)) {
    body = row.body;
  } else {
    const kept = limit === undefined ? row.entries : row.entries.slice(0, limit);
    body = Buffer.from(
      historyJson(
        row.found,
        fields === undefined
          ? kept
          : kept.map((e) => {
              const values = pick(e.values, fields);
              return { values, eventTimeMs: e.eventTimeMs, json: entryJson(values, e.eventTimeMs) };
            }),
      ),
    );
  }
  return stale ? Buffer.concat([body.subarray(0, body.length - 1), staleTail]) : body;
}
