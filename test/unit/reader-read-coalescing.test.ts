import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { FeatureReader } from '../../reader/feature-reader.ts';
import { readReaderConfig } from '../../reader/reader-config.ts';
import { serveFeature } from '../../reader/served-features.ts';
import { StoreGate } from '../../reader/store-gate.ts';
import { openEmbeddedOnlineStore } from '../../stores/online/embedded-online-store.ts';
import type { KeyValues, OnlineStore, ReadOptions } from '../../stores/online/online-store.ts';
import type { AppliedFeature } from '../../stores/registry/applied-feature.ts';
import { readerTestMetrics } from '../reader-test-metrics.ts';

const { definitions } = loadDefinitionsFromText(
  'c.yaml',
  `
coalesce::profile:
  feature_type: Object
  owner: t
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: -1 }
    name: { type: Text, default_value: "" }
`,
);
const def = definitions[0]!;
const feature = serveFeature(
  { name: def.name, revision: 1, fingerprint: 'f', definition: def } as unknown as AppliedFeature,
  readReaderConfig({}).cache,
);

/** The real store, counting the calls of one read method that reach it. */
function countingCalls(
  target: OnlineStore,
  method: 'readObjects' | 'readAggregates',
  calls: { keys: number; fields?: readonly string[] }[],
): OnlineStore {
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (prop === method)
        return (d: FeatureDefinition, keys: readonly KeyValues[], options?: ReadOptions) => {
          calls.push({ keys: keys.length, ...(options?.fields ? { fields: options.fields } : {}) });
          return t[method](d, keys, options);
        };
      return Reflect.get(t, prop, receiver);
    },
  });
}

const ref = (id: number | string) => ({ values: { user_id: id } as KeyValues, id: String(id) });

describe('reader: Object reads of one turn go to the store as one call', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-coalesce-'));
  let store: OnlineStore;
  const calls: { keys: number; fields?: readonly string[] }[] = [];
  let reader: FeatureReader;

  beforeAll(async () => {
    const embedded = await openEmbeddedOnlineStore({ path: dir });
    await embedded.ensureFeature(def);
    await embedded.writeObjects(
      def,
      Array.from({ length: 50 }, (_, i) => ({
        keys: { user_id: i },
        eventTimeMs: 1_000,
        values: { level: i, name: `u${i}` },
      })),
    );
    store = countingCalls(embedded, 'readObjects', calls);
    const metrics = readerTestMetrics();
    reader = new FeatureReader(store, null, null, metrics, 1_000, new StoreGate(64));
  });

  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forty concurrent single-key lookups: one store call, each caller gets its own row', async () => {
    calls.length = 0;
    const got = await Promise.all(
      Array.from({ length: 40 }, (_, i) => reader.read(feature, [ref(i)], undefined, undefined)),
    );
    expect(calls).toEqual([{ keys: 40 }]);
    got.forEach((r, i) => {
      expect(r.rows).toHaveLength(1);
      expect(r.rows[0]!.values).toEqual({ level: i, name: `u${i}` });
    });
  });

  it('groups by projection and stays within the keys-in-flight bound', async () => {
    calls.length = 0;
    const reads = [
      ...Array.from({ length: 50 }, (_, i) =>
        reader.read(feature, [ref(i), ref(i + 1000)], undefined, undefined),
      ),
      reader.read(feature, [ref(3)], ['level'], undefined),
      reader.read(feature, [ref(4)], ['level'], undefined),
    ];
    const got = await Promise.all(reads);
    // 100 keys without projection in calls of at most 64 keys; the projected ones together
    expect(calls).toEqual([{ keys: 64 }, { keys: 36 }, { keys: 2, fields: ['level'] }]);
    expect(got[7]!.rows.map((r) => r.found)).toEqual([true, false]);
    expect(got[50]!.rows[0]!.values).toEqual({ level: 3 });
  });

  it('a key the store refuses fails only its own caller', async () => {
    calls.length = 0;
    const results = await Promise.allSettled([
      reader.read(feature, [ref(1)], undefined, undefined),
      reader.read(feature, [ref('not-a-number')], undefined, undefined),
      reader.read(feature, [ref(2)], undefined, undefined),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/user_id/);
    expect(calls[0]).toEqual({ keys: 3 });
  });
});

describe('reader: Aggregation reads of one turn go to the store as one call', () => {
  const { definitions: aggregations } = loadDefinitionsFromText(
    'a.yaml',
    `
coalesce::activity:
  feature_type: Aggregation
  owner: t
  schema:
    user_id: { type: Long, is_key_field: true }
    chat_duration: { type: Long }
    match_count_10m: { aggregate: { function: count, window: 10m } }
    chat_seconds_lifetime: { aggregate: { function: sum, of: chat_duration, window: lifetime } }
`,
  );
  const aggregation = aggregations[0]!;
  const served = serveFeature(
    {
      name: aggregation.name,
      revision: 1,
      fingerprint: 'a',
      definition: aggregation,
    } as unknown as AppliedFeature,
    readReaderConfig({}).cache,
  );
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-coalesce-agg-'));
  let store: OnlineStore;
  const calls: { keys: number; fields?: readonly string[] }[] = [];
  let reader: FeatureReader;
  const now = Date.now();

  beforeAll(async () => {
    const embedded = await openEmbeddedOnlineStore({ path: dir });
    await embedded.ensureFeature(aggregation);
    await embedded.writeAggregateEvents(
      aggregation,
      Array.from({ length: 30 }, (_, i) => ({
        keys: { user_id: i % 10 },
        eventTimeMs: now - 60_000 + i,
        eventId: `e${i}`,
        values: { chat_duration: i },
      })),
    );
    store = countingCalls(embedded, 'readAggregates', calls);
    reader = new FeatureReader(store, null, null, readerTestMetrics(), 1_000, new StoreGate(64));
  });

  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('twenty concurrent single-key lookups: one store call, each caller gets its own row', async () => {
    calls.length = 0;
    const got = await Promise.all(
      Array.from({ length: 20 }, (_, i) => reader.read(served, [ref(i)], undefined, undefined)),
    );
    expect(calls).toEqual([{ keys: 20 }]);
    got.forEach((r, i) => {
      // keys 0-9 have events i, i + 10 and i + 20; keys 10-19 none
      expect(r.rows[0]!.values).toEqual(
        i < 10
          ? { match_count_10m: 3, chat_seconds_lifetime: 3 * i + 30 }
          : { match_count_10m: 0, chat_seconds_lifetime: 0 },
      );
    });
  });

  it('a projection onto an input fails only its own caller', async () => {
    calls.length = 0;
    const results = await Promise.allSettled([
      reader.read(served, [ref(1)], undefined, undefined),
      reader.read(served, [ref(2)], ['chat_duration'], undefined),
      reader.read(served, [ref(3)], ['match_count_10m'], undefined),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/chat_duration/);
    expect(
      (results[2] as PromiseFulfilledResult<{ rows: { values: unknown }[] }>).value.rows[0]!.values,
    ).toEqual({
      match_count_10m: 3,
    });
  });
});
