import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../config/settings.ts';
import { DAY, HOUR, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import { aggregationSpecOf } from '../../domain/aggregations/aggregation-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { sweepEveryMs } from '../../stores/online/embedded-aggregation-state.ts';
import {
  type EmbeddedOnlineStore,
  openEmbeddedOnlineStore,
} from '../../stores/online/embedded-online-store.ts';
import { openOnlineStore } from '../../stores/online/open-online-store.ts';
import { describeInlineAggregationConformance } from '../conformance/inline-aggregation-conformance.ts';
import { describeOnlineStoreConformance } from '../conformance/online-store-conformance.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-online-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeOnlineStoreConformance('embedded (LMDB)', () =>
  openEmbeddedOnlineStore({ path: path.join(dir, 'conformance') }),
);

describeInlineAggregationConformance(
  'embedded (LMDB)',
  () => openEmbeddedOnlineStore({ path: path.join(dir, 'inline') }),
  async (store, def, userId) => {
    const lmdb = store as EmbeddedOnlineStore;
    const meta = lmdb.aggregateKeyRow(def, { user_id: userId });
    // one key per feature here: the feature's entries are the key's
    return { entries: lmdb.storedEntryCount(def), inline: meta?.inline !== undefined };
  },
);

describe('embedded online store: what LMDB holds', () => {
  const { definitions } = loadDefinitionsFromText(
    'embedded.yaml',
    `
embedded::recent:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    peer: { type: Long, default_value: 0 }
  history:
    max_entries_per_key: 3
embedded::brief:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
    rank: { type: Int, default_value: 0 }
  retention:
    online: 1s
`,
  );
  const recent = definitions.find((d) => d.name === 'embedded::recent')!;
  const brief = definitions.find((d) => d.name === 'embedded::brief')!;
  let store: EmbeddedOnlineStore;

  beforeAll(async () => {
    store = await openEmbeddedOnlineStore({ path: path.join(dir, 'layout') });
    await store.ensureFeature(recent);
    await store.ensureFeature(brief);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('trims History to the maximum entries per key when appending', async () => {
    for (let t = 1; t <= 10; t++) {
      await store.appendHistory(recent, [
        { keys: { user_id: 1 }, eventTimeMs: t, values: { peer: t } },
        { keys: { user_id: 2 }, eventTimeMs: 11 - t, values: { peer: t } },
      ]);
    }
    expect(store.storedEntryCount(recent)).toBe(6);
    const [a, b] = await store.readHistory(recent, [{ user_id: 1 }, { user_id: 2 }]);
    expect(a!.entries.map((e) => e.eventTimeMs)).toEqual([10, 9, 8]);
    expect(b!.entries.map((e) => e.eventTimeMs)).toEqual([10, 9, 8]);
  });

  it('sweepExpired removes expired values, field by field', async () => {
    const now = Date.now();
    await store.writeObjects(brief, [
      { keys: { user_id: 1 }, eventTimeMs: now - 900, values: { level: 1, rank: 1 } },
      { keys: { user_id: 1 }, eventTimeMs: now, values: { rank: 2 } },
      { keys: { user_id: 2 }, eventTimeMs: now - 900, values: { level: 5 } },
    ]);
    expect(store.storedEntryCount(brief)).toBe(2);
    expect(await store.sweepExpired(brief, now + 500)).toBe(2);
    // key 2 had only the expired field and is gone; key 1 keeps its newer field
    expect(store.storedEntryCount(brief)).toBe(1);
    expect(await store.sweepExpired(brief, now + 500)).toBe(0);
  });
});

describe('embedded online store: an Aggregation key keeps the size of its windows', () => {
  const { definitions } = loadDefinitionsFromText(
    'embedded-aggregation.yaml',
    `
embedded::matches:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    match_count_10m: { aggregate: { function: count, window: 10m } }
    match_count_1d: { aggregate: { function: count, window: 1d } }
    match_count_lifetime: { aggregate: { function: count, window: lifetime } }
  aggregation:
    allowed_lateness: 10m
`,
  );
  const def = definitions[0]!;

  it('raw minutes past the raw horizon and partials past the longest window are removed as the key moves on', async () => {
    const where = path.join(dir, 'aggregation-expiry');
    const store = await openEmbeddedOnlineStore({ path: where });
    await store.ensureFeature(def);
    const t0 = Date.parse('2024-01-01T00:00:00Z');
    // an event every 2 minutes for 20 days, written as they happen: more than an inline entry
    // holds, so the key keeps its pieces in entries of their own
    let n = 0;
    for (let t = t0; t < t0 + 20 * DAY; t += 2 * MINUTE) {
      await store.writeAggregateEvents(
        def,
        [{ keys: { user_id: 1 }, eventTimeMs: t, eventId: `e${n++}`, values: {} }],
        t,
      );
    }
    const end = t0 + 20 * DAY;
    expect((await store.readAggregates(def, [{ user_id: 1 }], { atMs: end }))[0]!.values).toEqual({
      // (end − 10 min, end]: the events at end − 2, 4, 6 and 8 min; a day: 719 of them
      match_count_10m: 4,
      match_count_1d: 719,
      match_count_lifetime: n,
    });
    await store.close();
    const { open } = await import('lmdb');
    const root = open({ path: where, readOnly: true });
    const db = root.openDB({ name: `aggregates:${def.name}`, encoding: 'binary' });
    const oldest = new Map<number, number>();
    const count = new Map<number, number>();
    for (const { key } of db.getRange({ start: [1], end: [2] })) {
      const [, level, start] = key as [number, number, number | undefined];
      count.set(level, (count.get(level) ?? 0) + 1);
      if (start !== undefined && !oldest.has(level)) oldest.set(level, start);
    }
    await root.close();
    const spec = aggregationSpecOf(def);
    // raw minutes: the raw horizon, plus the sweep interval at most
    expect(end - oldest.get(1)!).toBeLessThanOrEqual(spec.rawHorizonMs + sweepEveryMs + 2 * MINUTE);
    // minute and hour partials: the longest window and the lateness (a day and a bit), not 20 days
    expect(end - oldest.get(2)!).toBeLessThanOrEqual(spec.bucketRetentionMs + sweepEveryMs + 2 * MINUTE);
    expect(end - oldest.get(3)!).toBeLessThanOrEqual(spec.bucketRetentionMs + sweepEveryMs + HOUR);
    // day partials: folded into the lifetime partial, then gone past the window
    expect(count.get(4)!).toBeLessThanOrEqual(4);
    expect(count.get(2)!).toBeLessThan(3 * 24 * 60);
  }, 120_000);
});

describe('openOnlineStore', () => {
  it('opens the embedded store under the data directory by default', async () => {
    const store = await openOnlineStore({ ...readSettings({}), dataDir: path.join(dir, 'data') });
    try {
      expect(store.kind).toBe('embedded');
      await store.putMeta('k', 'v');
      expect(await store.getMeta('k')).toBe('v');
    } finally {
      await store.close();
    }
  });

  it('refuses an unknown store name', () => {
    expect(() => readSettings({ FERRY_ONLINE_STORE: 'redis' })).toThrow(
      'FERRY_ONLINE_STORE must be embedded or cassandra, not "redis"',
    );
  });
});
