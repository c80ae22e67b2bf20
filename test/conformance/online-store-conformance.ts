import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AggregateWindow, DAY, HOUR, MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import { aggregationSpecOf } from '../../domain/aggregations/aggregation-definition.ts';
import type { AggregateEvent } from '../../domain/aggregations/partial-aggregate.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitions, loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import {
  type AggregateOutcome,
  type KeyValues,
  type ObjectReadResult,
  type OnlineStore,
  OnlineStoreInputError,
} from '../../stores/online/online-store.ts';
import {
  allFields,
  bruteForce,
  expectField,
  inWindow,
  mulberry32,
  runScenario,
} from '../aggregation-contract.ts';

/**
 * The semantics every online store must keep (issue 4), run against each implementation:
 * test/unit/embedded-online-store.test.ts (LMDB) and
 * test/integration/cassandra-online-store.test.ts (a real Cassandra).
 */

const featuresYaml = `
conformance::profile:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    gender: { type: Text, default_value: "UNKNOWN" }
    level: { type: Long, default_value: 0 }
    score: { type: Double, default_value: 0.5 }
    ratio: { type: Float, default_value: 0 }
    rank: { type: Int, default_value: 0 }
    tags: { type: List<Text>, default_value: [] }
    active: { type: Boolean, default_value: false }
    seen_at: { type: Timestamp, default_value: "1970-01-01T00:00:00Z" }
    avatar: { type: Bytes }

conformance::room-seat:
  feature_type: Object
  owner: test
  schema:
    room_id: { type: Text, is_key_field: true }
    seat: { type: Int, is_key_field: true }
    occupant: { type: Long, default_value: 0 }
    muted: { type: Boolean, default_value: false }

conformance::short-lived:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: -1 }
  retention:
    online: 2s

conformance::matches:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    peer_user_id: { type: Long, default_value: 0 }
    country: { type: Text, default_value: "XX" }
    duration_sec: { type: Int, default_value: 0 }
  history:
    max_entries_per_key: 3

conformance::short-matches:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    peer_user_id: { type: Long, default_value: 0 }
  retention:
    online: 2s

conformance::never-applied:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
`;

// the same feature before and after a compatible change: field c added with a default,
// field b deprecated in v2 and removed in v3
const evolvingV1 = `
conformance::evolving:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    a: { type: Long, default_value: 0 }
    b: { type: Text, default_value: "" }
`;
const evolvingV2 = `
conformance::evolving:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    a: { type: Long, default_value: 0 }
    b: { type: Text, default_value: "", deprecated: true }
    c: { type: Text, default_value: "new" }
    d: { type: List<Long>, default_value: [7] }
`;
const evolvingV3 = `
conformance::evolving:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    a: { type: Long, default_value: 0 }
    c: { type: Text, default_value: "new" }
    d: { type: List<Long>, default_value: [7] }
`;
const historyEvolvingV1 = `
conformance::history-evolving:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    peer: { type: Long, default_value: 0 }
`;
const historyEvolvingV2 = `
conformance::history-evolving:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    peer: { type: Long, default_value: 0 }
    note: { type: Text, default_value: "none" }
`;

/** A feature whose value fields widen from v1 to v2 (issue 19); `kind` Object or History. */
const widening = (kind: 'Object' | 'History', v2: boolean) => `
conformance::widening-${kind.toLowerCase()}:
  feature_type: ${kind}
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    a: { type: ${v2 ? 'Long' : 'Int'}, default_value: 0 }
    b: { type: ${v2 ? 'Double' : 'Float'}, default_value: 0 }
    c: { type: ${v2 ? 'Double' : 'Int'}, default_value: 0 }
    e: { type: ${v2 ? 'List<Long>' : 'List<Int>'}, default_value: [] }
`;

/** An Aggregation feature with every field of the contract's simulation (test/aggregation-contract.ts). */
function aggregationYaml(name: string): string {
  const windowText = (w: AggregateWindow) => (w.kind === 'lifetime' ? 'lifetime' : `${w.ms / 1000}s`);
  const fields = allFields
    .map(
      (f) =>
        `    ${f.name}: {aggregate: {function: ${f.fn}${f.of ? `, of: ${f.of}` : ''}, window: ${windowText(f.window)}${f.n ? `, n: ${f.n}` : ''}}}`,
    )
    .join('\n');
  return `conformance::${name}:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: {type: Long, is_key_field: true}
    duration: {type: Long}
    ratio: {type: Double}
    peer: {type: Long}
    country: {type: Text}
${fields}
  aggregation:
    allowed_lateness: 1h
`;
}

/** The same aggregates fed by events, with their history in a warehouse table (a backfill). */
function aggregationWithHistoryYaml(name: string): string {
  return `${aggregationYaml(name)}  from_events:
    topic: conformance_events
    event_time: ts
    rules:
      - name: all
        keys: {user_id: user}
        values: {_event_id: id, duration: duration, ratio: ratio, peer: peer, country: country}
    backfill: {table: conformance_events}
`;
}

function parse(text: string): Map<string, FeatureDefinition> {
  const { definitions, errors } = loadDefinitionsFromText('conformance.yaml', text);
  if (errors.length > 0) throw new Error(`bad test definitions: ${JSON.stringify(errors)}`);
  return new Map(definitions.map((d) => [d.name, d]));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function inputError(p: Promise<unknown>): Promise<OnlineStoreInputError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to be refused').toBeInstanceOf(OnlineStoreInputError);
  return err as OnlineStoreInputError;
}

async function expectRefused(p: Promise<unknown>, field: string, feature?: string): Promise<void> {
  const err = await inputError(p);
  expect(err.field).toBe(field);
  expect(err.message).toContain(field);
  if (feature) expect(err.feature).toBe(feature);
}

/** A value of every type the sample features use, for round trips. */
function sampleValue(def: FeatureDefinition, field: string, i: number): unknown {
  const f = def.fields.find((x) => x.name === field)!;
  const scalar = f.type.kind === 'scalar' ? f.type.scalar : f.type.item;
  const one = (): unknown => {
    switch (scalar) {
      case 'Text':
        return `${field}-${i}`;
      case 'Long':
        return 1_000_000_000_000 + i;
      case 'Int':
        return 100 + i;
      case 'Double':
        return 0.125 * i;
      case 'Float':
        return 0.5;
      case 'Boolean':
        return i % 2 === 0;
      case 'Timestamp':
        return 1_700_000_000_000 + i;
      case 'Bytes':
        return Buffer.from([i, 1, 2]);
    }
  };
  return f.type.kind === 'list' ? [one(), one()] : one();
}

function sampleKey(def: FeatureDefinition, i: number): KeyValues {
  const keys: KeyValues = {};
  for (const name of def.keyFields) {
    const f = def.fields.find((x) => x.name === name)!;
    keys[name] = f.type.kind === 'scalar' && f.type.scalar === 'Text' ? `key-${i}` : 900_000 + i;
  }
  return keys;
}

