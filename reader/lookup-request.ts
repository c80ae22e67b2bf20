import { describeValue } from '../domain/definitions/field-types.ts';
import { coerceValue } from '../domain/values/coerce-value.ts';
import type { KeyValues } from '../stores/online/online-store.ts';
import { ApiError, badRequest } from './api-error.ts';
import type { KeyRef } from './feature-reader.ts';
import type { KeyId } from './row-cache.ts';
import type { ServedFeature } from './served-features.ts';

/** One item of a lookup as sent, checked for shape only (the feature is not resolved yet). */
export interface RawLookupItem {
  feature: string;
  keys: unknown[];
  fields: string[] | undefined;
  limit: number | undefined;
  /** Where the item is in the body, for error fields: `requests[2]` (or '' for the one-item form). */
  path: string;
}

/** A lookup item bound to its feature: keys coerced, projection and limit checked. */
export interface LookupItem {
  feature: ServedFeature;
  keys: KeyRef[];
  fields: string[] | undefined;
  limit: number | undefined;
}

const itemProps = new Set(['feature', 'keys', 'fields', 'limit']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const at = (path: string, name: string) => (path === '' ? name : `${path}.${name}`);

export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, 'invalid_json', `the body is not valid JSON: ${(e as Error).message}`);
  }
}

function shapeItem(v: unknown, path: string): RawLookupItem {
  if (!isRecord(v))
    throw badRequest(
      `expected an object {feature, keys, fields?, limit?}, got ${describeValue(v)}`,
      path || undefined,
    );
  for (const k in v)
    if (!itemProps.has(k))
      throw badRequest(`unknown property "${k}" (expected feature, keys, fields, limit)`, at(path, k));
  const { feature, keys, fields, limit } = v;
  if (typeof feature !== 'string' || feature === '') {
    throw badRequest(`expected a feature name, got ${describeValue(feature)}`, at(path, 'feature'));
  }
  if (!Array.isArray(keys) || keys.length === 0) {
    throw badRequest(`expected a non-empty list of keys, got ${describeValue(keys)}`, at(path, 'keys'));
  }
  if (fields !== undefined) {
    if (!Array.isArray(fields))
      throw badRequest(`expected a list of field names, got ${describeValue(fields)}`, at(path, 'fields'));
    fields.forEach((f, j) => {
      if (typeof f !== 'string' || f === '')
        throw badRequest(`expected a field name, got ${describeValue(f)}`, at(path, `fields[${j}]`));
    });
  }
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
    throw badRequest(`expected a positive integer, got ${describeValue(limit)}`, at(path, 'limit'));
  }
  return { feature, keys, fields: fields as string[] | undefined, limit: limit as number | undefined, path };
}

/**
 * Checks the shape of a lookup body: `{"requests": [{feature, keys, fields?, limit?}, ...]}`
 * or one item alone `{feature, keys, fields?, limit?}`. Throws 400 naming the field at
 * fault, and 400 too_many_keys when the items hold more than `maxKeys` keys together.
 */
export function parseLookupBody(text: string, maxKeys: number): RawLookupItem[] {
  const body = parseJsonBody(text);
  if (!isRecord(body))
    throw badRequest(`expected an object {"requests": [...]}, got ${describeValue(body)}`, 'requests');
  let items: RawLookupItem[];
  if ('requests' in body) {
    for (const k in body)
      if (k !== 'requests') throw badRequest(`unknown property "${k}" beside requests`, k);
    const list = body.requests;
    if (!Array.isArray(list) || list.length === 0) {
      throw badRequest(
        `expected a non-empty list of {feature, keys}, got ${describeValue(list)}`,
        'requests',
      );
    }
    items = list.map((v, i) => shapeItem(v, `requests[${i}]`));
  } else {
    items = [shapeItem(body, '')];
  }
  let total = 0;
  for (const it of items) total += it.keys.length;
  if (total > maxKeys) {
    throw new ApiError(
      400,
      'too_many_keys',
      `${total} keys in one request; at most ${maxKeys}`,
      items.length === 1 && items[0]!.path === '' ? 'keys' : 'requests',
    );
  }
  return items;
}

function keyPart(v: unknown): string | number {
  return typeof v === 'string' || typeof v === 'number'
    ? v
    : Buffer.isBuffer(v)
      ? `b:${v.toString('base64')}`
      : String(v);
}

/**
 * The id of a key within its feature (cache keys): the value itself for one key field (a
 * number stays a number: cheap to hash), a JSON list for several.
 */
export function keyId(feature: ServedFeature, values: KeyValues): KeyId {
  if (feature.keyFields.length === 1) return keyPart(values[feature.keyFields[0]!.name]);
  return JSON.stringify(feature.keyFields.map((k) => keyPart(values[k.name])));
}

