import { aggregationSpecOf } from '../../domain/aggregations/aggregation-definition.ts';
import type { AggregateEvent } from '../../domain/aggregations/partial-aggregate.ts';
import { describeValue } from '../../domain/definitions/field-types.ts';
import { coerceValue, type FieldValue } from '../../domain/values/coerce-value.ts';
import type { CompiledFeature } from './compiled-feature.ts';
import { type AggregateAppend, OnlineStoreInputError } from './online-store.ts';
import { type KeyTuple, prepareEventTime, prepareKey, requireLayout } from './prepare-input.ts';

/** One event of an Aggregation feature, checked: its key and the engine's form of it. */
export interface PreparedAggregateEvent {
  key: KeyTuple;
  event: AggregateEvent;
}

const maxEventIdLength = 200;

/** Refuses a history write (a backfill's) to an Aggregation that has no `from_events.backfill`. */
export function requireHistory(feature: CompiledFeature): void {
  requireLayout(feature, 'aggregates');
  if (!aggregationSpecOf(feature.def).history)
    throw new OnlineStoreInputError(
      feature.name,
      'from_events',
      'has no from_events.backfill, so no history is kept apart from its live events',
    );
}

/**
 * Checks a call's events before anything is written (a bad one refuses the call, naming the item
 * and field): keys, event time, id, and the inputs (known, not aggregates, of their type).
 */
export function prepareAggregateEvents(
  feature: CompiledFeature,
  events: readonly AggregateAppend[],
): PreparedAggregateEvent[] {
  requireLayout(feature, 'aggregates');
  const inputs = new Map(
    feature.def.fields.filter((f) => !f.isKey && !f.aggregate).map((f) => [f.name, f.type] as const),
  );
  // the spec is checked once: a definition whose fields cannot be aggregated never gets here
  aggregationSpecOf(feature.def);
  const out: PreparedAggregateEvent[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    try {
      const key = prepareKey(feature, e.keys);
      const t = prepareEventTime(feature, e.eventTimeMs);
      if (typeof e.eventId !== 'string' || e.eventId === '' || e.eventId.length > maxEventIdLength)
        throw new OnlineStoreInputError(
          feature.name,
          'eventId',
          `expected text of 1 to ${maxEventIdLength} characters, got ${describeValue(e.eventId)}`,
        );
      const values: Record<string, FieldValue> = {};
      for (const [name, raw] of Object.entries(e.values ?? {})) {
        const type = inputs.get(name);
        if (type === undefined) {
          const aggregate = feature.def.fields.some((f) => f.name === name && f.aggregate);
          throw new OnlineStoreInputError(
            feature.name,
            name,
            aggregate
              ? 'an aggregate, computed from the events: send its inputs'
              : 'not an input of this feature',
          );
        }
        if (raw === null || raw === undefined) continue;
        try {
          values[name] = coerceValue(type, raw);
        } catch (err) {
          throw new OnlineStoreInputError(feature.name, name, (err as Error).message);
        }
      }
      out[i] = { key, event: { t, id: e.eventId, values } };
    } catch (err) {
      throw err instanceof OnlineStoreInputError && err.item === undefined
        ? err.atItem(i, events.length)
        : err;
    }
  }
  return out;
}

/** The events of a call by key, each key's in call order, with their positions in the call. */
export function eventsByKey(
  prepared: readonly PreparedAggregateEvent[],
): { key: KeyTuple; items: number[] }[] {
  const byKey = new Map<string, { key: KeyTuple; items: number[] }>();
  prepared.forEach((p, i) => {
    const id = JSON.stringify(p.key);
    const g = byKey.get(id);
    if (g) g.items.push(i);
    else byKey.set(id, { key: p.key, items: [i] });
  });
  return [...byKey.values()];
}