export function describeOnlineStoreConformance(name: string, makeStore: () => Promise<OnlineStore>): void {
  describe(`online store conformance: ${name}`, () => {
    const defs = parse(featuresYaml);
    const profile = defs.get('conformance::profile')!;
    const roomSeat = defs.get('conformance::room-seat')!;
    const shortLived = defs.get('conformance::short-lived')!;
    const matches = defs.get('conformance::matches')!;
    const shortMatches = defs.get('conformance::short-matches')!;
    const neverApplied = defs.get('conformance::never-applied')!;
    const evolving1 = parse(evolvingV1).get('conformance::evolving')!;
    const evolving2 = parse(evolvingV2).get('conformance::evolving')!;
    const evolving3 = parse(evolvingV3).get('conformance::evolving')!;
    const historyEvolving1 = parse(historyEvolvingV1).get('conformance::history-evolving')!;
    const historyEvolving2 = parse(historyEvolvingV2).get('conformance::history-evolving')!;
    let store: OnlineStore;
    let nextId = 1;
    /** A user id no other test uses. */
    const freshId = () => nextId++;

    const read1 = async (
      def: FeatureDefinition,
      keys: KeyValues,
      fields?: string[],
    ): Promise<ObjectReadResult> =>
      (await store.readObjects(def, [keys], fields ? { fields } : undefined))[0]!;

    beforeAll(async () => {
      store = await makeStore();
      for (const def of [profile, roomSeat, shortLived, matches, shortMatches, evolving1, historyEvolving1]) {
        await store.ensureFeature(def);
      }
    }, 180_000);

    afterAll(async () => {
      await store?.close();
    });

    it('answers ping and has a kind', async () => {
      await store.ping();
      expect(['embedded', 'cassandra']).toContain(store.kind);
    });

    it('ensureFeature is idempotent: again on a feature with values, it keeps them', async () => {
      await store.ensureFeature(profile);
      const keys = { user_id: freshId() };
      await store.writeObjects(profile, [{ keys, eventTimeMs: 5, values: { level: 4 } }]);
      await store.appendHistory(matches, [{ keys, eventTimeMs: 6, values: { peer_user_id: 9 } }]);
      await store.ensureFeature(profile);
      await store.ensureFeature(matches);
      const [o] = await store.readObjects(profile, [keys]);
      expect(o).toMatchObject({ found: true, values: { level: 4 }, lastUpdatedAtMs: 5 });
      const [h] = await store.readHistory(matches, [keys]);
      expect(h!.entries.map((e) => [e.eventTimeMs, e.values.peer_user_id])).toEqual([[6, 9]]);
    });

    it('ensureFeature refuses another feature type or other key fields for a stored feature', async () => {
      const changed = parse(`
conformance::profile:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
conformance::matches:
  feature_type: History
  owner: test
  schema:
    user_id: { type: Text, is_key_field: true }
    peer_user_id: { type: Long, default_value: 0 }
conformance::room-seat:
  feature_type: Object
  owner: test
  schema:
    room_id: { type: Text, is_key_field: true }
    occupant: { type: Long, default_value: 0 }
`);
      await expectRefused(store.ensureFeature(changed.get('conformance::profile')!), 'feature_type');
      await expectRefused(store.ensureFeature(changed.get('conformance::matches')!), 'user_id');
      await expectRefused(store.ensureFeature(changed.get('conformance::room-seat')!), 'room_id');
      // the stored features are unchanged
      await store.ensureFeature(profile);
      await store.writeObjects(profile, [
        { keys: { user_id: freshId() }, eventTimeMs: 1, values: { level: 1 } },
      ]);
    });

    it('round-trips every field type in the in-memory form', async () => {
      const id = freshId();
      await store.writeObjects(profile, [
        {
          keys: { user_id: id },
          eventTimeMs: 1_000,
          values: {
            gender: 'F',
            level: 9_007_199_254_740_990,
            score: 12.75,
            ratio: 0.25,
            rank: -3,
            tags: ['a', 'b'],
            active: true,
            seen_at: '2024-05-01T12:00:00Z',
            avatar: 'AQID',
          },
        },
      ]);
      const r = await read1(profile, { user_id: id });
      expect(r).toEqual({
        found: true,
        lastUpdatedAtMs: 1_000,
        values: {
          gender: 'F',
          level: 9_007_199_254_740_990,
          score: 12.75,
          ratio: 0.25,
          rank: -3,
          tags: ['a', 'b'],
          active: true,
          seen_at: Date.parse('2024-05-01T12:00:00Z'),
          avatar: Buffer.from([1, 2, 3]),
        },
      });
      expect(Buffer.isBuffer(r.values.avatar)).toBe(true);
    });

    it('round-trips every sample feature under features/', async () => {
      const { definitions, errors } = await loadDefinitions([
        path.resolve(import.meta.dirname, '../../features'),
      ]);
      expect(errors).toEqual([]);
      expect(definitions.length).toBeGreaterThan(0);
      for (const def of definitions) {
        await store.ensureFeature(def);
        const valueFields = def.fields.filter((f) => !f.isKey).map((f) => f.name);
        const now = Date.now();
        if (def.featureType === 'Object') {
          const writes = [0, 1, 2].map((i) => ({
            keys: sampleKey(def, i),
            eventTimeMs: now,
            values: Object.fromEntries(valueFields.map((f) => [f, sampleValue(def, f, i)])),
          }));
          await store.writeObjects(def, writes);
          const got = await store.readObjects(def, [
            sampleKey(def, 2),
            sampleKey(def, 0),
            sampleKey(def, 99),
          ]);
          expect(got.map((g) => g.found)).toEqual([true, true, false]);
          expect(got[0]!.values).toEqual(writes[2]!.values);
          expect(got[1]!.values).toEqual(writes[0]!.values);
          expect(got[0]!.lastUpdatedAtMs).toBe(now);
        } else if (def.featureType === 'Aggregation') {
          // one event of the inputs: every aggregate sees it
          const inputs = def.fields.filter((f) => !f.isKey && !f.aggregate).map((f) => f.name);
          const values = Object.fromEntries(inputs.map((f) => [f, sampleValue(def, f, 1)]));
          expect(
            await store.writeAggregateEvents(def, [
              { keys: sampleKey(def, 1), eventTimeMs: now, eventId: 'e1', values },
            ]),
          ).toEqual([{ accepted: true }]);
          const [a] = await store.readAggregates(def, [sampleKey(def, 1)], { atMs: now });
          expect(a).toMatchObject({ found: true, lastUpdatedAtMs: now });
          for (const f of def.fields.filter((x) => x.aggregate?.fn === 'count'))
            expect(a!.values[f.name], f.name).toBe(1);
        } else {
          const values = Object.fromEntries(valueFields.map((f) => [f, sampleValue(def, f, 1)]));
          await store.appendHistory(def, [{ keys: sampleKey(def, 1), eventTimeMs: now, values }]);
          const [h] = await store.readHistory(def, [sampleKey(def, 1)]);
          expect(h).toEqual({ found: true, entries: [{ eventTimeMs: now, values }] });
        }
      }
    });

    describe('event time decides, per field', () => {
      it('an older write never replaces a newer one', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [{ keys, eventTimeMs: 2_000, values: { gender: 'F', level: 5 } }]);
        await store.writeObjects(profile, [{ keys, eventTimeMs: 1_000, values: { gender: 'M', level: 1 } }]);
        let r = await read1(profile, keys);
        expect(r.values.gender).toBe('F');
        expect(r.values.level).toBe(5);
        expect(r.lastUpdatedAtMs).toBe(2_000);
        // a newer write of one field changes that field only
        await store.writeObjects(profile, [{ keys, eventTimeMs: 3_000, values: { level: 7 } }]);
        r = await read1(profile, keys);
        expect(r.values).toMatchObject({ gender: 'F', level: 7 });
        expect(r.lastUpdatedAtMs).toBe(3_000);
        // per field: an old write of a field that holds nothing newer is kept
        await store.writeObjects(profile, [{ keys, eventTimeMs: 500, values: { score: 1.5, gender: 'X' } }]);
        r = await read1(profile, keys);
        expect(r.values).toMatchObject({ gender: 'F', level: 7, score: 1.5 });
        expect(r.lastUpdatedAtMs).toBe(3_000);
      });

      it('within one call too, whatever the order of the writes', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [
          { keys, eventTimeMs: 3_000, values: { level: 3 } },
          { keys, eventTimeMs: 1_000, values: { level: 1 } },
          { keys, eventTimeMs: 2_000, values: { level: 2, gender: 'M' } },
        ]);
        expect((await read1(profile, keys)).values).toMatchObject({ level: 3, gender: 'M' });
      });

      it('the arrival order does not decide between writes of the same event time', async () => {
        const a = { user_id: freshId() };
        const b = { user_id: freshId() };
        await store.writeObjects(profile, [{ keys: a, eventTimeMs: 5_000, values: { gender: 'A' } }]);
        await store.writeObjects(profile, [{ keys: a, eventTimeMs: 5_000, values: { gender: 'B' } }]);
        await store.writeObjects(profile, [{ keys: b, eventTimeMs: 5_000, values: { gender: 'B' } }]);
        await store.writeObjects(profile, [{ keys: b, eventTimeMs: 5_000, values: { gender: 'A' } }]);
        const [ra, rb] = await store.readObjects(profile, [a, b]);
        expect(ra!.values.gender).toBe(rb!.values.gender);
      });

      it('null clears a field at its event time; an older value does not come back', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [{ keys, eventTimeMs: 1_000, values: { gender: 'F', level: 4 } }]);
        await store.writeObjects(profile, [{ keys, eventTimeMs: 2_000, values: { gender: null } }]);
        await store.writeObjects(profile, [{ keys, eventTimeMs: 1_500, values: { gender: 'M' } }]);
        const r = await read1(profile, keys);
        expect(r.values).toMatchObject({ gender: 'UNKNOWN', level: 4 });
        expect((await read1(profile, keys, ['gender'])).found).toBe(false);
      });

      it('the _last_updated_at_ms among the values must agree with the event time', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [
          { keys, eventTimeMs: 1_000, values: { level: 1, _last_updated_at_ms: 1_000 } },
        ]);
        expect((await read1(profile, keys)).values.level).toBe(1);
        await expectRefused(
          store.writeObjects(profile, [
            { keys, eventTimeMs: 2_000, values: { level: 2, _last_updated_at_ms: 1_000 } },
          ]),
          '_last_updated_at_ms',
        );
      });
    });

    describe('partial updates', () => {
      it('concurrent updates of different fields of one key all survive', async () => {
        const ids = Array.from({ length: 20 }, () => freshId());
        const calls: Promise<void>[] = [];
        for (let round = 0; round < 3; round++) {
          for (const id of ids) {
            const keys = { user_id: id };
            const t = 10_000 + round;
            calls.push(
              store.writeObjects(profile, [{ keys, eventTimeMs: t, values: { gender: `g${id}-${round}` } }]),
            );
            calls.push(
              store.writeObjects(profile, [{ keys, eventTimeMs: t, values: { level: id * 10 + round } }]),
            );
            calls.push(
              store.writeObjects(profile, [{ keys, eventTimeMs: t, values: { tags: [`t${round}`] } }]),
            );
            calls.push(
              store.writeObjects(profile, [{ keys, eventTimeMs: t, values: { active: round % 2 === 0 } }]),
            );
            calls.push(store.writeObjects(profile, [{ keys, eventTimeMs: t, values: { rank: round } }]));
          }
        }
        // fire them all at once, in a scrambled order
        await Promise.all(calls.reverse());
        const got = await store.readObjects(
          profile,
          ids.map((id) => ({ user_id: id })),
        );
        got.forEach((r, i) => {
          const id = ids[i]!;
          expect(r.values).toMatchObject({
            gender: `g${id}-2`,
            level: id * 10 + 2,
            tags: ['t2'],
            active: true,
            rank: 2,
          });
          expect(r.lastUpdatedAtMs).toBe(10_002);
        });
      });

      it('many concurrent writes of one field: the newest event time wins', async () => {
        const keys = { user_id: freshId() };
        const times = Array.from({ length: 40 }, (_, i) => 20_000 + i).sort(() => Math.random() - 0.5);
        await Promise.all(
          times.map((t) => store.writeObjects(profile, [{ keys, eventTimeMs: t, values: { level: t } }])),
        );
        const r = await read1(profile, keys);
        expect(r.values.level).toBe(20_039);
        expect(r.lastUpdatedAtMs).toBe(20_039);
      });
    });

    describe('missing keys and fields', () => {
      it('a missing key reads as not found with every default', async () => {
        const r = await read1(profile, { user_id: freshId() });
        expect(r).toEqual({
          found: false,
          lastUpdatedAtMs: null,
          values: {
            gender: 'UNKNOWN',
            level: 0,
            score: 0.5,
            ratio: 0,
            rank: 0,
            tags: [],
            active: false,
            seen_at: 0,
            avatar: null,
          },
        });
      });

      it('a missing field reads as its default beside the stored ones', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [{ keys, eventTimeMs: 100, values: { level: 3 } }]);
        const r = await read1(profile, keys);
        expect(r.found).toBe(true);
        expect(r.values).toMatchObject({ level: 3, gender: 'UNKNOWN', tags: [], avatar: null });
        // defaults are copies: changing one result does not change the next
        (r.values.tags as string[]).push('changed');
        expect((await read1(profile, keys)).values.tags).toEqual([]);
      });

      it('projection returns only the requested fields; found counts those fields', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [{ keys, eventTimeMs: 100, values: { level: 3, gender: 'F' } }]);
        expect(await read1(profile, keys, ['level'])).toEqual({
          found: true,
          values: { level: 3 },
          lastUpdatedAtMs: 100,
        });
        expect(await read1(profile, keys, ['score', 'gender'])).toEqual({
          found: true,
          values: { score: 0.5, gender: 'F' },
          lastUpdatedAtMs: 100,
        });
        expect(await read1(profile, keys, ['score'])).toEqual({
          found: false,
          values: { score: 0.5 },
          lastUpdatedAtMs: null,
        });
        await expectRefused(store.readObjects(profile, [keys], { fields: ['nope'] }), 'nope');
        await expectRefused(store.readObjects(profile, [keys], { fields: ['user_id'] }), 'user_id');
      });

      it('a feature with two key fields keys on both', async () => {
        await store.writeObjects(roomSeat, [
          { keys: { room_id: 'r1', seat: 1 }, eventTimeMs: 10, values: { occupant: 11 } },
          { keys: { seat: 2, room_id: 'r1' }, eventTimeMs: 10, values: { occupant: 12, muted: true } },
          { keys: { room_id: 'r2', seat: 1 }, eventTimeMs: 10, values: { occupant: 21 } },
        ]);
        const got = await store.readObjects(roomSeat, [
          { room_id: 'r1', seat: 2 },
          { room_id: 'r2', seat: 1 },
          { room_id: 'r1', seat: 3 },
          { seat: 1, room_id: 'r1' },
        ]);
        expect(got.map((g) => [g.found, g.values.occupant, g.values.muted])).toEqual([
          [true, 12, true],
          [true, 21, false],
          [false, 0, false],
          [true, 11, false],
        ]);
      });
    });

    it('TTL: a value past its online retention is gone on read (Object and History)', async () => {
      const now = Date.now();
      const fresh = { user_id: freshId() };
      const stale = { user_id: freshId() };
      await store.writeObjects(shortLived, [
        { keys: fresh, eventTimeMs: now, values: { level: 1 } },
        // already past retention when it arrives
        { keys: stale, eventTimeMs: now - 3_000, values: { level: 2 } },
      ]);
      await store.appendHistory(shortMatches, [
        { keys: fresh, eventTimeMs: now, values: { peer_user_id: 1 } },
        { keys: fresh, eventTimeMs: now - 3_000, values: { peer_user_id: 2 } },
      ]);
      const [a, b] = await store.readObjects(shortLived, [fresh, stale]);
      expect(a).toEqual({ found: true, values: { level: 1 }, lastUpdatedAtMs: now });
      expect(b).toEqual({ found: false, values: { level: -1 }, lastUpdatedAtMs: null });
      const [h] = await store.readHistory(shortMatches, [fresh]);
      expect(h!.entries.map((e) => e.values.peer_user_id)).toEqual([1]);

      await sleep(Math.max(0, now + 2_000 - Date.now()) + 150);
      const [a2] = await store.readObjects(shortLived, [fresh]);
      expect(a2).toEqual({ found: false, values: { level: -1 }, lastUpdatedAtMs: null });
      expect(await store.readHistory(shortMatches, [fresh])).toEqual([{ found: false, entries: [] }]);
      // sweeping removes what the store does not expire by itself (a store with TTLs has nothing
      // to sweep): the one expired value and the one expired entry written above (the writes that
      // were past retention on arrival were never stored); a second sweep finds nothing left
      const swept = [
        await store.sweepExpired(shortLived, Date.now()),
        await store.sweepExpired(shortMatches, Date.now()),
      ];
      expect(swept).toEqual(store.expiresByItself ? [0, 0] : [1, 1]);
      expect([
        await store.sweepExpired(shortLived, Date.now()),
        await store.sweepExpired(shortMatches, Date.now()),
      ]).toEqual([0, 0]);
      expect((await store.readObjects(shortLived, [fresh]))[0]!.found).toBe(false);
      // a fresh write to the same key is visible again
      const later = Date.now();
      await store.writeObjects(shortLived, [{ keys: fresh, eventTimeMs: later, values: { level: 3 } }]);
      expect((await store.readObjects(shortLived, [fresh]))[0]).toEqual({
        found: true,
        values: { level: 3 },
        lastUpdatedAtMs: later,
      });
    }, 30_000);

    describe('History', () => {
      it('reads newest first, bounded by the maximum entries per key and the limit', async () => {
        const keys = { user_id: freshId() };
        const times = [4_000, 1_000, 5_000, 2_000, 3_000];
        await store.appendHistory(
          matches,
          times.map((t) => ({
            keys,
            eventTimeMs: t,
            values: { peer_user_id: t / 1_000, country: `c${t / 1_000}` },
          })),
        );
        const [all] = await store.readHistory(matches, [keys]);
        expect(all!.found).toBe(true);
        expect(all!.entries).toEqual([
          { eventTimeMs: 5_000, values: { peer_user_id: 5, country: 'c5', duration_sec: 0 } },
          { eventTimeMs: 4_000, values: { peer_user_id: 4, country: 'c4', duration_sec: 0 } },
          { eventTimeMs: 3_000, values: { peer_user_id: 3, country: 'c3', duration_sec: 0 } },
        ]);
        const [two] = await store.readHistory(matches, [keys], { limit: 2 });
        expect(two!.entries.map((e) => e.eventTimeMs)).toEqual([5_000, 4_000]);
        const [many] = await store.readHistory(matches, [keys], { limit: 50 });
        expect(many!.entries.map((e) => e.eventTimeMs)).toEqual([5_000, 4_000, 3_000]);
        const [projected] = await store.readHistory(matches, [keys], { limit: 1, fields: ['country'] });
        expect(projected!.entries).toEqual([{ eventTimeMs: 5_000, values: { country: 'c5' } }]);
        // an entry older than the kept ones stays beyond the maximum
        await store.appendHistory(matches, [{ keys, eventTimeMs: 500, values: { peer_user_id: 0 } }]);
        await store.appendHistory(matches, [{ keys, eventTimeMs: 6_000, values: { peer_user_id: 6 } }]);
        const [after] = await store.readHistory(matches, [keys]);
        expect(after!.entries.map((e) => e.eventTimeMs)).toEqual([6_000, 5_000, 4_000]);
      });

      it('writes duplicates of the same event once; different entries at one time are both kept', async () => {
        const keys = { user_id: freshId() };
        const e = { keys, eventTimeMs: 7_000, values: { peer_user_id: 42, country: 'KR' } };
        await store.appendHistory(matches, [e, e]);
        await store.appendHistory(matches, [e]);
        await Promise.all([store.appendHistory(matches, [e]), store.appendHistory(matches, [e])]);
        let [h] = await store.readHistory(matches, [keys]);
        expect(h!.entries).toEqual([
          { eventTimeMs: 7_000, values: { peer_user_id: 42, country: 'KR', duration_sec: 0 } },
        ]);
        await store.appendHistory(matches, [
          { keys, eventTimeMs: 7_000, values: { peer_user_id: 43, country: 'KR' } },
        ]);
        [h] = await store.readHistory(matches, [keys]);
        expect(h!.entries.map((x) => x.values.peer_user_id).sort()).toEqual([42, 43]);
      });

      it('reads many keys in request order; a missing key is not found', async () => {
        const ids = [freshId(), freshId(), freshId()];
        await store.appendHistory(
          matches,
          ids.map((id) => ({ keys: { user_id: id }, eventTimeMs: 1_000, values: { peer_user_id: id } })),
        );
        const got = await store.readHistory(matches, [
          { user_id: ids[2] },
          { user_id: freshId() },
          { user_id: ids[0] },
        ]);
        expect(got.map((g) => (g.found ? g.entries[0]!.values.peer_user_id : null))).toEqual([
          ids[2],
          null,
          ids[0],
        ]);
      });
    });

    describe('schema evolution', () => {
      it('a value written before a field was added reads under the new definition with its default', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(evolving1, [{ keys, eventTimeMs: 1_000, values: { a: 1, b: 'old' } }]);
        // v2 is not applied yet: reading fills the new fields' defaults, writing them is refused
        expect(await read1(evolving2, keys)).toEqual({
          found: true,
          values: { a: 1, b: 'old', c: 'new', d: [7] },
          lastUpdatedAtMs: 1_000,
        });
        await expectRefused(
          store.writeObjects(evolving2, [{ keys, eventTimeMs: 2_000, values: { a: 5, c: 'x' } }]),
          'c',
        );
        expect((await read1(evolving1, keys)).values.a).toBe(1);

        await store.ensureFeature(evolving2);
        expect(await read1(evolving2, keys)).toEqual({
          found: true,
          values: { a: 1, b: 'old', c: 'new', d: [7] },
          lastUpdatedAtMs: 1_000,
        });
        await store.writeObjects(evolving2, [{ keys, eventTimeMs: 2_000, values: { c: 'set', d: [1, 2] } }]);
        expect((await read1(evolving2, keys)).values).toEqual({ a: 1, b: 'old', c: 'set', d: [1, 2] });
        // the older definition still reads its own fields
        expect(await read1(evolving1, keys)).toEqual({
          found: true,
          values: { a: 1, b: 'old' },
          lastUpdatedAtMs: 1_000,
        });
        // v3 drops the deprecated field: its stored value is ignored
        await store.ensureFeature(evolving3);
        expect(await read1(evolving3, keys)).toEqual({
          found: true,
          values: { a: 1, c: 'set', d: [1, 2] },
          lastUpdatedAtMs: 2_000,
        });
        await expectRefused(
          store.writeObjects(evolving3, [{ keys, eventTimeMs: 3_000, values: { b: 'gone' } }]),
          'b',
        );
      });

      it('History entries written before a field was added read with its default', async () => {
        const keys = { user_id: freshId() };
        await store.appendHistory(historyEvolving1, [{ keys, eventTimeMs: 1_000, values: { peer: 1 } }]);
        await store.ensureFeature(historyEvolving2);
        await store.appendHistory(historyEvolving2, [
          { keys, eventTimeMs: 2_000, values: { peer: 2, note: 'hi' } },
        ]);
        const [h] = await store.readHistory(historyEvolving2, [keys]);
        expect(h!.entries).toEqual([
          { eventTimeMs: 2_000, values: { peer: 2, note: 'hi' } },
          { eventTimeMs: 1_000, values: { peer: 1, note: 'none' } },
        ]);
      });
    });

    describe('type widening (Avro promotions, issue 19)', () => {
      it('Object values written as Int, Float and List<Int> read as Long, Double and List<Long> after the widening', async () => {
        const v1 = parse(widening('Object', false)).get('conformance::widening-object')!;
        const v2 = parse(widening('Object', true)).get('conformance::widening-object')!;
        await store.ensureFeature(v1);
        const keys = { user_id: freshId() };
        const fresh = { user_id: freshId() };
        await store.writeObjects(v1, [
          { keys, eventTimeMs: 1_000, values: { a: 2_000_000_000, b: 0.1, c: -7, e: [1, -2] } },
        ]);
        await expectRefused(
          store.writeObjects(v1, [{ keys: fresh, eventTimeMs: 1_000, values: { a: 30_000_000_000 } }]),
          'a',
        );
        await store.ensureFeature(v2);
        expect(await read1(v2, keys)).toEqual({
          found: true,
          values: { a: 2_000_000_000, b: Math.fround(0.1), c: -7, e: [1, -2] },
          lastUpdatedAtMs: 1_000,
        });
        await store.writeObjects(v2, [
          { keys: fresh, eventTimeMs: 1_000, values: { a: 30_000_000_000, b: 1e300, c: 0.5, e: [2 ** 40] } },
        ]);
        expect((await read1(v2, fresh)).values).toEqual({
          a: 30_000_000_000,
          b: 1e300,
          c: 0.5,
          e: [2 ** 40],
        });
        // a widened field updated, the others as written before
        await store.writeObjects(v2, [{ keys, eventTimeMs: 2_000, values: { a: 2 ** 40 } }]);
        expect((await read1(v2, keys)).values).toEqual({
          a: 2 ** 40,
          b: Math.fround(0.1),
          c: -7,
          e: [1, -2],
        });
      });

      it('History entries written before the widening read under the new types', async () => {
        const v1 = parse(widening('History', false)).get('conformance::widening-history')!;
        const v2 = parse(widening('History', true)).get('conformance::widening-history')!;
        await store.ensureFeature(v1);
        const keys = { user_id: freshId() };
        await store.appendHistory(v1, [{ keys, eventTimeMs: 1_000, values: { a: 7, b: 0.5, c: 3, e: [1] } }]);
        await store.ensureFeature(v2);
        await store.appendHistory(v2, [
          { keys, eventTimeMs: 2_000, values: { a: 30_000_000_000, b: 0.1, c: 0.5, e: [2 ** 40] } },
        ]);
        const [h] = await store.readHistory(v2, [keys]);
        expect(h!.entries).toEqual([
          { eventTimeMs: 2_000, values: { a: 30_000_000_000, b: 0.1, c: 0.5, e: [2 ** 40] } },
          { eventTimeMs: 1_000, values: { a: 7, b: 0.5, c: 3, e: [1] } },
        ]);
      });
    });

    describe('Aggregation features (issue 18)', () => {
      const agg = parse(aggregationYaml('aggregates')).get('conformance::aggregates')!;
      const seed = parse(`conformance::seed-count:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: {type: Long, is_key_field: true}
    recent_10min_match_count: {aggregate: {function: count, window: 10m}}
    match_count_lifetime: {aggregate: {function: count, window: lifetime}}
`).get('conformance::seed-count')!;
      beforeAll(async () => {
        await store.ensureFeature(agg);
        await store.ensureFeature(seed);
      });

      it("the seed's scenario table: 1, 2, 3, 4, 5, 5, 5 as each message arrives (a tumbling window: 1, 2, 3, 4, 5, 1, 2)", async () => {
        const keys = { user_id: freshId() };
        const base = Date.parse('2024-03-10T17:00:00Z');
        const counts: number[] = [];
        for (let i = 0; i < 7; i++) {
          const t = base + i * 2 * MINUTE;
          expect(
            await store.writeAggregateEvents(
              seed,
              [{ keys, eventTimeMs: t, eventId: `m${i}`, values: {} }],
              t,
            ),
          ).toEqual([{ accepted: true }]);
          const [r] = await store.readAggregates(seed, [keys], { atMs: t });
          counts.push(r!.values.recent_10min_match_count as number);
          expect(r).toMatchObject({ found: true, lastUpdatedAtMs: t });
        }
        expect(counts).toEqual([1, 2, 3, 4, 5, 5, 5]);
        const at = async (t: number) => (await store.readAggregates(seed, [keys], { atMs: t }))[0]!.values;
        expect(await at(base + 14 * MINUTE - 1)).toEqual({
          recent_10min_match_count: 5,
          match_count_lifetime: 7,
        });
        expect(await at(base + 14 * MINUTE)).toEqual({
          recent_10min_match_count: 4,
          match_count_lifetime: 7,
        });
        expect(await at(base + 30 * MINUTE)).toEqual({
          recent_10min_match_count: 0,
          match_count_lifetime: 7,
        });
        // delivered again (a restart, a redelivery): counted once
        const again = await store.writeAggregateEvents(
          seed,
          [{ keys, eventTimeMs: base + 12 * MINUTE, eventId: 'm6', values: {} }],
          base + 13 * MINUTE,
        );
        expect(again).toEqual([{ duplicate: true }]);
        expect((await at(base + 13 * MINUTE)).recent_10min_match_count).toBe(5);
        // a key without events: not found, each aggregate its default
        const [none] = await store.readAggregates(seed, [{ user_id: freshId() }]);
        expect(none).toEqual({
          found: false,
          values: { recent_10min_match_count: 0, match_count_lifetime: 0 },
          lastUpdatedAtMs: null,
        });
      });

      it('randomised against a brute force over the raw events: every function and window, zero mismatches', async () => {
        const spec = aggregationSpecOf(agg);
        const keys = { user_id: freshId() };
        let reads = 0;
        const r = await runScenario(
          { name: 'store', events: 1_500, spanMs: 40 * DAY, reads: 60, seed: 11, batch: 25 },
          {
            latenessMs: spec.latenessMs,
            rawHorizonMs: spec.rawHorizonMs,
            add: (events, now) =>
              store.writeAggregateEvents(
                agg,
                events.map((e) => ({ keys, eventTimeMs: e.t, eventId: e.id, values: e.values })),
                now,
              ),
            // a batch read (with a key without events) on odd reads, one key on even ones
            read: async (t) => {
              reads++;
              const batch = reads % 2 === 1 ? [keys, { user_id: freshId() }, keys] : [keys];
              const got = await store.readAggregates(agg, batch, { atMs: t });
              if (got.length > 1) expect(got[2]).toEqual(got[0]);
              return got[0]!.values;
            },
          },
        );
        expect(r).toMatchObject({ mismatches: 0 });
        expect(r.late, JSON.stringify(r)).toBeGreaterThan(0);
        expect(r.duplicates).toBeGreaterThan(0);
      }, 300_000);

      describe('history from a backfill (AggregationEngine.addHistory)', () => {
        const withHistory = parse(aggregationWithHistoryYaml('aggregates-history')).get(
          'conformance::aggregates-history',
        )!;
        const spec = aggregationSpecOf(withHistory);
        const T0 = Date.parse('2024-05-01T09:30:00Z');
        const asAppend = (keys: Record<string, number>) => (e: AggregateEvent) => ({
          keys,
          eventTimeMs: e.t,
          eventId: e.id,
          values: e.values,
        });
        /** Events of a key every `stepMs` over [from, to), some on minute edges, in time order. */
        const eventsOver = (seed: number, from: number, to: number, stepMs: number): AggregateEvent[] => {
          const rnd = mulberry32(seed);
          const out: AggregateEvent[] = [];
          for (let t = from; t < to; t += Math.floor(1 + rnd() * 2 * stepMs)) {
            const at = rnd() < 0.1 ? Math.floor(t / MINUTE) * MINUTE : t;
            if (at < from) continue;
            out.push({
              t: at,
              id: `h${seed}-${out.length}`,
              values: {
                duration: Math.floor(rnd() * 600),
                ratio: Math.round(rnd() * 1e6) / 1e3,
                peer: Math.floor(rnd() * 200),
                country: ['KR', 'JP', 'US'][Math.floor(rnd() * 3)]!,
              },
            });
          }
          return out.sort((a, b) => a.t - b.t);
        };
        const expectReads = async (
          keys: Record<string, number>,
          counted: readonly AggregateEvent[],
          times: readonly number[],
        ) => {
          for (const t of times) {
            // in a batch (beside a key without events), the way a lookup of many keys reads
            const [r] = await store.readAggregates(withHistory, [keys, { user_id: freshId() }], { atMs: t });
            for (const f of allFields)
              expectField(
                f,
                r!.values[f.name]!,
                bruteForce(f, inWindow(f, counted, t)),
                `${f.name} at ${new Date(t).toISOString()}`,
              );
          }
        };
        // reads across the seam (windows straddling it) and a month on; a read as of a past time
        // is exact while the store keeps its pieces (the longest window back from the writes'
        // clock) and the key has not folded days after it into its lifetime partial
        beforeAll(async () => {
          await store.ensureFeature(withHistory);
        });

        it("live first, then the warehouse: the history stops at the key's first live event; a rerun counts nothing twice", async () => {
          const keys = { user_id: freshId() };
          // the first live hour (the reads near the seam); days later (folded days on both sides)
          const live = eventsOver(21, T0, T0 + 50 * MINUTE, 4 * MINUTE);
          const later = eventsOver(26, T0 + 2 * DAY, T0 + 31 * DAY, 6 * HOUR);
          const warehouse = eventsOver(22, T0 - 40 * DAY, T0, 3 * HOUR).concat(live, later);
          const liveOutcomes = await store.writeAggregateEvents(
            withHistory,
            live.map(asAppend(keys)),
            T0 + 50 * MINUTE,
          );
          expect(liveOutcomes.every((o) => 'accepted' in o)).toBe(true);
          // the backfill in pages, as the workflow writes them: the key's live start decides, not the cut
          const backfill = async () => {
            const outcomes: AggregateOutcome[] = [];
            for (let i = 0; i < warehouse.length; i += 50)
              outcomes.push(
                ...(await store.writeAggregateHistory(
                  withHistory,
                  warehouse.slice(i, i + 50).map(asAppend(keys)),
                  T0 + 40 * DAY,
                  T0 + 50 * MINUTE,
                )),
              );
            return outcomes;
          };
          const outcomes = await backfill();
          const before = warehouse.filter((e) => e.t < live[0]!.t);
          expect(outcomes.filter((o) => 'accepted' in o)).toHaveLength(before.length);
          expect(outcomes.slice(before.length).every((o) => 'skipped' in o)).toBe(true);
          await expectReads(keys, [...before, ...live], [T0 - 1, T0, T0 + 5 * MINUTE, T0 + 45 * MINUTE]);
          // the live state now leaves what is before its start to the history: a live event a minute
          // before it (within the lateness) is late, naming the backfill
          const early = await store.writeAggregateEvents(
            withHistory,
            [{ keys, eventTimeMs: live[0]!.t - MINUTE, eventId: 'early', values: {} }],
            T0 + 50 * MINUTE,
          );
          expect(early[0]).toEqual({ late: expect.stringContaining('ferry events backfill') });
          // the same backfill again (a rerun, a resumed page): nothing counted twice
          expect((await backfill()).some((o) => 'accepted' in o)).toBe(false);
          await expectReads(keys, [...before, ...live], [T0 + 5 * MINUTE, T0 + 50 * MINUTE]);
          await store.writeAggregateEvents(withHistory, later.map(asAppend(keys)), T0 + 31 * DAY);
          await expectReads(keys, warehouse, [T0 + 31 * DAY, T0 + 35 * DAY + 7, T0 + 80 * DAY]);
        }, 120_000);

        it('the warehouse first: the live state starts at the cut; a live event before it is late, naming the backfill', async () => {
          const keys = { user_id: freshId() };
          const history = eventsOver(23, T0 - 35 * DAY, T0, 2 * HOUR);
          const outcomes = await store.writeAggregateHistory(
            withHistory,
            history.map(asAppend(keys)),
            T0,
            T0,
          );
          expect(outcomes.every((o) => 'accepted' in o)).toBe(true);
          const live = eventsOver(24, T0, T0 + 50 * MINUTE, 3 * MINUTE);
          const early = { t: T0 - 2 * MINUTE, id: 'early', values: { duration: 1 } };
          const got = await store.writeAggregateEvents(
            withHistory,
            [early, ...live].map(asAppend(keys)),
            T0 + 50 * MINUTE,
          );
          expect(got[0]).toEqual({ late: expect.stringContaining('ferry events backfill') });
          expect(got.slice(1).every((o) => 'accepted' in o)).toBe(true);
          await expectReads(keys, history, [T0 - 1]);
          await expectReads(keys, [...history, ...live], [T0, T0 + 9 * MINUTE, T0 + 50 * MINUTE]);
          // a lifetime partial and folded days on both sides: a month later still exact
          const later = eventsOver(25, T0 + 2 * DAY, T0 + 31 * DAY, 5 * HOUR);
          await store.writeAggregateEvents(withHistory, later.map(asAppend(keys)), T0 + 31 * DAY);
          await expectReads(keys, [...history, ...live, ...later], [T0 + 31 * DAY, T0 + 40 * DAY]);
        }, 120_000);

        it('a feature without from_events.backfill has no history to write', async () => {
          await expectRefused(
            store.writeAggregateHistory(
              agg,
              [{ keys: { user_id: 1 }, eventTimeMs: T0, eventId: 'a', values: {} }],
              T0,
            ),
            'from_events',
          );
          expect(spec.history).toBe(true);
        });
      });

      it('concurrent calls for one key (partitions applied at once) count every event once', async () => {
        const keys = { user_id: freshId() };
        const t = Date.parse('2024-03-10T12:00:00Z');
        const outcomes = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            store.writeAggregateEvents(
              seed,
              [{ keys, eventTimeMs: t + i * 1_000, eventId: `c${i}`, values: {} }],
              t + 60_000,
            ),
          ),
        );
        expect(outcomes.flat().every((o) => 'accepted' in o)).toBe(true);
        const [r] = await store.readAggregates(seed, [keys], { atMs: t + 60_000 });
        expect(r!.values).toEqual({ recent_10min_match_count: 40, match_count_lifetime: 40 });
      });

      it('keys are apart; projection; the inputs are not served', async () => {
        const a = { user_id: freshId() };
        const b = { user_id: freshId() };
        const t = Date.parse('2024-03-10T12:00:00Z');
        await store.writeAggregateEvents(
          seed,
          [
            { keys: a, eventTimeMs: t, eventId: 'x', values: {} },
            { keys: b, eventTimeMs: t, eventId: 'x', values: {} },
            { keys: b, eventTimeMs: t + 1, eventId: 'y', values: {} },
          ],
          t + 2,
        );
        const got = await store.readAggregates(seed, [b, a, b], {
          atMs: t + 2,
          fields: ['match_count_lifetime'],
        });
        expect(got.map((r) => r.values)).toEqual([
          { match_count_lifetime: 2 },
          { match_count_lifetime: 1 },
          { match_count_lifetime: 2 },
        ]);
        await expectRefused(store.readAggregates(agg, [a], { fields: ['duration'] }), 'duration');
      });

      it('bad events refuse the whole call, naming the item and field; nothing is stored', async () => {
        const keys = { user_id: freshId() };
        const t = Date.parse('2024-03-10T12:00:00Z');
        const good = { keys, eventTimeMs: t, eventId: 'ok', values: { duration: 5 } };
        const bad = async (e: Record<string, unknown>, field: string) =>
          expectRefused(store.writeAggregateEvents(agg, [good, e as never], t), field);
        await bad({ ...good, values: { duration: 'long' } }, 'duration');
        await bad({ ...good, values: { no_such: 1 } }, 'no_such');
        await bad({ ...good, values: { count_all_1m: 3 } }, 'count_all_1m');
        await bad({ ...good, eventId: '' }, 'eventId');
        await bad({ ...good, eventId: 42 }, 'eventId');
        await bad({ ...good, keys: {} }, 'user_id');
        await bad({ ...good, eventTimeMs: 'soon' }, '_last_updated_at_ms');
        expect((await store.readAggregates(agg, [keys], { atMs: t }))[0]!.found).toBe(false);
        // the operations of other layouts are refused for an Aggregation feature, and the other way round
        await expectRefused(
          store.writeObjects(agg, [{ keys, eventTimeMs: t, values: { duration: 1 } }]),
          'feature_type',
        );
        await expectRefused(store.readAggregates(profile, [{ user_id: 1 }]), 'feature_type');
        await expectRefused(
          store.writeAggregateEvents(profile, [
            { keys: { user_id: 1 }, eventTimeMs: t, eventId: 'a', values: {} },
          ]),
          'feature_type',
        );
      });
    });

    describe('bad input is refused naming the field, and nothing stored changes', () => {
      it('an unknown feature', async () => {
        const keys = { user_id: freshId() };
        await expectRefused(
          store.writeObjects(neverApplied, [{ keys, eventTimeMs: 1, values: { level: 1 } }]),
          'feature_name',
          'conformance::never-applied',
        );
        await expectRefused(store.readObjects(neverApplied, [keys]), 'feature_name');
      });

      it('the wrong operation for the feature type', async () => {
        const keys = { user_id: freshId() };
        await expectRefused(
          store.writeObjects(matches, [{ keys, eventTimeMs: 1, values: { peer_user_id: 1 } }]),
          'feature_type',
        );
        await expectRefused(
          store.appendHistory(profile, [{ keys, eventTimeMs: 1, values: { level: 1 } }]),
          'feature_type',
        );
        await expectRefused(store.readHistory(profile, [keys]), 'feature_type');
        await expectRefused(store.readObjects(matches, [keys]), 'feature_type');
      });

      it('wrong types, unknown fields, missing or unknown key fields, bad event times', async () => {
        const id = freshId();
        const keys = { user_id: id };
        await store.writeObjects(profile, [{ keys, eventTimeMs: 1_000, values: { level: 1, gender: 'F' } }]);
        const before = await read1(profile, keys);

        await expectRefused(
          store.writeObjects(profile, [{ keys, eventTimeMs: 2_000, values: { level: 'high' } }]),
          'level',
        );
        await expectRefused(
          store.writeObjects(profile, [{ keys, eventTimeMs: 2_000, values: { rank: 2 ** 40 } }]),
          'rank',
        );
        await expectRefused(
          store.writeObjects(profile, [{ keys, eventTimeMs: 2_000, values: { tags: ['a', 1] } }]),
          'tags',
        );
        await expectRefused(
          store.writeObjects(profile, [{ keys, eventTimeMs: 2_000, values: { nope: 1 } }]),
          'nope',
        );
        await expectRefused(
          store.writeObjects(profile, [{ keys, eventTimeMs: 2_000, values: { user_id: 5 } }]),
          'user_id',
        );
        await expectRefused(
          store.writeObjects(profile, [{ keys: {}, eventTimeMs: 2_000, values: { level: 2 } }]),
          'user_id',
        );
        await expectRefused(
          store.writeObjects(profile, [
            { keys: { user_id: 'abc' }, eventTimeMs: 2_000, values: { level: 2 } },
          ]),
          'user_id',
        );
        await expectRefused(
          store.writeObjects(profile, [
            { keys: { user_id: id, room: 1 }, eventTimeMs: 2_000, values: { level: 2 } },
          ]),
          'room',
        );
        await expectRefused(
          store.writeObjects(roomSeat, [
            { keys: { room_id: '', seat: 1 }, eventTimeMs: 2_000, values: { occupant: 2 } },
          ]),
          'room_id',
        );
        await expectRefused(
          store.writeObjects(profile, [{ keys, eventTimeMs: -1, values: { level: 2 } }]),
          '_last_updated_at_ms',
        );
        await expectRefused(
          store.writeObjects(profile, [{ keys, eventTimeMs: Number.NaN, values: { level: 2 } }]),
          '_last_updated_at_ms',
        );
        await expectRefused(store.readObjects(profile, [keys, { user_id: 'x' }]), 'user_id');
        await expectRefused(store.deleteKeys(profile, [{ keys: {}, eventTimeMs: 5_000 }]), 'user_id');
        await expectRefused(store.readHistory(matches, [keys], { limit: -1 }), 'limit');

        expect(await read1(profile, keys)).toEqual(before);
      });

      it('one bad item refuses the whole call', async () => {
        const existing = { user_id: freshId() };
        const fresh = { user_id: freshId() };
        await store.writeObjects(profile, [{ keys: existing, eventTimeMs: 1_000, values: { level: 1 } }]);
        const err = await inputError(
          store.writeObjects(profile, [
            { keys: existing, eventTimeMs: 2_000, values: { level: 2 } },
            { keys: fresh, eventTimeMs: 2_000, values: { level: 2 } },
            { keys: fresh, eventTimeMs: 2_000, values: { score: 'not a number' } },
          ]),
        );
        expect(err.field).toBe('score');
        // the item is a property (upsync dead-letters that row and writes the others), and in the message
        expect(err.item).toBe(2);
        expect(err.message).toContain('item 2');
        expect(err.message).toBe(`${profile.name}.score: ${err.reason} (item 2)`);
        // a call of one item: item 0, not named in the message
        const one = await inputError(
          store.writeObjects(profile, [{ keys: fresh, eventTimeMs: 2_000, values: { score: 'x' } }]),
        );
        expect(one.item).toBe(0);
        expect(one.message).toBe(`${profile.name}.score: ${one.reason}`);
        const [a, b] = await store.readObjects(profile, [existing, fresh]);
        expect(a!.values.level).toBe(1);
        expect(b!.found).toBe(false);

        const hk = { user_id: freshId() };
        const appendErr = await inputError(
          store.appendHistory(matches, [
            { keys: hk, eventTimeMs: 1_000, values: { peer_user_id: 1 } },
            { keys: hk, eventTimeMs: 2_000, values: { duration_sec: 'long' } },
          ]),
        );
        expect([appendErr.field, appendErr.item]).toEqual(['duration_sec', 1]);
        expect(await store.readHistory(matches, [hk])).toEqual([{ found: false, entries: [] }]);
      });
    });

    it('reads 1,000 keys in one call, in request order', async () => {
      const ids = Array.from({ length: 1_000 }, () => freshId());
      const stored = ids.filter((_, i) => i % 4 !== 3);
      await store.writeObjects(
        profile,
        stored.map((id) => ({
          keys: { user_id: id },
          eventTimeMs: 1_000,
          values: { level: id, gender: `g${id}` },
        })),
      );
      const order = [...ids].sort(() => Math.random() - 0.5);
      const got = await store.readObjects(
        profile,
        order.map((id) => ({ user_id: id })),
      );
      expect(got).toHaveLength(1_000);
      const storedSet = new Set(stored);
      got.forEach((r, i) => {
        const id = order[i]!;
        if (storedSet.has(id)) {
          expect(r.found).toBe(true);
          expect(r.values.level).toBe(id);
          expect(r.values.gender).toBe(`g${id}`);
        } else {
          expect(r.found).toBe(false);
          expect(r.values.level).toBe(0);
        }
      });
    });

    it('a many-key read answers each key as a one-key read does: repeats, missing keys, projection', async () => {
      const ids = Array.from({ length: 30 }, () => freshId());
      await store.writeObjects(
        profile,
        ids
          .filter((_, i) => i % 3 !== 0)
          .map((id, i) => ({
            keys: { user_id: id },
            eventTimeMs: 2_000 + i,
            values:
              i % 2 === 0
                ? { level: id, tags: [`t${id}`] }
                : { gender: `g${id}`, avatar: Buffer.from([id % 256]) },
          })),
      );
      // every key twice, spread apart, and a few keys never written
      const asked = [...ids, ...ids.slice().reverse(), freshId(), ids[5]!, freshId()];
      for (const fields of [undefined, ['level', 'avatar']]) {
        const many = await store.readObjects(
          profile,
          asked.map((id) => ({ user_id: id })),
          fields ? { fields } : undefined,
        );
        const one = await Promise.all(asked.map((id) => read1(profile, { user_id: id }, fields)));
        expect(many).toEqual(one);
      }
    });

    describe('delete key', () => {
      it('removes older values; a newer write survives and an older one does not come back', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [{ keys, eventTimeMs: 1_000, values: { gender: 'F', level: 1 } }]);
        await store.deleteKeys(profile, [{ keys, eventTimeMs: 2_000 }]);
        expect((await read1(profile, keys)).found).toBe(false);
        await store.writeObjects(profile, [{ keys, eventTimeMs: 1_500, values: { gender: 'M' } }]);
        expect((await read1(profile, keys)).found).toBe(false);
        await store.writeObjects(profile, [{ keys, eventTimeMs: 2_500, values: { level: 9 } }]);
        expect(await read1(profile, keys, ['gender', 'level'])).toEqual({
          found: true,
          values: { gender: 'UNKNOWN', level: 9 },
          lastUpdatedAtMs: 2_500,
        });
      });

      it('an older delete leaves newer values', async () => {
        const keys = { user_id: freshId() };
        await store.writeObjects(profile, [
          { keys, eventTimeMs: 1_000, values: { gender: 'F' } },
          { keys, eventTimeMs: 3_000, values: { level: 3 } },
        ]);
        await store.deleteKeys(profile, [{ keys, eventTimeMs: 2_000 }]);
        expect(await read1(profile, keys, ['gender', 'level'])).toEqual({
          found: true,
          values: { gender: 'UNKNOWN', level: 3 },
          lastUpdatedAtMs: 3_000,
        });
        // deleting a key that holds nothing is fine
        await store.deleteKeys(profile, [{ keys: { user_id: freshId() }, eventTimeMs: 1 }]);
      });

      it('History: removes entries up to the delete time; older appends do not come back', async () => {
        const keys = { user_id: freshId() };
        const other = { user_id: freshId() };
        await store.appendHistory(matches, [
          { keys, eventTimeMs: 1_000, values: { peer_user_id: 1 } },
          { keys, eventTimeMs: 2_000, values: { peer_user_id: 2 } },
          { keys, eventTimeMs: 3_000, values: { peer_user_id: 3 } },
          { keys: other, eventTimeMs: 1_000, values: { peer_user_id: 1 } },
        ]);
        await store.deleteKeys(matches, [{ keys, eventTimeMs: 2_000 }]);
        const ids = async () =>
          (await store.readHistory(matches, [keys]))[0]!.entries.map((e) => e.values.peer_user_id);
        expect(await ids()).toEqual([3]);
        await store.appendHistory(matches, [{ keys, eventTimeMs: 1_500, values: { peer_user_id: 15 } }]);
        expect(await ids()).toEqual([3]);
        await store.appendHistory(matches, [{ keys, eventTimeMs: 4_000, values: { peer_user_id: 4 } }]);
        expect(await ids()).toEqual([4, 3]);
        expect((await store.readHistory(matches, [other]))[0]!.entries).toHaveLength(1);
      });
    });

    it('metadata: put, get, list by prefix (sorted), delete', async () => {
      expect(await store.getMeta('test/none')).toBeUndefined();
      await store.putMeta('test/watermark/b', '200');
      await store.putMeta('test/watermark/a', '100');
      await store.putMeta('test/watermark/c', '{"json":true}');
      await store.putMeta('test/checkpoint/x', 'p0:15');
      await store.putMeta('test/watermark/a', '101');
      expect(await store.getMeta('test/watermark/a')).toBe('101');
      expect(await store.listMeta('test/watermark/')).toEqual([
        ['test/watermark/a', '101'],
        ['test/watermark/b', '200'],
        ['test/watermark/c', '{"json":true}'],
      ]);
      await store.deleteMeta('test/watermark/b');
      await store.deleteMeta('test/never-there');
      expect(await store.getMeta('test/watermark/b')).toBeUndefined();
      expect((await store.listMeta('test/')).map(([k]) => k)).toEqual([
        'test/checkpoint/x',
        'test/watermark/a',
        'test/watermark/c',
      ]);
      expect(await store.listMeta('test/zzz')).toEqual([]);
    });
  });
}
