import {
  describeValue,
  type FieldType,
  formatFieldType,
  type ScalarType,
  scalarMismatch,
} from '../definitions/field-types.ts';

/**
 * Ferry's in-memory form of field values: Text string, Long/Int/Double/Float number,
 * Boolean boolean, Timestamp epoch milliseconds (number), Bytes Buffer, lists as arrays.
 * Values arrive as JSON (commands, HTTP), SQL rows (Date, bigint) or YAML defaults; this
 * turns each into that form or says why it cannot.
 */
export type FieldValue = string | number | boolean | Buffer | null | FieldValue[];

export class ValueError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'ValueError';
  }
}

function coerceScalar(scalar: ScalarType, value: unknown): FieldValue {
  switch (scalar) {
    case 'Long':
    case 'Int':
      if (typeof value === 'bigint') {
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new Error(`expected ${scalar} within ±2^53, got ${value}`);
        }
        value = Number(value);
      } else if (typeof value === 'string' && /^-?\d{1,16}$/.test(value)) {
        value = Number(value);
      }
      break;
    case 'Double':
    case 'Float':
      if (typeof value === 'bigint') value = Number(value);
      break;
    case 'Timestamp':
      if (value instanceof Date) return value.getTime();
      if (typeof value === 'string') {
        const why = scalarMismatch('Timestamp', value);
        if (why) throw new Error(why);
        return Date.parse(value);
      }
      if (typeof value === 'bigint') value = Number(value);
      break;
    case 'Bytes':
      if (value instanceof Uint8Array) return Buffer.from(value);
      if (typeof value === 'string') {
        const why = scalarMismatch('Bytes', value);
        if (why) throw new Error(why);
        return Buffer.from(value, 'base64');
      }
      break;
    default:
      break;
  }
  const why = scalarMismatch(scalar, value);
  if (why) throw new Error(why);
  return value as FieldValue;
}

/** Converts `value` to the in-memory form of `type`; null stays null. Throws with the reason. */
export function coerceValue(type: FieldType, value: unknown): FieldValue {
  if (value === null || value === undefined) return null;
  if (type.kind === 'scalar') return coerceScalar(type.scalar, value);
  if (!Array.isArray(value))
    throw new Error(`expected ${formatFieldType(type)}, got ${describeValue(value)}`);
  return value.map((item, i) => {
    try {
      return coerceScalar(type.item, item);
    } catch (e) {
      throw new Error(`item ${i}: ${(e as Error).message}`);
    }
  });
}

/** Whether values of a type are their own JSON form (all but Bytes and Timestamp, and lists of them). */
export function isJsonAsStored(type: FieldType): boolean {
  const scalar = type.kind === 'scalar' ? type.scalar : type.item;
  return scalar !== 'Bytes' && scalar !== 'Timestamp';
}

/** The JSON form of a value (Bytes as base64, Timestamp as ISO-8601 text). */
export function valueToJson(type: FieldType, value: FieldValue): unknown {
  if (value === null) return null;
  // most values are as JSON already (the reader converts every value it serves)
  if (isJsonAsStored(type)) return value;
  const scalar = type.kind === 'scalar' ? type.scalar : type.item;
  const one = (v: FieldValue): unknown =>
    scalar === 'Bytes' && Buffer.isBuffer(v)
      ? v.toString('base64')
      : scalar === 'Timestamp' && typeof v === 'number'
        ? new Date(v).toISOString()
        : v;
  return type.kind === 'list' && Array.isArray(value) ? value.map(one) : one(value);
}
