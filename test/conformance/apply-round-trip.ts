import { describe, expect, it } from 'vitest';
import { applyPlan } from '../../apply/apply-definitions.ts';
import { planApply } from '../../apply/apply-plan.ts';
import type { ApplyTarget } from '../../apply/apply-target.ts';
import { OfflineStoreTarget } from '../../apply/offline-store-target.ts';
import { OnlineStoreTarget } from '../../apply/online-store-target.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitions, loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { featureTableName } from '../../stores/offline/column-types.ts';
import { deadLetterTable, type OfflineStore } from '../../stores/offline/offline-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { DefinitionRegistry } from '../../stores/registry/definition-registry.ts';

const roomV1 = `live::apply-room:
  feature_type: Object
  owner: owen
  schema:
    room_id: {type: Text, is_key_field: true}
    viewers: {type: Long, default_value: 0}
`;

function defs(yaml: string): FeatureDefinition[] {
  const { definitions, errors } = loadDefinitionsFromText('features/test.yaml', yaml);
  expect(errors).toEqual([]);
  return definitions;
}

export interface ApplyStores {
  online: OnlineStore;
  offline: OfflineStore;
}

/** plan and apply against real stores: the same checks for the embedded ones and for Cassandra + BigQuery. */
export function describeApplyRoundTrip(name: string, openStores: () => Promise<ApplyStores>): void {
  // each test opens the stores; `store` is the online one, closed with the offline one
  const openStore = async () => {
    const { online, offline } = await openStores();
    const close = online.close.bind(online);
    return Object.assign(online, {
      offline,
      close: async () => {
        await Promise.allSettled([close(), offline.close()]);
      },
    });
  };
  const targetsOf = (store: OnlineStore & { offline: OfflineStore }): ApplyTarget[] => [
    new OnlineStoreTarget(store),
    new OfflineStoreTarget(store.offline),
  ];
  describe(`ferry plan/apply round trip (${name})`, () => {
    it('creates every sample feature, then a second apply changes nothing', async () => {
      const store = await openStore();
      try {
        const { definitions } = await loadDefinitions(['features']);
        const registry = new DefinitionRegistry(store);
        const targets = targetsOf(store);
        const first = await planApply(definitions, registry, targets);
        expect(first.features.map((f) => f.action)).toEqual(definitions.map(() => 'create'));
        expect(first.features.every((f) => f.resources.every((r) => r.action === 'create'))).toBe(true);
        // the dead-letter table is planned once, with the first feature
        expect(first.features.map((f) => f.resources.map((r) => r.name))).toEqual(
          first.features.map((f, i) => [
            f.name,
            featureTableName(f.definition!),
            ...(i === 0 ? [deadLetterTable] : []),
          ]),
        );
        const result = await applyPlan(first, registry, targets);
        for (const d of definitions) {
          // an Aggregation's offline table holds its values as served, not the inputs of its events
          const columns = d.fields.filter((f) => f.isKey || f.aggregate || d.featureType !== 'Aggregation');
          expect((await store.offline.describeTable(featureTableName(d)))?.map((c) => c.name)).toEqual(
            expect.arrayContaining([...columns.map((f) => f.name), '_last_updated_at_ms']),
          );
        }
        expect(result.applied.sort()).toEqual(definitions.map((d) => d.name).sort());
        const applied = await registry.list();
        expect(applied.map((a) => [a.name, a.revision])).toEqual(
          definitions.map((d) => [d.name, 1] as const).sort((a, b) => a[0].localeCompare(b[0])),
        );
        expect(applied.every((a) => /^[0-9a-f]{16}$/.test(a.fingerprint))).toBe(true);

        const second = await planApply(definitions, registry, targets);
        expect(second.empty).toBe(true);
        expect(await applyPlan(second, registry, targets)).toEqual({ applied: [], retired: [] });
      } finally {
        await store.close();
      }
    });

    it('applies a compatible change in place; values written before read with the new default', async () => {
      const store = await openStore();
      try {
        const registry = new DefinitionRegistry(store);
        const targets = targetsOf(store);
        const [v1] = defs(roomV1);
        await applyPlan(await planApply([v1!], registry, targets), registry, targets);
        await store.writeObjects(v1!, [
          { keys: { room_id: 'r1' }, values: { viewers: 12 }, eventTimeMs: 1_000 },
        ]);

        const [v2] = defs(`${roomV1}    has_guest: {type: Boolean, default_value: true}\n`);
        const plan = await planApply([v2!], registry, targets);
        expect(plan.features[0]).toMatchObject({ action: 'update', refusals: [] });
        expect(plan.features[0]!.changes.map((c) => c.path)).toEqual(['schema.has_guest']);
        expect(plan.features[0]!.resources.map((r) => r.action)).toEqual(['update', 'update']);
        await applyPlan(plan, registry, targets);
        expect((await store.offline.describeTable(featureTableName(v2!)))?.map((c) => c.name)).toContain(
          'has_guest',
        );
        expect((await registry.get('live::apply-room'))?.revision).toBe(2);
        expect((await registry.get('live::apply-room'))?.history.map((h) => h.revision)).toEqual([1]);

        const [read] = await store.readObjects(v2!, [{ room_id: 'r1' }]);
        expect(read).toEqual({
          found: true,
          values: { viewers: 12, has_guest: true },
          lastUpdatedAtMs: 1_000,
        });
      } finally {
        await store.close();
      }
    });

    it('applies a widening in place (Int → Long, Float → Double): stored values read as the new type, online and offline', async () => {
      const store = await openStore();
      try {
        const registry = new DefinitionRegistry(store);
        const targets = targetsOf(store);
        const narrow = `live::apply-widen:
  feature_type: Object
  owner: owen
  schema:
    room_id: {type: Text, is_key_field: true}
    viewers: {type: Int, default_value: 0}
    ratio: {type: Float, default_value: 0}
`;
        const [v1] = defs(narrow);
        await applyPlan(await planApply([v1!], registry, targets), registry, targets);
        const t = Date.parse('2024-03-10T00:00:00Z');
        await store.writeObjects(v1!, [
          { keys: { room_id: 'r1' }, values: { viewers: 12, ratio: 0.5 }, eventTimeMs: t },
        ]);
        const table = featureTableName(v1!);
        await store.offline.appendRows(table, [
          { room_id: 'r1', viewers: 12, ratio: 0.5, _last_updated_at_ms: t },
        ]);

        const [v2] = defs(narrow.replace('type: Int', 'type: Long').replace('type: Float', 'type: Double'));
        const plan = await planApply([v2!], registry, targets);
        expect(plan.features[0]).toMatchObject({ action: 'update', refusals: [] });
        expect(plan.features[0]!.changes).toEqual([
          {
            path: 'schema.viewers.type',
            before: 'Int',
            after: 'Long',
            note: 'widened: stored Int values read as Long; the offline column is altered',
          },
          {
            path: 'schema.ratio.type',
            before: 'Float',
            after: 'Double',
            note: 'widened: stored Float values read as Double; the offline column is altered',
          },
        ]);
        expect(plan.features[0]!.resources).toEqual([
          expect.objectContaining({ name: table, action: 'update' }),
        ]);
        await applyPlan(plan, registry, targets);
        expect((await registry.get('live::apply-widen'))?.revision).toBe(2);
        const columns = new Map((await store.offline.describeTable(table))!.map((c) => [c.name, c.type]));
        expect(columns.get('viewers')).toEqual({ kind: 'scalar', scalar: 'Long' });
        expect(columns.get('ratio')).toEqual({ kind: 'scalar', scalar: 'Double' });

        // written before, read after; values the old types refused fit now
        await store.writeObjects(v2!, [
          { keys: { room_id: 'r2' }, values: { viewers: 30_000_000_000, ratio: 1e300 }, eventTimeMs: t },
        ]);
        await store.offline.appendRows(table, [
          { room_id: 'r2', viewers: 30_000_000_000, ratio: 1e300, _last_updated_at_ms: t },
        ]);
        expect(await store.readObjects(v2!, [{ room_id: 'r1' }, { room_id: 'r2' }])).toEqual([
          { found: true, values: { viewers: 12, ratio: 0.5 }, lastUpdatedAtMs: t },
          { found: true, values: { viewers: 30_000_000_000, ratio: 1e300 }, lastUpdatedAtMs: t },
        ]);
        const rows = await store.offline.readRows(table, { orderBy: ['room_id'] });
        expect(rows.map((r) => [r.room_id, r.viewers, r.ratio])).toEqual([
          ['r1', 12, 0.5],
          ['r2', 30_000_000_000, 1e300],
        ]);

        // narrowing back is refused with the message it always had, and changes nothing
        const back = await planApply([v1!], registry, targets);
        expect(back.features[0]!.refusals).toEqual([
          'schema.viewers.type: changing a field type makes stored values unreadable (publish it under a new version name, e.g. live::apply-widen-v2)',
          'schema.ratio.type: changing a field type makes stored values unreadable (publish it under a new version name, e.g. live::apply-widen-v2)',
        ]);
        await expect(applyPlan(back, registry, targets)).rejects.toThrow(
          'apply refused; nothing was changed',
        );
        expect((await registry.get('live::apply-widen'))?.revision).toBe(2);
        expect((await store.offline.describeTable(table))!.find((c) => c.name === 'viewers')!.type).toEqual({
          kind: 'scalar',
          scalar: 'Long',
        });
      } finally {
        await store.close();
      }
    });

    it('refuses an incompatible change and changes nothing', async () => {
      const store = await openStore();
      try {
        const registry = new DefinitionRegistry(store);
        const targets = targetsOf(store);
        const [v1] = defs(roomV1.replace('apply-room', 'apply-room-b'));
        await applyPlan(await planApply([v1!], registry, targets), registry, targets);
        const [bad] = defs(roomV1.replace('apply-room', 'apply-room-b').replace('type: Long', 'type: Int'));
        const [other] = defs(roomV1.replace('apply-room', 'apply-room-c'));
        const plan = await planApply([bad!, other!], registry, targets);
        expect(plan.refused).toBe(true);
        expect(plan.features.find((f) => f.name === 'live::apply-room-b')?.refusals).toEqual([
          'schema.viewers.type: changing a field type makes stored values unreadable (publish it under a new version name, e.g. live::apply-room-b-v2)',
        ]);
        await expect(applyPlan(plan, registry, targets)).rejects.toThrow(
          'apply refused; nothing was changed',
        );
        expect((await registry.get('live::apply-room-b'))?.definition.fields[1]?.type).toEqual({
          kind: 'scalar',
          scalar: 'Long',
        });
        expect(await registry.get('live::apply-room-c')).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it('retires a feature that left features/, keeping its data', async () => {
      const store = await openStore();
      try {
        const registry = new DefinitionRegistry(store);
        const targets = targetsOf(store);
        const [gone] = defs(roomV1.replace('apply-room', 'apply-room-gone'));
        await applyPlan(await planApply([gone!], registry, targets), registry, targets);
        await store.writeObjects(gone!, [{ keys: { room_id: 'x' }, values: { viewers: 3 }, eventTimeMs: 5 }]);
        const others = (await registry.list()).filter((a) => a.name !== gone!.name).map((a) => a.definition);
        const plan = await planApply(others, registry, targets);
        expect(plan.features.filter((f) => f.action === 'retire').map((f) => f.name)).toEqual([
          'live::apply-room-gone',
        ]);
        expect(await applyPlan(plan, registry, targets)).toEqual({
          applied: [],
          retired: ['live::apply-room-gone'],
        });
        expect((await registry.list()).map((a) => a.name)).not.toContain('live::apply-room-gone');
        expect((await store.readObjects(gone!, [{ room_id: 'x' }]))[0]?.values.viewers).toBe(3);
      } finally {
        await store.close();
      }
    });
  });
}
