import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AggregateWindow, DAY } from '../../domain/aggregations/aggregate-field.ts';
import { aggregationSpecOf } from '../../domain/aggregations/aggregation-definition.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { fieldsOf, runScenario, type Scenario } from '../aggregation-contract.ts';

/** What a store holds of one key of a feature: its entries (rows), and whether its state is inline. */
export type KeyEntries = (
  store: OnlineStore,
  def: FeatureDefinition,
  userId: number,
) => Promise<{ entries: number; inline: boolean }>;

/**
 * Both online stores keep a small key's Aggregation state inside its meta entry (its events) and
 * move it to entries of its own when it outgrows that (stores/online/inline-aggregation.ts): one
 * suite for both, each store telling how many entries a key has.
 */
export function describeInlineAggregationConformance(
  name: string,
  makeStore: () => Promise<OnlineStore>,
  entriesOf: KeyEntries,
): void {
  describe(`online store conformance: ${name}: a small key's Aggregation state lives in its meta entry`, () => {
    // count, sum, avg, min and max only: the reads of such a key take the engine's numeric read
    // (numeric-held-read.ts); the contract's other suites read every function over held keys too
    const fields = fieldsOf([
      ['count', undefined],
      ['sum', 'duration'],
      ['avg', 'duration'],
      ['min', 'duration'],
      ['max', 'duration'],
    ]);
    const windowText = (w: AggregateWindow) => (w.kind === 'lifetime' ? 'lifetime' : `${w.ms / 1000}s`);
    const yaml = (feature: string) => `inline::${feature}:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: {type: Long, is_key_field: true}
    duration: {type: Long}
${fields.map((f) => `    ${f.name}: {aggregate: {function: ${f.fn}${f.of ? `, of: ${f.of}` : ''}, window: ${windowText(f.window)}}}`).join('\n')}
  aggregation:
    allowed_lateness: 1h
`;
    // one feature per test: a store may count a feature's entries, not a key's
    const { definitions, errors } = loadDefinitionsFromText('inline.yaml', yaml('sparse') + yaml('busy'));
    const [sparse, busy] = definitions as [FeatureDefinition, FeatureDefinition];
    let store: OnlineStore;

    beforeAll(async () => {
      expect(errors).toEqual([]);
      store = await makeStore();
      await store.ensureFeature(sparse);
      await store.ensureFeature(busy);
    }, 120_000);
    afterAll(async () => {
      await store?.close();
    });

    /** Drives one key through the contract's simulation (every read checked against a brute force). */
    async function scenario(def: FeatureDefinition, s: Scenario) {
      const keys = { user_id: 1 };
      const spec = aggregationSpecOf(def);
      const r = await runScenario(
        s,
        {
          latenessMs: spec.latenessMs,
          rawHorizonMs: spec.rawHorizonMs,
          add: (events, now) =>
            store.writeAggregateEvents(
              def,
              events.map((e) => ({
                keys,
                eventTimeMs: e.t,
                eventId: e.id,
                values: { duration: e.values.duration },
              })),
              now,
            ),
          read: async (t) => (await store.readAggregates(def, [keys], { atMs: t }))[0]!.values,
        },
        fields,
      );
      expect(r).toMatchObject({ mismatches: 0 });
      return entriesOf(store, def, keys.user_id);
    }

    it('a key with a few events a day stays one entry for two months, its expired events dropped inside it; reads equal a brute force', async () => {
      const got = await scenario(sparse, {
        name: 'sparse',
        events: 150,
        spanMs: 60 * DAY,
        reads: 75,
        seed: 5,
      });
      expect(got).toEqual({ entries: 1, inline: true });
    }, 120_000);

    it('a busy key outgrows the entry: its pieces move to entries of their own, and reads before and after equal a brute force', async () => {
      const got = await scenario(busy, {
        name: 'busy',
        events: 1_500,
        spanMs: 2 * DAY,
        reads: 100,
        seed: 7,
        batch: 10,
      });
      expect(got.inline).toBe(false);
      expect(got.entries).toBeGreaterThan(100);
    }, 300_000);
  });
}
