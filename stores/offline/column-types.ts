import {
  defaultSourceTable,
  eventTimeField,
  type FeatureDefinition,
} from '../../domain/definitions/feature-definition.ts';
import {
  type FieldType,
  formatFieldType,
  parseFieldType,
  type ScalarType,
} from '../../domain/definitions/field-types.ts';
import { kindOf } from '../../domain/kinds/feature-kinds.ts';
import { coerceValue, type FieldValue } from '../../domain/values/coerce-value.ts';
import {
  type ColumnSpec,
  type DeadLetter,
  type DeadLetterOrigin,
  eventTimeColumn,
  type OfflineRow,
  OfflineStoreInputError,
} from './offline-store.ts';

/**
 * How Ferry field types are stored in each warehouse, and read back.
 *
 * | Ferry     | DuckDB    | BigQuery         | read back as (both)            |
 * |-----------|-----------|------------------|--------------------------------|
 * | Text      | VARCHAR   | STRING           | string                         |
 * | Long      | BIGINT    | INT64            | number (text beyond ±2^53)     |
 * | Int       | INTEGER   | INT64            | number                         |
 * | Double    | DOUBLE    | FLOAT64          | number                         |
 * | Float     | FLOAT     | FLOAT64          | number, rounded to 32 bits on write |
 * | Boolean   | BOOLEAN   | BOOL             | boolean                        |
 * | Timestamp | TIMESTAMP | TIMESTAMP        | epoch ms (µs stored; sub-ms floored) |
 * | Bytes     | BLOB      | BYTES            | Buffer                         |
 * | List<T>   | T[]       | ARRAY<T> (REPEATED) | array; NULL reads as []     |
 *
 * BigQuery has one integer and one float type, so a table described from BigQuery reports Long for
 * Int columns and Double for Float columns; `sameStorage` treats those as the same column type.
 */

const duckScalar: Record<ScalarType, string> = {
  Text: 'VARCHAR',
  Long: 'BIGINT',
  Int: 'INTEGER',
  Double: 'DOUBLE',
  Float: 'FLOAT',
  Boolean: 'BOOLEAN',
  Timestamp: 'TIMESTAMP',
  Bytes: 'BLOB',
};

const bigQueryScalar: Record<ScalarType, string> = {
  Text: 'STRING',
  Long: 'INT64',
  Int: 'INT64',
  Double: 'FLOAT64',
  Float: 'FLOAT64',
  Boolean: 'BOOL',
  Timestamp: 'TIMESTAMP',
  Bytes: 'BYTES',
};

export function duckDbType(type: FieldType): string {
  return type.kind === 'scalar' ? duckScalar[type.scalar] : `${duckScalar[type.item]}[]`;
}

export interface BigQueryField {
  name: string;
  type: string;
  mode?: string;
  description?: string;
  fields?: BigQueryField[];
}

/**
 * The schema field of a column. Its description records the Ferry type, because BigQuery has one
 * integer and one float type: reading the schema back then tells Int from Long and Float from Double.
 */
export function bigQueryField(name: string, type: FieldType): BigQueryField {
  const description = `Ferry type: ${formatFieldType(type)}`;
  return type.kind === 'scalar'
    ? { name, type: bigQueryScalar[type.scalar], mode: 'NULLABLE', description }
    : { name, type: bigQueryScalar[type.item], mode: 'REPEATED', description };
}

/** The column type as GoogleSQL DDL writes it. */
export function bigQueryDdlType(type: FieldType): string {
  return type.kind === 'scalar' ? bigQueryScalar[type.scalar] : `ARRAY<${bigQueryScalar[type.item]}>`;
}

const duckToScalar: Record<string, ScalarType> = {
  VARCHAR: 'Text',
  BIGINT: 'Long',
  HUGEINT: 'Long',
  UBIGINT: 'Long',
  UHUGEINT: 'Long',
  INTEGER: 'Int',
  SMALLINT: 'Int',
  TINYINT: 'Int',
  UINTEGER: 'Long',
  USMALLINT: 'Int',
  UTINYINT: 'Int',
  DOUBLE: 'Double',
  FLOAT: 'Float',
  BOOLEAN: 'Boolean',
  TIMESTAMP: 'Timestamp',
  TIMESTAMP_MS: 'Timestamp',
  TIMESTAMP_S: 'Timestamp',
  TIMESTAMP_NS: 'Timestamp',
  'TIMESTAMP WITH TIME ZONE': 'Timestamp',
  BLOB: 'Bytes',
};

/** The Ferry type of a DuckDB column type (`information_schema` spelling), or undefined. */
export function fieldTypeFromDuckDb(typeText: string): FieldType | undefined {
  const t = typeText.toUpperCase().trim();
  const list = /^(.*)\[\]$/.exec(t);
  if (list) {
    const inner = fieldTypeFromDuckDb(list[1]!);
    return inner?.kind === 'scalar' ? { kind: 'list', item: inner.scalar } : undefined;
  }
  if (t.startsWith('DECIMAL') || t.startsWith('NUMERIC')) return { kind: 'scalar', scalar: 'Double' };
  const scalar = duckToScalar[t];
  return scalar ? { kind: 'scalar', scalar } : undefined;
}

const bigQueryToScalar: Record<string, ScalarType> = {
  STRING: 'Text',
  INT64: 'Long',
  INTEGER: 'Long',
  FLOAT64: 'Double',
  FLOAT: 'Double',
  NUMERIC: 'Double',
  BIGNUMERIC: 'Double',
  BOOL: 'Boolean',
  BOOLEAN: 'Boolean',
  TIMESTAMP: 'Timestamp',
  BYTES: 'Bytes',
};

