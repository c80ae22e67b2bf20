import { DuckDBInstance, type DuckDBTimestampValue } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { integerValue, microsToMillis } from '../../stores/offline/column-types.ts';
import { fillInt64Column, isInt64Vector } from '../../stores/offline/duckdb-int64-column.ts';
import type { OfflineRow } from '../../stores/offline/offline-store.ts';

/**
 * The int64 column reader puts values together from 32-bit halves; it must give exactly what the
 * bigint path gives (integerValue, microsToMillis), at the edges of the safe range, below zero
 * and for NULL, on vectors DuckDB itself filled.
 */

const edges = [
  '0',
  '1',
  '-1',
  '999',
  '-999',
  '1000',
  '-1001',
  '2147483647',
  '-2147483648',
  '4294967295',
  '4294967296',
  '-4294967297',
  '1700000000000999',
  '-1700000000000001',
  '9007199254740991', // 2^53 − 1
  '-9007199254740991',
  '9007199254740992', // 2^53: not safe, its text
  '-9007199254740992',
  '9007199254740993',
  '9223372036854775807',
  '-9223372036854775807', // DuckDB reserves −2^63
  'NULL',
];

async function chunkOf(sql: string) {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const result = await conn.stream(sql);
  const chunk = await result.fetchChunk();
  conn.closeSync();
  return chunk!;
}

/** The column read from its bytes: whole, and in slices of 7 rows (each from its offset). */
function fill(vector: unknown, count: number, kind: 'integer' | 'micros-to-millis'): unknown[] {
  if (!isInt64Vector(vector)) throw new Error('not an int64 vector');
  const slow = kind === 'integer' ? integerValue : microsToMillis;
  const rows: OfflineRow[] = Array.from({ length: count }, () => ({}));
  fillInt64Column(rows, 'v', vector, 0, kind, slow);
  const sliced: unknown[] = [];
  for (let from = 0; from < count; from += 7) {
    const part: OfflineRow[] = Array.from({ length: Math.min(7, count - from) }, () => ({}));
    fillInt64Column(part, 'v', vector, from, kind, slow);
    sliced.push(...part.map((r) => r.v));
  }
  expect(sliced).toEqual(rows.map((r) => r.v));
  return rows.map((r) => r.v);
}

describe('DuckDB int64 columns read from their bytes', () => {
  it('BIGINT: the same numbers (and texts beyond 2^53) as the bigint path, NULL as null', async () => {
    const chunk = await chunkOf(
      `SELECT v::BIGINT AS v FROM (VALUES ${edges.map((e) => `(${e})`).join(', ')}) t(v)`,
    );
    const vector = chunk.getColumnVector(0);
    const slow = Array.from({ length: chunk.rowCount }, (_, r) => {
      const v = vector.getItem(r) as bigint | null;
      return v === null ? null : integerValue(v);
    });
    expect(slow).toContain('9007199254740992');
    expect(slow).toContain(9007199254740991);
    expect(fill(vector, chunk.rowCount, 'integer')).toEqual(slow);
  });

  it('TIMESTAMP and TIMESTAMPTZ: epoch ms floored as microsToMillis gives, before 1970 and far from it', async () => {
    const micros = edges.filter((e) => e !== '9223372036854775807' && e !== '-9223372036854775807');
    const values = [
      ...micros.map((e) => (e === 'NULL' ? 'NULL' : `make_timestamp(${e}::BIGINT)`)),
      "TIMESTAMP '0001-01-01 00:00:00.000001'",
      "TIMESTAMP '9999-12-31 23:59:59.999999'",
      "TIMESTAMP '1969-12-31 23:59:59.999999'",
    ];
    for (const type of ['TIMESTAMP', 'TIMESTAMPTZ']) {
      const chunk = await chunkOf(
        `SET TimeZone = 'UTC'; SELECT v::${type} AS v FROM (VALUES ${values.map((e) => `(${e})`).join(', ')}) t(v)`,
      );
      const vector = chunk.getColumnVector(0);
      const slow = Array.from({ length: chunk.rowCount }, (_, r) => {
        const v = vector.getItem(r) as DuckDBTimestampValue | null;
        return v === null ? null : microsToMillis(v.micros);
      });
      expect(slow).toContain(-1);
      expect(slow).toContain(1700000000000);
      expect(slow).toContain(-1700000000001);
      expect(fill(vector, chunk.rowCount, 'micros-to-millis')).toEqual(slow);
    }
  });

  it('many random values across the whole int64 range agree with the bigint path', async () => {
    // a deterministic spread: small, around 2^32 and 2^53, and large, both signs
    const picks: string[] = [];
    let x = 0x9e3779b9n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      const bits = [8, 31, 33, 52, 53, 54, 62][i % 7]!;
      const v = (x >> BigInt(64 - bits)) * (i % 2 === 0 ? 1n : -1n);
      picks.push(v.toString());
    }
    const chunk = await chunkOf(`SELECT unnest([${picks.join(', ')}]::BIGINT[]) AS v`);
    const vector = chunk.getColumnVector(0);
    const slow = Array.from({ length: chunk.rowCount }, (_, r) => integerValue(vector.getItem(r) as bigint));
    expect(chunk.rowCount).toBe(2000);
    expect(fill(vector, chunk.rowCount, 'integer')).toEqual(slow);
    const asMillis = Array.from({ length: chunk.rowCount }, (_, r) =>
      microsToMillis(vector.getItem(r) as bigint),
    );
    expect(fill(vector, chunk.rowCount, 'micros-to-millis')).toEqual(asMillis);
  });
});
