/**
 * An approximate count of distinct values that can be merged: exact (a set of 53-bit hashes)
 * up to `exactLimit` values, then a HyperLogLog of 2^12 registers, whose standard error is
 * 1.04 / √4096 ≈ 1.6% (so 99.7% of estimates fall within ±4.9%). Merging is a union (the
 * register-wise maximum), so a value seen in several buckets counts once.
 */

export const sketchPrecision = 12;
const registerCount = 1 << sketchPrecision;
/** Up to this many distinct values the count is exact. */
export const exactLimit = 64;
/** The relative standard error of the estimate above `exactLimit`. */
export const sketchStandardError = 1.04 / Math.sqrt(registerCount);

export type DistinctSketch = { exact: number[] } | { registers: Uint8Array };

/** cyrb53: a fast 53-bit string hash (public domain), good enough for sketching. */
function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The hash of a value: its type and text, so 1 and "1" differ. */
export function valueHash(value: unknown): number {
  return hash53(`${typeof value}:${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

export function emptySketch(): DistinctSketch {
  return { exact: [] };
}

function toRegisters(hashes: readonly number[]): Uint8Array {
  const r = new Uint8Array(registerCount);
  for (const h of hashes) addToRegisters(r, h);
  return r;
}

const restBits = 53 - sketchPrecision;

function addToRegisters(r: Uint8Array, h: number): void {
  const index = Math.floor(h / 2 ** restBits);
  const rest = h % 2 ** restBits;
  // rank: leading zeros of the rest (restBits wide) + 1
  const rank = rest === 0 ? restBits + 1 : restBits - Math.floor(Math.log2(rest));
  if (rank > r[index]!) r[index] = rank;
}

/** Adds a value's hash (returns the sketch, changed in place when it can be). */
export function addHash(s: DistinctSketch, h: number): DistinctSketch {
  if ('registers' in s) {
    addToRegisters(s.registers, h);
    return s;
  }
  if (s.exact.includes(h)) return s;
  if (s.exact.length < exactLimit) {
    s.exact.push(h);
    return s;
  }
  const registers = toRegisters(s.exact);
  addToRegisters(registers, h);
  return { registers };
}

/** The union of two sketches (new object; the inputs are left as they are). */
export function mergeSketches(a: DistinctSketch, b: DistinctSketch): DistinctSketch {
  if ('exact' in a && 'exact' in b) {
    const set = new Set(a.exact);
    for (const h of b.exact) set.add(h);
    return set.size <= exactLimit ? { exact: [...set] } : { registers: toRegisters([...set]) };
  }
  const ra = 'registers' in a ? a.registers : toRegisters(a.exact);
  const out = new Uint8Array(ra);
  if ('registers' in b) {
    for (let i = 0; i < registerCount; i++) if (b.registers[i]! > out[i]!) out[i] = b.registers[i]!;
  } else {
    for (const h of b.exact) addToRegisters(out, h);
  }
  return { registers: out };
}

/** The estimated number of distinct values (exact up to `exactLimit`). */
export function sketchCount(s: DistinctSketch): number {
  if ('exact' in s) return s.exact.length;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < registerCount; i++) {
    const v = s.registers[i]!;
    sum += 2 ** -v;
    if (v === 0) zeros++;
  }
  const m = registerCount;
  const alpha = 0.7213 / (1 + 1.079 / m);
  const raw = (alpha * m * m) / sum;
  // small range: linear counting while it is the better estimate
  if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
  return Math.round(raw);
}