/** The Ferry type of a BigQuery schema field, or undefined (RECORD, DATE, ...). */
export function fieldTypeFromBigQuery(field: BigQueryField): FieldType | undefined {
  const scalar = bigQueryToScalar[field.type.toUpperCase()];
  if (!scalar) return undefined;
  const natural: FieldType =
    field.mode === 'REPEATED' ? { kind: 'list', item: scalar } : { kind: 'scalar', scalar };
  const recorded = /^Ferry type: (\S+)/.exec(field.description ?? '');
  const declared = recorded ? parseFieldType(recorded[1]!) : undefined;
  return declared && sameStorage(declared, natural, 'bigquery') ? declared : natural;
}

const storageClass: Record<ScalarType, string> = {
  Text: 'text',
  Long: 'int',
  Int: 'int',
  Double: 'float',
  Float: 'float',
  Boolean: 'bool',
  Timestamp: 'ts',
  Bytes: 'bytes',
};

/** Whether a column that exists as `have` can hold values of `want` without a change of type. */
export function sameStorage(want: FieldType, have: FieldType, dialect: 'duckdb' | 'bigquery'): boolean {
  if (want.kind !== have.kind) return false;
  const a = want.kind === 'scalar' ? want.scalar : want.item;
  const b = have.kind === 'scalar' ? have.scalar : have.item;
  if (a === b) return true;
  if (dialect === 'bigquery') return storageClass[a] === storageClass[b];
  // DuckDB: an Int value fits a BIGINT column, a Float value a DOUBLE column
  return (a === 'Int' && b === 'Long') || (a === 'Float' && b === 'Double');
}

/** The columns of a feature's offline table, as its kind lays them out. */
export function featureTableColumns(def: FeatureDefinition): ColumnSpec[] {
  return kindOf(def).offlineColumns(def);
}

/** The offline table downsync writes for a feature: the name with `::` as `__`, other symbols as `_`. */
export function featureTableName(def: FeatureDefinition): string {
  return defaultSourceTable(def.name);
}

const text: FieldType = { kind: 'scalar', scalar: 'Text' };
export const deadLetterColumns: ColumnSpec[] = [
  { name: 'id', type: text },
  { name: 'feature', type: text },
  { name: 'origin', type: text },
  { name: 'reason', type: text },
  { name: 'payload', type: text },
  { name: 'occurred_at', type: { kind: 'scalar', scalar: 'Timestamp' } },
];

export const identifierPattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws unless `name` is a plain identifier (what Ferry names tables and columns). */
export function checkIdentifier(what: string, name: string): string {
  if (!identifierPattern.test(name)) throw new Error(`${what} must be letters, digits and _, got "${name}"`);
  return name;
}

/**
 * Checks and converts rows for a table with the given columns: every field must be a column,
 * every value must fit its column (Float rounded to 32 bits, lists never NULL). A missing
 * `_event_time` is derived from `_last_updated_at_ms` when the table has both.
 */
export function prepareRows(
  table: string,
  columns: readonly ColumnSpec[],
  rows: readonly Record<string, unknown>[],
): FieldValue[][] {
  const index = new Map(columns.map((c, i) => [c.name, i]));
  const deriveEventTime = index.has(eventTimeColumn) && index.has(eventTimeField);
  const out: FieldValue[][] = [];
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const values: FieldValue[] = new Array(columns.length).fill(null);
    for (const key of Object.keys(row)) {
      if (!index.has(key)) {
        throw new OfflineStoreInputError(
          table,
          r,
          key,
          `no such column (columns: ${columns.map((c) => c.name).join(', ')})`,
        );
      }
    }
    for (let c = 0; c < columns.length; c++) {
      const col = columns[c]!;
      let raw = row[col.name];
      if (raw === undefined && deriveEventTime && col.name === eventTimeColumn) raw = row[eventTimeField];
      let v: FieldValue;
      try {
        v = coerceValue(col.type, raw);
      } catch (e) {
        throw new OfflineStoreInputError(
          table,
          r,
          col.name,
          `${(e as Error).message} (column is ${formatFieldType(col.type)})`,
        );
      }
      if (col.type.kind === 'list' && v === null) v = [];
      const scalar = col.type.kind === 'scalar' ? col.type.scalar : col.type.item;
      if (scalar === 'Float')
        v = Array.isArray(v)
          ? v.map((x) => Math.fround(x as number))
          : v === null
            ? null
            : Math.fround(v as number);
      values[c] = v;
    }
    out.push(values);
  }
  return out;
}

/** An integer from a warehouse: a number when within ±2^53, else its decimal text. */
const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);
const minSafe = BigInt(Number.MIN_SAFE_INTEGER);

export function integerValue(v: bigint | number | string): number | string {
  if (typeof v === 'number') return v;
  const b = typeof v === 'bigint' ? v : BigInt(v);
  return b <= maxSafe && b >= minSafe ? Number(b) : b.toString();
}

/** Floor division of microseconds to milliseconds (right for times before 1970 too). */
export function microsToMillis(micros: bigint): number {
  const q = micros / 1000n;
  return Number(micros % 1000n < 0n ? q - 1n : q);
}

/** A dead-letter row as read from the table. */
export function toDeadLetter(row: OfflineRow): DeadLetter {
  return {
    id: row.id as string,
    feature: row.feature as string,
    origin: row.origin as DeadLetterOrigin,
    reason: row.reason as string,
    payload: row.payload as string,
    occurredAtMs: row.occurred_at as number,
  };
}
