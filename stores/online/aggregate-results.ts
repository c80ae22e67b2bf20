import type { AggregationStateAccess } from '../../domain/aggregations/aggregation-state.ts';
import type { AggregationEngine } from '../../domain/aggregations/key-aggregation.ts';
import { type CompiledFeature, type CompiledField, copyDefault, projectFields } from './compiled-feature.ts';
import { type ObjectReadResult, OnlineStoreInputError } from './online-store.ts';

/** The fields an Aggregation read serves: its aggregates (all, or the projection); inputs are not served. */
export function servedAggregates(
  feature: CompiledFeature,
  fields: readonly string[] | undefined,
): readonly CompiledField[] {
  let all = allAggregates.get(feature);
  if (all === undefined) {
    const aggregates = new Set(feature.def.fields.filter((f) => f.aggregate).map((f) => f.name));
    all = feature.valueFields.filter((f) => aggregates.has(f.name));
    allAggregates.set(feature, all);
  }
  // the same list for every read without a projection (the engine keeps where its fields are)
  if (fields === undefined) return all;
  const out = projectFields(feature, fields);
  for (const f of out)
    if (!all.some((a) => a.name === f.name))
      throw new OnlineStoreInputError(
        feature.name,
        f.name,
        'an input of the aggregation, not served (read its aggregates)',
      );
  return out;
}

const allAggregates = new WeakMap<CompiledFeature, CompiledField[]>();

/**
 * One key's answer: the engine's values as of `t` over its live state and its history (a
 * backfill's), null ones as the field's default.
 */
export function aggregateResult(
  engine: AggregationEngine,
  state: AggregationStateAccess,
  fields: readonly CompiledField[],
  t: number,
  history?: AggregationStateAccess,
): ObjectReadResult {
  const meta = state.meta();
  const historyMeta = history?.meta();
  if (meta === undefined && historyMeta === undefined) {
    const values: ObjectReadResult['values'] = {};
    for (const f of fields) values[f.name] = copyDefault(f.defaultValue);
    return { found: false, values, lastUpdatedAtMs: null };
  }
  const all = engine.readValues(state, t, history);
  const at = engine.indexesOf(fields);
  const values: ObjectReadResult['values'] = {};
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = all[at[i]!];
    values[f.name] = v === null || v === undefined ? copyDefault(f.defaultValue) : v;
  }
  return {
    found: true,
    values,
    lastUpdatedAtMs: Math.max(
      meta?.watermark ?? Number.NEGATIVE_INFINITY,
      historyMeta?.watermark ?? Number.NEGATIVE_INFINITY,
    ),
  };
}
