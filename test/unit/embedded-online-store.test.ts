import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../config/settings.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import {
  type EmbeddedOnlineStore,
  openEmbeddedOnlineStore,
} from '../../stores/online/embedded-online-store.ts';
import { openOnlineStore } from '../../stores/online/open-online-store.ts';
import { describeOnlineStoreConformance } from '../conformance/online-store-conformance.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-online-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeOnlineStoreConformance('embedded (LMDB)', () =>
  openEmbeddedOnlineStore({ path: path.join(dir, 'conformance') }),
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
