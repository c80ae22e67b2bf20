/**
 * How often keys were asked for lately, approximately: a count-min sketch of 4-bit-range
 * counters (kept in bytes, capped at 15), four per key, halved every `10 x width` records
 * so that old popularity fades (TinyLFU's aging). The row cache asks it whether a new row is
 * worth more than the one it would push out.
 *
 * Keys are hashed as numbers: the caller mixes its key id and scope into a 32-bit hash.
 */
export class FrequencySketch {
  private readonly counters: Uint8Array;
  private readonly mask: number;
  private readonly sampleSize: number;
  private additions = 0;

  /** `expectedKeys`: about how many keys the cache holds; the sketch is 4 bytes per slot of the next power of two. */
  constructor(expectedKeys: number) {
    let width = 1024;
    while (width < expectedKeys && width < 1 << 22) width *= 2;
    this.counters = new Uint8Array(width * 4);
    this.mask = width - 1;
    this.sampleSize = 10 * width;
  }

  /** Counts one request for the key of this hash. */
  record(hash: number): void {
    const h2 = rehash(hash);
    const c = this.counters;
    const w = this.mask + 1;
    let added = false;
    for (let i = 0; i < 4; i++) {
      const at = i * w + ((hash + i * h2) & this.mask);
      if (c[at]! < 15) {
        c[at]!++;
        added = true;
      }
    }
    if (added && ++this.additions >= this.sampleSize) this.age();
  }

  /** The estimated number of recent requests for the key of this hash (0–15). */
  frequency(hash: number): number {
    const h2 = rehash(hash);
    const c = this.counters;
    const w = this.mask + 1;
    let min = 15;
    for (let i = 0; i < 4; i++) {
      const v = c[i * w + ((hash + i * h2) & this.mask)]!;
      if (v < min) min = v;
    }
    return min;
  }

  private age(): void {
    const c = this.counters;
    for (let i = 0; i < c.length; i++) c[i] = c[i]! >>> 1;
    this.additions = 0;
  }
}

/** A second, independent-enough hash for double hashing (murmur3's finaliser). */
function rehash(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 1;
}

/** A 32-bit hash of a key id (a number or text) within a scope of seed `seed`. */
export function hashKeyId(id: string | number, seed: number): number {
  let h = seed;
  if (typeof id === 'number') {
    const lo = id | 0;
    const hi = (id / 4294967296) | 0;
    h = Math.imul(h ^ lo, 0x9e3779b1);
    h = Math.imul(h ^ hi ^ (h >>> 15), 0x85ebca6b);
  } else {
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return h ^ (h >>> 15);
}
