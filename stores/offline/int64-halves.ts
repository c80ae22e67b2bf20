import { endianness } from 'node:os';

/**
 * Numbers from int64 values seen as two 32-bit halves (`hi` signed, `lo` unsigned: a little-endian
 * Int32Array view of a BigInt64Array), so that reading a column needs no bigint per value. Each
 * returns undefined where the value does not fit; the caller then takes the bigint path.
 */

const two32 = 4294967296;

/** hi·2^32 + lo when it is a safe integer (|v| < 2^53): hi in [−2^21, 2^21), and not −2^53 itself. */
export function safeInt64(hi: number, lo: number): number | undefined {
  return hi >= -0x200000 && hi < 0x200000 && !(hi === -0x200000 && lo === 0) ? hi * two32 + lo : undefined;
}

/**
 * Epoch milliseconds floored from microseconds hi·2^32 + lo:
 * micros = 1000·(hi·4294967) + (hi·296 + lo), each part exact in doubles for |hi| < 2^30.
 */
export function microsHalvesToMillis(hi: number, lo: number): number | undefined {
  return hi > -0x40000000 && hi < 0x40000000 ? hi * 4294967 + Math.floor((hi * 296 + lo) / 1000) : undefined;
}

/** The halves view reads the low word first: true on little-endian machines only (callers check). */
export const littleEndian = endianness() === 'LE';

/** The halves view of int64 items: [lo, hi] per value on a little-endian machine. */
export function int64Halves(items: BigInt64Array): Int32Array {
  return new Int32Array(items.buffer, items.byteOffset, items.length * 2);
}
