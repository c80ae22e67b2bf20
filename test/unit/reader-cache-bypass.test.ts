import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../bench/seeded-random.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { FeatureReader } from '../../reader/feature-reader.ts';
import { readReaderConfig } from '../../reader/reader-config.ts';
import { RowCache } from '../../reader/row-cache.ts';
import { serveFeature } from '../../reader/served-features.ts';
import { StoreGate } from '../../reader/store-gate.ts';
import { openEmbeddedOnlineStore } from '../../stores/online/embedded-online-store.ts';
import type { KeyValues, OnlineStore } from '../../stores/online/online-store.ts';
import type { AppliedFeature } from '../../stores/registry/applied-feature.ts';
import { readerTestMetrics } from '../reader-test-metrics.ts';

// The reader skips a feature's cache while it hits under 5% of the keys (a full cache that only
// costs), still sending one lookup in 16 through it, and goes back to it when the keys turn skewed.

const { definitions } = loadDefinitionsFromText(
  'b.yaml',
  `
bypass::profile:
  feature_type: Object
  owner: t
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: -1 }
`,
);
const def = definitions[0]!;
const feature = serveFeature(
  { name: def.name, revision: 1, fingerprint: 'f', definition: def } as unknown as AppliedFeature,
  { ...readReaderConfig({}).cache, batchTtlMs: 600_000 },
);

const random = seededRandom;

describe('reader: a cache that does not hit is bypassed, and comes back when keys turn skewed', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bypass-'));
  let store: OnlineStore;
  const keyCount = 20_000;

  beforeAll(async () => {
    store = await openEmbeddedOnlineStore({ path: dir });
    await store.ensureFeature(def);
    for (let lo = 0; lo < keyCount; lo += 5_000)
      await store.writeObjects(
        def,
        Array.from({ length: 5_000 }, (_, i) => ({
          keys: { user_id: lo + i },
          eventTimeMs: 1_000,
          values: { level: (lo + i) % 97 },
        })),
      );
  });

  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('switches by the hit ratio of full windows, and answers the same rows either way', async () => {
    const metrics = readerTestMetrics();
    // room for ~300 rows of 20,000: uniform keys hit about 1.5%
    const reader = new FeatureReader(store, new RowCache(300_000), null, metrics, 5_000, new StoreGate(4096));
    const counters = metrics.feature(feature.name);
    const lookup = async (id: number) => {
      const r = await reader.read(
        feature,
        [{ values: { user_id: id } as KeyValues, id }],
        undefined,
        undefined,
      );
      expect(r.rows[0]!.values).toEqual({ level: id % 97 });
    };
    const next = random(3);
    // uniform: after the first full windows, lookups skip the cache
    for (let i = 0; i < 60_000; i++) await lookup(Math.floor(next() * keyCount));
    const bypassedUniform = counters.cacheBypassed;
    expect(bypassedUniform).toBeGreaterThan(20_000);
    // about one lookup in 16 still goes through the cache meanwhile
    const before = {
      hits: counters.cacheHits,
      misses: counters.cacheMisses,
      bypassed: counters.cacheBypassed,
    };
    for (let i = 0; i < 16_000; i++) await lookup(Math.floor(next() * keyCount));
    const through = counters.cacheHits + counters.cacheMisses - before.hits - before.misses;
    expect(through).toBe(1_000);
    expect(counters.cacheBypassed - before.bypassed).toBe(15_000);
    // skewed: 50 hot keys; the sampled lookups hit, and at the end of a window the cache is back
    let bypassedAtSwitch = 0;
    for (let i = 0; i < 400_000; i++) {
      await lookup(Math.floor(next() * 50));
      if (i % 1000 === 999) {
        if (counters.cacheBypassed === bypassedAtSwitch) break;
        bypassedAtSwitch = counters.cacheBypassed;
      }
    }
    const settled = counters.cacheBypassed;
    const hitsBefore = counters.cacheHits;
    for (let i = 0; i < 5_000; i++) await lookup(Math.floor(next() * 50));
    expect(counters.cacheBypassed).toBe(settled);
    expect(counters.cacheHits - hitsBefore).toBeGreaterThan(4_900);
  });
});
