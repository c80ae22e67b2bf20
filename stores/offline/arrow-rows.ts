import {
  type Data,
  DataType,
  DateUnit,
  makeVector,
  Precision,
  type RecordBatch,
  TimeUnit,
  type Type,
} from 'apache-arrow';
import type { FieldValue } from '../../domain/values/coerce-value.ts';
import { integerValue, microsToMillis } from './column-types.ts';
import { int64Halves, littleEndian, microsHalvesToMillis, safeInt64 } from './int64-halves.ts';
import type { OfflineRow } from './offline-store.ts';

// Arrow record batches (what the BigQuery Storage Read API sends) decoded into rows of the value
// forms the REST path gives (OfflineRow): one decoder per column, chosen once per schema.

/** Decodes rows [start, end) of a column, with `data.offset` applied, into Ferry values. */
type ColumnDecoder = (data: Data, start: number, end: number) => FieldValue[];

/** The validity bitmap (bit `data.offset + i` is row `i`), or undefined when no row is NULL. */
function nullsOf(data: Data): Uint8Array | undefined {
  return data.nullCount > 0 ? data.nullBitmap : undefined;
}

const isSet = (bits: Uint8Array, i: number): boolean => ((bits[i >> 3]! >> (i & 7)) & 1) === 1;

/** One decoder per column of a schema, reused for every batch of a stream. */
export class BatchDecoder {
  private readonly names: string[];
  private readonly decoders: ColumnDecoder[];

  constructor(first: RecordBatch) {
    this.names = first.schema.fields.map((f) => f.name);
    this.decoders = first.schema.fields.map((f) => decoderFor(f.type));
  }

  rows(batch: RecordBatch, start: number, end: number): OfflineRow[] {
    const columns = batch.data.children;
    if (columns.length !== this.names.length)
      throw new Error(`record batch has ${columns.length} columns, the schema ${this.names.length}`);
    const names = this.names;
    const values = this.decoders.map((decode, c) => decode(columns[c]!, start, end));
    const n = end - start;
    const out: OfflineRow[] = new Array(n);
    for (let r = 0; r < n; r++) {
      const row: OfflineRow = {};
      for (let c = 0; c < names.length; c++) row[names[c]!] = values[c]![r] as FieldValue;
      out[r] = row;
    }
    return out;
  }
}

/**
 * A column decoder from a per-row getter: `prepare(data)` reads the column's buffers once and
 * returns the value of a valid row; NULL rows are null.
 */
function perRow(prepare: (data: Data) => (i: number) => FieldValue): ColumnDecoder {
  return (data, start, end) => {
    const get = prepare(data);
    const nulls = nullsOf(data);
    const out: FieldValue[] = new Array(end - start);
    for (let i = start, k = 0; i < end; i++, k++)
      out[k] = nulls && !isSet(nulls, data.offset + i) ? null : get(i);
    return out;
  };
}

/** Fixed-width values: `get(values, i)`. */
function fixed<A extends ArrayLike<unknown>>(get: (values: A, i: number) => FieldValue): ColumnDecoder {
  return perRow((data) => {
    const values = data.values as unknown as A;
    return (i) => get(values, i);
  });
}

/** int64 values from their 32-bit halves (int64-halves.ts), so that the common case needs no BigInt. */
function int64Column(
  fast: (hi: number, lo: number) => number | undefined,
  slow: (v: bigint) => FieldValue,
): ColumnDecoder {
  if (!littleEndian) return fixed<BigInt64Array>((values, i) => slow(values[i]!));
  return perRow((data) => {
    const values = data.values as BigInt64Array;
    const halves = int64Halves(values);
    return (i) => fast(halves[2 * i + 1]!, halves[2 * i]! >>> 0) ?? slow(values[i]!);
  });
}

/** int64 → number within ±2^53, else its decimal text (integerValue). */
const int64Decoder = int64Column(safeInt64, integerValue);

/** Epoch milliseconds, floored (as the REST path: microsToMillis), from a timestamp unit. */
function timestampMillis(unit: TimeUnit): ColumnDecoder {
  if (unit === TimeUnit.MICROSECOND) return int64Column(microsHalvesToMillis, microsToMillis);
  return fixed<BigInt64Array>((values, i) => microsToMillis(toMicros(values[i]!, unit)));
}