function coerceKey(feature: ServedFeature, name: string, raw: unknown, field: string): unknown {
  if (raw === null || raw === undefined) throw badRequest('missing key value', field);
  if (typeof raw === 'object' && !Buffer.isBuffer(raw))
    throw badRequest(`expected a key value, got ${describeValue(raw)}`, field);
  const type = feature.keyFields.find((k) => k.name === name)!.type;
  // the common key types, without the general conversion
  if (type.kind === 'scalar') {
    if (type.scalar === 'Long' && Number.isSafeInteger(raw)) return raw;
    if (type.scalar === 'Text' && typeof raw === 'string') return raw;
  }
  try {
    return coerceValue(type, raw);
  } catch (e) {
    throw badRequest((e as Error).message, field);
  }
}

/** Binds one key (a map of key fields, or a bare value when the feature has one key field). */
export function bindKey(feature: ServedFeature, raw: unknown, path: string): KeyRef {
  const values: KeyValues = {};
  if (isRecord(raw)) {
    for (const given in raw) {
      if (!feature.keyFields.some((k) => k.name === given)) {
        throw badRequest(
          `not a key field of ${feature.name} (key fields: ${feature.keyFields.map((k) => k.name).join(', ')})`,
          `${path}.${given}`,
        );
      }
    }
    for (const k of feature.keyFields)
      values[k.name] = coerceKey(feature, k.name, raw[k.name], `${path}.${k.name}`);
  } else if (feature.keyFields.length === 1) {
    const k = feature.keyFields[0]!;
    values[k.name] = coerceKey(feature, k.name, raw, path);
  } else {
    throw badRequest(
      `expected a map of the key fields ${feature.keyFields.map((k) => k.name).join(', ')}, got ${describeValue(raw)}`,
      path,
    );
  }
  return { values, id: keyId(feature, values) };
}

/** Checks a projection against the feature's value fields; throws 400 naming the first unknown one. */
export function bindFields(
  feature: ServedFeature,
  fields: readonly string[] | undefined,
  path: string,
): string[] | undefined {
  if (fields === undefined) return undefined;
  fields.forEach((f, j) => {
    if (feature.valueFieldByName.has(f)) return;
    const isKey = feature.keyFields.some((k) => k.name === f);
    throw badRequest(
      isKey
        ? `"${f}" is a key field; values hold value fields only`
        : `${feature.name} has no value field "${f}"`,
      at(path, `fields[${j}]`),
    );
  });
  return [...fields];
}

export function bindLimit(
  feature: ServedFeature,
  limit: number | undefined,
  path: string,
): number | undefined {
  if (limit === undefined) return undefined;
  if (!feature.isHistory)
    throw badRequest(
      `limit applies to History features; ${feature.name} is an Object feature`,
      at(path, 'limit'),
    );
  return Math.min(limit, feature.maxEntries);
}

export function bindItem(feature: ServedFeature, raw: RawLookupItem): LookupItem {
  return {
    feature,
    keys: raw.keys.map((k, i) => bindKey(feature, k, at(raw.path, `keys[${i}]`))),
    fields: bindFields(feature, raw.fields, raw.path),
    limit: bindLimit(feature, raw.limit, raw.path),
  };
}

function fromText(feature: ServedFeature, name: string, text: string): unknown {
  const type = feature.keyFields.find((k) => k.name === name)?.type;
  if (
    type?.kind === 'scalar' &&
    ['Double', 'Float'].includes(type.scalar) &&
    /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text)
  ) {
    return Number(text);
  }
  if (type?.kind === 'scalar' && type.scalar === 'Boolean' && (text === 'true' || text === 'false'))
    return text === 'true';
  return text;
}

/**
 * The lookup of a GET URL: `/v1/features/<feature>/<key>` for a feature with one key field,
 * or `/v1/features/<feature>?<key field>=<value>&...` (any number of key fields); the
 * query may add `fields=a,b` and `limit=N`.
 */
export function bindQuery(feature: ServedFeature, pathKey: string | undefined, query: string): LookupItem {
  const params = new URLSearchParams(query);
  const keyRaw: Record<string, unknown> = {};
  let fields: string[] | undefined;
  let limit: number | undefined;
  for (const [name, value] of params) {
    if (name === 'fields') fields = value === '' ? [] : value.split(',');
    else if (name === 'limit') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1)
        throw badRequest(`expected a positive integer, got "${value}"`, 'limit');
      limit = n;
    } else if (pathKey !== undefined) {
      throw badRequest(
        `unknown query parameter "${name}" (the key is in the path; expected fields or limit)`,
        name,
      );
    } else keyRaw[name] = fromText(feature, name, value);
  }
  let key: KeyRef;
  if (pathKey !== undefined) {
    if (feature.keyFields.length !== 1) {
      throw badRequest(
        `${feature.name} has the key fields ${feature.keyFields.map((k) => k.name).join(', ')}: give each as a query parameter`,
        'key',
      );
    }
    key = bindKey(feature, fromText(feature, feature.keyFields[0]!.name, pathKey), 'key');
  } else {
    if (Object.keys(keyRaw).length === 0) {
      throw badRequest(
        `give the key: /v1/features/<feature>/<key> or ?${feature.keyFields.map((k) => `${k.name}=…`).join('&')}`,
        'key',
      );
    }
    key = bindKey(feature, keyRaw, 'query');
  }
  return {
    feature,
    keys: [key],
    fields: bindFields(feature, fields, ''),
    limit: bindLimit(feature, limit, ''),
  };
}
