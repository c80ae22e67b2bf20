/** The scalar field types a feature schema may use. */
export const scalarTypes = [
  'Text',
  'Long',
  'Int',
  'Double',
  'Float',
  'Boolean',
  'Timestamp',
  'Bytes',
] as const;
export type ScalarType = (typeof scalarTypes)[number];

/** A field type: a scalar, or a list of one scalar type (written `List<Long>` in YAML). */
export type FieldType = { kind: 'scalar'; scalar: ScalarType } | { kind: 'list'; item: ScalarType };

const listPattern = /^List<\s*([A-Za-z]+)\s*>$/;

export function parseFieldType(text: string): FieldType | undefined {
  if ((scalarTypes as readonly string[]).includes(text))
    return { kind: 'scalar', scalar: text as ScalarType };
  const m = listPattern.exec(text);
  if (m && (scalarTypes as readonly string[]).includes(m[1]!))
    return { kind: 'list', item: m[1] as ScalarType };
  return undefined;
}

export function formatFieldType(type: FieldType): string {
  return type.kind === 'scalar' ? type.scalar : `List<${type.item}>`;
}

export const fieldTypeNames = [...scalarTypes, ...scalarTypes.map((t) => `List<${t}>`)];

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const FLOAT32_MAX = 3.4028234663852886e38;

/** Describes a JS value for error messages: `"high"`, `12.5`, `true`, `a list`, `null`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return String(value);
}

const isoTimestamp =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Why a value does not fit a scalar type, or undefined when it fits. */
export function scalarMismatch(scalar: ScalarType, value: unknown): string | undefined {
  // built only on failure: this runs for every value written
  const fail = () => `expected ${scalar}, got ${describeValue(value)}`;
  switch (scalar) {
    case 'Text':
      return typeof value === 'string' ? undefined : fail();
    case 'Long':
      if (typeof value === 'bigint') return undefined;
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail();
      return Number.isSafeInteger(value) ? undefined : `expected Long within ±2^53, got ${value}`;
    case 'Int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail();
      return value >= INT32_MIN && value <= INT32_MAX ? undefined : `expected Int (32-bit), got ${value}`;
    case 'Double':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : fail();
    case 'Float':
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail();
      return Math.abs(value) <= FLOAT32_MAX ? undefined : `expected Float (32-bit), got ${value}`;
    case 'Boolean':
      return typeof value === 'boolean' ? undefined : fail();
    case 'Timestamp':
      if (typeof value === 'number') return Number.isSafeInteger(value) ? undefined : fail();
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? fail() : undefined;
      if (typeof value === 'string' && isoTimestamp.test(value) && !Number.isNaN(Date.parse(value)))
        return undefined;
      return `expected Timestamp (ISO-8601 text or epoch milliseconds), got ${describeValue(value)}`;
    case 'Bytes':
      if (value instanceof Uint8Array) return undefined;
      return typeof value === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length % 4 === 0
        ? undefined
        : `expected Bytes (base64 text), got ${describeValue(value)}`;
  }
}

/** Why a value does not fit a field type, or undefined when it fits. */
export function valueMismatch(type: FieldType, value: unknown): string | undefined {
  if (type.kind === 'scalar') return scalarMismatch(type.scalar, value);
  if (!Array.isArray(value)) return `expected ${formatFieldType(type)}, got ${describeValue(value)}`;
  for (let i = 0; i < value.length; i++) {
    const why = scalarMismatch(type.item, value[i]);
    if (why) return `item ${i}: ${why}`;
  }
  return undefined;
}

/** The promotions of Avro's schema resolution: a value written as the key reads as any of its list. */
const promotions: Partial<Record<ScalarType, readonly ScalarType[]>> = {
  Int: ['Long', 'Float', 'Double'],
  Long: ['Float', 'Double'],
  Float: ['Double'],
};

/**
 * Whether values stored as `from` read as `to` by Avro's promotions (Int → Long, Int or Long →
 * Float or Double, Float → Double), for a scalar or the items of a list. The same type is not a
 * widening. Long to Float or Double may round integers beyond 2^24 or 2^53, as in Avro.
 */
export function widens(from: FieldType, to: FieldType): boolean {
  if (from.kind !== to.kind) return false;
  const a = from.kind === 'scalar' ? from.scalar : from.item;
  const b = to.kind === 'scalar' ? to.scalar : to.item;
  return promotions[a]?.includes(b) ?? false;
}
