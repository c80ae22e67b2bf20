import type { FieldValue } from '../../domain/values/coerce-value.ts';
import { int64Halves, littleEndian, microsHalvesToMillis, safeInt64 } from './int64-halves.ts';
import type { OfflineRow } from './offline-store.ts';

/**
 * Reads a DuckDB column of 64-bit integers (BIGINT, or the microseconds of a TIMESTAMP) into rows
 * without making a bigint per value (int64-halves.ts). Values that do not fit a number go through
 * `slow` (the bigint path), so the result is the same as reading value by value. Why: `getItem`
 * returns a bigint (or an object holding one) for every value, and an upsync reads several such
 * columns per row; the garbage alone cost a third of its time in collections.
 */

/** Shape of the node-api vectors of int64 types: their items and validity (DuckDBBigIntVector, DuckDBTimestampVector). */
export interface Int64Vector {
  items: BigInt64Array;
  validity: { itemValid(index: number): boolean };
}

export type Int64Kind = 'integer' | 'micros-to-millis';

export function isInt64Vector(v: unknown): v is Int64Vector {
  return (
    littleEndian &&
    typeof v === 'object' &&
    v !== null &&
    (v as Partial<Int64Vector>).items instanceof BigInt64Array &&
    typeof (v as Partial<Int64Vector>).validity?.itemValid === 'function'
  );
}

/**
 * Sets `rows[r][name]` to the vector's item `from + r` for each of the rows: null where the value
 * is NULL, else the number (`integer`), or the epoch milliseconds floored from microseconds
 * (`micros-to-millis`); other values are given to `slow` as bigints.
 */
export function fillInt64Column(
  rows: OfflineRow[],
  name: string,
  vector: Int64Vector,
  from: number,
  kind: Int64Kind,
  slow: (v: bigint) => FieldValue,
): void {
  const { items, validity } = vector;
  const halves = int64Halves(items);
  const fast = kind === 'integer' ? safeInt64 : microsHalvesToMillis;
  for (let r = 0; r < rows.length; r++) {
    const i = from + r;
    if (!validity.itemValid(i)) {
      rows[r]![name] = null;
      continue;
    }
    const v = fast(halves[2 * i + 1]!, halves[2 * i]! >>> 0);
    rows[r]![name] = v === undefined ? slow(items[i]!) : v;
  }
}