/** A time of day or a civil time's fraction: `.ffffff` when there are microseconds. */
const fraction = (micros: number): string => (micros ? `.${String(micros).padStart(6, '0')}` : '');

/** DATETIME (a timestamp without a time zone) as REST gives it: `2024-03-10T09:30:00[.500000]`. */
function civilDateTime(micros: bigint): string {
  const ms = microsToMillis(micros);
  const secondMs = Math.floor(ms / 1000) * 1000;
  const sub = Number(micros - BigInt(secondMs) * 1000n);
  return `${new Date(secondMs).toISOString().slice(0, 19)}${fraction(sub)}`;
}

function toMicros(v: bigint, unit: TimeUnit): bigint {
  switch (unit) {
    case TimeUnit.SECOND:
      return v * 1_000_000n;
    case TimeUnit.MILLISECOND:
      return v * 1000n;
    case TimeUnit.MICROSECOND:
      return v;
    default:
      return v < 0n ? (v - 999n) / 1000n : v / 1000n;
  }
}

/** TIME as REST gives it: `09:30:00[.250000]`. */
function timeOfDay(micros: number): string {
  const s = Math.floor(micros / 1_000_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}${fraction(micros % 1_000_000)}`;
}

/** A decimal (NUMERIC, BIGNUMERIC) as a number, like REST's `Number(text)`. */
function decimalDecoder(scale: number, bitWidth: number): ColumnDecoder {
  const stride = bitWidth / 32;
  return fixed<Uint32Array>((values, i) => {
    let big = 0n;
    for (let j = stride - 1; j >= 0; j--) big = (big << 32n) | BigInt(values[i * stride + j]!);
    big = BigInt.asIntN(bitWidth, big);
    if (scale <= 0) return Number(big * 10n ** BigInt(-scale));
    const negative = big < 0n;
    const digits = (negative ? -big : big).toString().padStart(scale + 1, '0');
    return Number(`${negative ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`);
  });
}

/** Variable-width values: `make(bytes, from, to)`. */
function variable(make: (bytes: Buffer, from: number, to: number) => FieldValue): ColumnDecoder {
  return perRow((data) => {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array;
    const values = data.values as Uint8Array;
    const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    return (i) => make(bytes, Number(offsets[i]), Number(offsets[i + 1]));
  });
}

const text = (bytes: Buffer, from: number, to: number) => bytes.toString('utf8', from, to);
/** A copy: a view would keep the whole response alive. */
const binary = (bytes: Buffer, from: number, to: number) => Buffer.from(bytes.subarray(from, to));

/** Lists: each row's items decoded by the item decoder; a NULL list is [] (as on the REST path). */
function listDecoder(item: ColumnDecoder, fixedSize?: number): ColumnDecoder {
  return (data, start, end) => {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array | undefined;
    // a sliced fixed-size list has its child sliced too; offsets index the whole child
    const at = (i: number) => (fixedSize !== undefined ? i * fixedSize : Number(offsets![i]));
    const child = data.children[0]!;
    const first = at(start);
    const items = item(child, first, at(end));
    const nulls = nullsOf(data);
    const out: FieldValue[] = new Array(end - start);
    for (let i = start, k = 0; i < end; i++, k++)
      out[k] = nulls && !isSet(nulls, data.offset + i) ? [] : items.slice(at(i) - first, at(i + 1) - first);
    return out;
  };
}

/** Values of the types Ferry never reads (maps, unions, intervals...) as text, like REST's default. */
const generic: ColumnDecoder = perRow((data) => {
  const vector = makeVector(data);
  return (i) => {
    const v: unknown = vector.get(i);
    return v === null || v === undefined
      ? null
      : typeof v === 'object'
        ? JSON.stringify(v, jsonSafe)
        : String(v);
  };
});

const jsonSafe = (_key: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

/**
 * STRUCT as the REST path renders a RECORD cell: the JSON text of `{"f":[{"v":...}]}` with REST's
 * cell encoding (numbers and booleans as text, bytes base64, timestamps as int64 microseconds).
 */
function structDecoder(type: DataType<Type.Struct>): ColumnDecoder {
  const cells = restCells(type);
  return (data, start, end) => {
    const values = cells(data, start, end);
    return values.map((v) => (v === null ? null : JSON.stringify(v)));
  };
}

type RestCell = (data: Data, start: number, end: number) => unknown[];

function restCells(type: DataType): RestCell {
  if (DataType.isStruct(type)) {
    const children = type.children.map((f) => restCells(f.type));
    return (data, start, end) => {
      const columns = children.map((cell, c) => cell(data.children[c]!, start, end));
      const nulls = nullsOf(data);
      const out: unknown[] = new Array(end - start);
      for (let i = start, k = 0; i < end; i++, k++)
        out[k] =
          nulls && !isSet(nulls, data.offset + i) ? null : { f: columns.map((column) => ({ v: column[k] })) };
      return out;
    };
  }
  if (DataType.isList(type) || DataType.isLargeList(type)) {
    const list = listDecoder(restCells(type.children[0]!.type) as ColumnDecoder);
    return (data, start, end) =>
      list(data, start, end).map((items) => (items as unknown[]).map((v) => ({ v })));
  }
  if (DataType.isTimestamp(type) && type.timezone) {
    return fixed<BigInt64Array>((values, i) => String(toMicros(values[i]!, type.unit))) as RestCell;
  }
  const decode = decoderFor(type);
  return (data, start, end) =>
    decode(data, start, end).map((v) =>
      v === null ? null : Buffer.isBuffer(v) ? v.toString('base64') : typeof v === 'string' ? v : String(v),
    );
}

/** The decoder of a column of this Arrow type (BigQuery's Arrow types, and a few more). */
function decoderFor(type: DataType): ColumnDecoder {
  if (DataType.isInt(type)) {
    if (type.bitWidth === 64)
      return type.isSigned ? int64Decoder : fixed<BigUint64Array>((values, i) => integerValue(values[i]!));
    return fixed<Int32Array>((values, i) => values[i]!);
  }
  if (DataType.isFloat(type)) {
    return type.precision === Precision.HALF ? generic : fixed<Float64Array>((values, i) => values[i]!);
  }
  if (DataType.isBool(type)) {
    return perRow((data) => {
      const bits = data.values as Uint8Array;
      return (i) => isSet(bits, data.offset + i);
    });
  }
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return variable(text);
  if (DataType.isBinary(type) || DataType.isLargeBinary(type)) return variable(binary);
  if (DataType.isFixedSizeBinary(type)) {
    const width = type.byteWidth;
    return fixed<Uint8Array>((values, i) => Buffer.from(values.subarray(i * width, (i + 1) * width)));
  }
  if (DataType.isTimestamp(type)) {
    // TIMESTAMP carries a time zone (UTC); a timestamp without one is a DATETIME, text on REST
    if (type.timezone) return timestampMillis(type.unit);
    return fixed<BigInt64Array>((values, i) => civilDateTime(toMicros(values[i]!, type.unit)));
  }
  if (DataType.isDate(type)) {
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    return type.unit === DateUnit.DAY
      ? fixed<Int32Array>((values, i) => day(values[i]! * 86_400_000))
      : fixed<BigInt64Array>((values, i) => day(Number(values[i]!)));
  }
  if (DataType.isTime(type)) {
    const unit = type.unit;
    return fixed<Int32Array | BigInt64Array>((values, i) =>
      timeOfDay(Number(toMicros(BigInt(values[i]!), unit))),
    );
  }
  if (DataType.isDecimal(type)) return decimalDecoder(type.scale, type.bitWidth);
  if (DataType.isList(type) || DataType.isLargeList(type))
    return listDecoder(decoderFor(type.children[0]!.type));
  if (DataType.isFixedSizeList(type)) return listDecoder(decoderFor(type.children[0]!.type), type.listSize);
  if (DataType.isStruct(type)) return structDecoder(type);
  return generic;
}
