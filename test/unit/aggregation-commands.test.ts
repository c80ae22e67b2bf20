import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { featureTableName } from '../../stores/offline/column-types.ts';
import { DuckDbOfflineStore } from '../../stores/offline/duckdb-offline-store.ts';
import { openEmbeddedOnlineStore } from '../../stores/online/embedded-online-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { harness, records } from './command-test-harness.ts';

// Commands of an Aggregation feature through the command processor the worker runs (issue 18):
// counted once per event id (or per Kafka offset), late ones to dead letters with the reason, and
// downsync writes the values as served right after each sampled event.

const { definitions, errors } = loadDefinitionsFromText(
  'features/agg.yaml',
  `agg::clicks:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: {type: Long, is_key_field: true}
    n: {type: Long}
    clicks_10m: {aggregate: {function: count, window: 10m}}
    n_sum_10m: {aggregate: {function: sum, of: n, window: 10m}}
    clicks_lifetime: {aggregate: {function: count, window: lifetime}}
  aggregation:
    allowed_lateness: 5m
  downsync:
    enabled: true
    min_interval_by_key: 1s
`,
);
if (errors.length) throw new Error(JSON.stringify(errors));
const def: FeatureDefinition = definitions[0]!;
const dir = mkdtempSync(path.join(tmpdir(), 'ferry-agg-commands-'));
let online: OnlineStore;
let offline: DuckDbOfflineStore;

beforeAll(async () => {
  online = await openEmbeddedOnlineStore({ path: path.join(dir, 'online') });
  offline = await DuckDbOfflineStore.open({ path: ':memory:', sqlDir: 'sql' });
  await online.ensureFeature(def);
  await offline.ensureFeatureTables(def);
});

afterAll(async () => {
  await online.close();
  await offline.close();
  rmSync(dir, { recursive: true, force: true });
});

// recent: the store keeps what windows as of now need (a minute-aligned hour ago)
const T = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;
const click = (user: number, t: number, n: number, id?: string) =>
  JSON.stringify({
    feature_name: 'agg::clicks',
    method: 'APPEND',
    keys: { user_id: user },
    values: { n, _last_updated_at_ms: t, ...(id ? { _event_id: id } : {}) },
  });

describe('Aggregation commands through the command processor (embedded stores)', () => {
  it('count once per id and per Kafka offset, send late ones to dead letters, downsync the values as served', async () => {
    const h = harness(online, offline, [def], { downsync: { maxAgeMs: 0 } });
    const batch = records([
      click(1, T, 1, 'a'),
      click(1, T + 30_000, 2, 'b'),
      click(1, T + 30_000, 2, 'b'), // the same event again: counted once
      click(1, T + 90_000, 3), // no id: its offset is its id
      click(1, T - 10 * 60_000, 9, 'old'), // 11.5 minutes before the newest: late
      click(2, T + 5_000, 4, 'c'),
    ]);
    await h.process(batch);
    // a redelivery after a restart: the same records (same offsets) again
    await h.process(records([click(1, T + 90_000, 3)], { firstOffset: 3 }));
    const read = async (user: number, at: number) =>
      (await online.readAggregates(def, [{ user_id: user }], { atMs: at }))[0]!;
    expect(await read(1, T + 90_000)).toEqual({
      found: true,
      values: { clicks_10m: 3, n_sum_10m: 6, clicks_lifetime: 3 },
      lastUpdatedAtMs: T + 90_000,
    });
    expect((await read(1, T + 10 * 60_000 + 30_000)).values).toEqual({
      clicks_10m: 1,
      n_sum_10m: 3,
      clicks_lifetime: 3,
    });
    expect((await read(2, T + 5_000)).values).toEqual({ clicks_10m: 1, n_sum_10m: 4, clicks_lifetime: 1 });
    expect(h.deadLetters.letters.map((l) => [l.record.offset, l.feature, l.reason])).toEqual([
      [
        4,
        'agg::clicks',
        `late: event time ${new Date(T - 600_000).toISOString()} is more than the allowed lateness (300000 ms) before the key's newest event (${new Date(T + 90_000).toISOString()})`,
      ],
    ]);

    await h.pipeline.drainPending();
    expect(await h.pipeline.writer.flushAll()).toBe(true);
    const rows = await offline.readRows(featureTableName(def), {
      orderBy: ['user_id', '_last_updated_at_ms'],
    });
    expect(rows.length).toBeGreaterThan(0);
    // each row holds the aggregates as a read at its event time answered them (no inputs)
    for (const r of rows) {
      const at = r._last_updated_at_ms as number;
      const served = await read(r.user_id as number, at);
      expect({ user: r.user_id, at, ...served.values }).toEqual({
        user: r.user_id,
        at,
        clicks_10m: r.clicks_10m,
        n_sum_10m: r.n_sum_10m,
        clicks_lifetime: r.clicks_lifetime,
      });
      expect(r).not.toHaveProperty('n');
    }
    expect(rows.map((r) => r.user_id)).toContain(2);
  });
});
