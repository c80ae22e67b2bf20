import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../bench/seeded-random.ts';
import { RowCache } from '../../reader/row-cache.ts';
import type { CachedRow } from '../../reader/row-json.ts';

const row = (json: string): CachedRow => ({
  found: true,
  lastUpdatedAtMs: 1,
  values: {},
  entries: null,
  body: Buffer.from(json),
  bytes: 3 * json.length + 160,
});

/** ~890 bytes with its key and bookkeeping: four fit in 4,000. */
const r = row('x'.repeat(200));

/** What the reader does on a lookup: ask, and keep the row read on a miss. */
function lookup(cache: RowCache, scope: string, id: string | number, now = 0): boolean {
  if (cache.get(scope, id, now) !== undefined) return true;
  cache.set(scope, id, r, 1000, 1000);
  return false;
}

const random = seededRandom;

/** Ranks 1..n with P(k) ∝ 1/k (s = 1), by inverting the cumulative sum. */
function zipf(n: number, next: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = sum += 1 / k;
  return () => {
    const u = next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

describe('RowCache', () => {
  it('keeps rows within its byte bound, gives read rows a second chance, and admits by frequency', () => {
    const cache = new RowCache(4000);
    for (const k of [1, 2, 3, 4]) lookup(cache, 'f#1|', k);
    expect(cache.size).toBe(4);
    expect(cache.get('f#1|', 1, 0)?.fresh).toBe(true); // read: a second chance
    // 5 asked for three times: clearly more often than the row it pushes out (2, the oldest
    // unread, asked for once); twice would not do (a margin of one keeps the tail from churning)
    expect(lookup(cache, 'f#1|', 5)).toBe(false);
    expect(lookup(cache, 'f#1|', 5)).toBe(false);
    expect(cache.get('f#1|', 5, 0)).toBeUndefined();
    expect(lookup(cache, 'f#1|', 5)).toBe(false);
    expect(cache.bytes).toBeLessThanOrEqual(4000);
    expect(cache.get('f#1|', 5, 0)).toBeDefined();
    expect(cache.get('f#1|', 2, 0)).toBeUndefined();
    expect(cache.get('f#1|', 1, 0)).toBeDefined();
    expect(cache.evictions).toBe(1);
    // 6 asked for once: no more often than any cached row, so it is not kept
    const rejected = cache.rejections;
    expect(lookup(cache, 'f#1|', 6)).toBe(false);
    expect(cache.rejections).toBe(rejected + 1);
    expect(cache.rejections).toBe(3); // 5 twice, then 6
    expect(cache.get('f#1|', 6, 0)).toBeUndefined();
    expect(cache.size).toBe(4);
    // another feature's hot row pushes out an unread row, wherever it is
    for (let i = 0; i < 5; i++) lookup(cache, 'g#1|', 'a');
    expect(cache.get('g#1|', 'a', 0)).toBeDefined();
    expect(cache.size).toBe(4);
    expect(cache.get('f#1|', '1', 0)).toBeUndefined(); // the number 1 and the text '1' are different keys
  });

  it('serves past freshness as stale until the stale window ends, replaces in place, deletes, clears', () => {
    const cache = new RowCache(100_000);
    cache.set('f#1|', 's', r, 10, 20);
    expect(cache.get('f#1|', 's', 5)).toEqual({ row: r, fresh: true });
    expect(cache.get('f#1|', 's', 15)).toEqual({ row: r, fresh: false });
    expect(cache.get('f#1|', 's', 25)).toBeUndefined();
    // kept past its stale window for the read that follows the miss
    expect(cache.size).toBe(1);
    cache.delete('f#1|', 's');
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    // a row larger than the whole cache is not kept
    cache.set('f#1|', 'huge', row('y'.repeat(50_000)), 1000, 1000);
    expect(cache.get('f#1|', 'huge', 0)).toBeUndefined();
    // a newer row of a cached key replaces it, bytes follow
    cache.set('f#1|', 1, r, 1000, 1000);
    const bigger = row('z'.repeat(400));
    cache.set('f#1|', 1, bigger, 2000, 2000);
    expect(cache.size).toBe(1);
    expect(cache.get('f#1|', 1, 1500)).toEqual({ row: bigger, fresh: true });
    expect(cache.bytes).toBe(bigger.bytes + 8 + 120);
    cache.delete('f#1|', 1);
    expect(cache.get('f#1|', 1, 0)).toBeUndefined();
    expect(cache.bytes).toBe(0);
    cache.set('f#1|', 2, r, 1000, 1000);
    cache.clear();
    expect(cache.get('f#1|', 2, 0)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('renews an expired row read again unchanged in place, and replaces a changed one', () => {
    const cache = new RowCache(100_000);
    cache.set('f#1|', 7, r, 10, 10);
    const kept = cache.get('f#1|', 7, 5)!.row;
    expect(kept).not.toBe(r); // the cache keeps its own copy
    expect(cache.get('f#1|', 7, 11)).toBeUndefined(); // expired: a miss
    cache.set('f#1|', 7, row('x'.repeat(200)), 30, 30); // the same row, read again
    expect(cache.get('f#1|', 7, 20)).toEqual({ row: kept, fresh: true }); // renewed, not copied
    const bytes = cache.bytes;
    const newer = { ...row('x'.repeat(200)), lastUpdatedAtMs: 2 };
    cache.set('f#1|', 7, newer, 40, 40);
    expect(cache.get('f#1|', 7, 35)?.row).toEqual(newer);
    expect(cache.get('f#1|', 7, 35)?.row).not.toBe(kept);
    expect(cache.bytes).toBe(bytes);
    const changed = row('w'.repeat(200));
    cache.set('f#1|', 7, { ...changed, lastUpdatedAtMs: 2 }, 50, 50);
    expect(cache.get('f#1|', 7, 45)?.row.body.toString()).toBe('w'.repeat(200));
    expect(cache.size).toBe(1);
  });

  it('evicts in constant work per row: the hand never walks deleted entries', () => {
    // the load that made the old Map-walking eviction slow: a full cache, every miss evicting
    const cache = new RowCache(200 * 900);
    const next = random(7);
    let sets = 0;
    for (let i = 0; i < 200_000; i++) {
      const id = Math.floor(next() * 1_000_000);
      // each key asked for 1 to 3 times: some get in, pushing out rows, some do not
      for (let j = 0; j <= i % 3; j++) cache.get('f', id, 0);
      cache.set('f', id, r, 1000, 1000);
      sets++;
      if (i % 5 === 0) cache.delete('f', Math.floor(next() * 1_000_000));
    }
    expect(cache.bytes).toBeLessThanOrEqual(200 * 900);
    expect(cache.evictions).toBeGreaterThan(5_000);
    expect(cache.handSteps / sets).toBeLessThan(4);
  });

  it('on a Zipf load it keeps the hot keys; on a uniform one it does not churn', () => {
    const n = 100_000;
    const capacity = 2_000; // rows that fit
    const run = (pick: () => number) => {
      const cache = new RowCache(capacity * 890);
      let hits = 0;
      const requests = 300_000;
      for (let i = 0; i < requests; i++) if (lookup(cache, 'f', pick())) hits++;
      return { hitRatio: hits / requests, evictions: cache.evictions };
    };
    const skewed = run(zipf(n, random(1)));
    // the most a cache of 2% of the keys can hit on Zipf(1) over 100k keys is the mass of
    // the top 2,000 ranks: H(2000)/H(100000) ≈ 0.68; CLOCK alone gets ~0.55 here
    expect(skewed.hitRatio).toBeGreaterThan(0.6);
    const next = random(2);
    const uniform = run(() => 1 + Math.floor(next() * n));
    expect(uniform.hitRatio).toBeLessThan(0.05);
    // one-hit keys mostly stay out: far fewer evictions than misses
    expect(uniform.evictions).toBeLessThan(0.2 * 300_000);
  });
});
