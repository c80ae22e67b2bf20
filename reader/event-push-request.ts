import { describeValue } from '../domain/definitions/field-types.ts';
import { eventMappersOf } from '../domain/events/event-mapper.ts';
import type { CommandBatch } from '../streaming/commands/command-publisher.ts';
import { ApiError, badRequest } from './api-error.ts';
import { keyId, parseJsonBody } from './lookup-request.ts';
import type { PreparedPush } from './push-request.ts';
import type { KeyId } from './row-cache.ts';
import { mayWrite, type ServedCatalog, type ServedFeature } from './served-features.ts';

/** A push of domain events: the commands their rules make, and what was skipped per feature. */
export interface PreparedEventPush extends PreparedPush {
  /** Events pushed. */
  events: number;
  /** By feature: events none of its rules matched. */
  skipped: Map<string, number>;
  /** By feature and rule: events mapped. */
  mapped: Map<string, Map<string, number>>;
}

/**
 * Checks a push of domain events to `topic` (one JSON event or a list): each event goes through
 * the from_events rules of every served feature that reads `topic` and that `service` may write,
 * exactly as the worker's consumer maps the topic's Kafka events; the commands they make then take
 * the commands' path. All or nothing: an event a rule matches but cannot map refuses the push
 * (400 naming the event, feature and rule); an event no rule matches is only counted.
 */
export function prepareEventPush(
  topic: string,
  text: string,
  service: string,
  catalog: ServedCatalog,
  maxEvents: number,
): PreparedEventPush {
  const readers = catalog.all().filter((f) => f.def.fromEvents?.topic === topic);
  if (readers.length === 0)
    throw new ApiError(404, 'unknown_topic', `no feature reads events from topic "${topic}"`);
  const writable = readers.filter((f) => mayWrite(f, service));
  if (writable.length === 0)
    throw new ApiError(
      403,
      'forbidden',
      `service "${service}" may not write the features that topic "${topic}" feeds`,
    );
  const body = parseJsonBody(text);
  const list = Array.isArray(body) ? body : [body];
  if (list.length === 0) throw badRequest('expected an event or a non-empty list of events');
  if (list.length > maxEvents)
    throw new ApiError(400, 'too_many_events', `${list.length} events in one request; at most ${maxEvents}`);
  const featureOf = new Map(writable.map((f) => [f.def, f]));
  const mappers = eventMappersOf(
    writable.map((f) => f.def),
    topic,
  );
  const byFeature = new Map<string, { batch: CommandBatch; feature: ServedFeature; ids: Set<KeyId> }>();
  const skipped = new Map<string, number>();
  const mapped = new Map<string, Map<string, number>>();
  list.forEach((event, i) => {
    const at = Array.isArray(body) ? `[${i}]` : undefined;
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      throw badRequest(`expected an event object, got ${describeValue(event)}`, at);
    for (const m of mappers) {
      const feature = featureOf.get(m.def)!;
      const outcomes = m.map(event);
      if (outcomes.length === 0) skipped.set(feature.name, (skipped.get(feature.name) ?? 0) + 1);
      for (const o of outcomes) {
        if ('failure' in o)
          throw new ApiError(
            400,
            'invalid_event',
            `${at === undefined ? 'the event' : `event ${at}`}: ${feature.name} rule ${o.rule}: ${o.failure}`,
            at,
          );
        let g = byFeature.get(feature.name);
        if (g === undefined) {
          g = { batch: { definition: feature.def, commands: [] }, feature, ids: new Set() };
          byFeature.set(feature.name, g);
        }
        g.batch.commands.push(o.command);
        g.ids.add(keyId(feature, o.command.keys));
        const rules = mapped.get(feature.name) ?? new Map<string, number>();
        rules.set(o.rule, (rules.get(o.rule) ?? 0) + 1);
        mapped.set(feature.name, rules);
      }
    }
  });
  const groups = [...byFeature.values()];
  return {
    batches: groups.map((g) => g.batch),
    count: groups.reduce((n, g) => n + g.batch.commands.length, 0),
    touched: groups.map((g) => ({ feature: g.feature, ids: [...g.ids] })),
    events: list.length,
    skipped,
    mapped,
  };
}
