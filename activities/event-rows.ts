import { eventIdField } from '../domain/definitions/feature-definition.ts';
import type { EventMapper } from '../domain/events/event-mapper.ts';
import type { OfflineRow } from '../stores/offline/offline-store.ts';
import type { AggregateAppend, KeyDelete, ObjectWrite } from '../stores/online/online-store.ts';
import { contentEventId } from '../streaming/commands/apply-command.ts';
import type { ConvertedPage } from './row-to-write.ts';

/** A page of event rows run through a feature's rules: its writes, its deletes, and the rows refused. */
export interface ConvertedEventPage<L> extends ConvertedPage<L> {
  deletes: KeyDelete[];
  /** The rule that made each write (beside `writes` and `sources`). */
  rules: string[];
}

/** An offline row as the event it holds: integers the warehouse returns as BigInt become numbers. */
function eventOf(row: OfflineRow): Record<string, unknown> {
  const e: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row))
    e[k] =
      typeof v === 'bigint' && v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : v;
  return e;
}

/**
 * Runs each row of an events table (one event per row, columns named as its fields) through the
 * feature's from_events rules, as the consumer does with a Kafka event: the commands that UPDATE or
 * APPEND become writes, those that DELETE become deletes, a row no rule matches writes nothing,
 * and a row a rule cannot map becomes `refuse(row, reason)` (rule by rule).
 */
export function convertEventPage<L>(
  rows: readonly OfflineRow[],
  mapper: EventMapper,
  refuse: (row: OfflineRow, reason: string) => L,
): ConvertedEventPage<L> {
  const out: ConvertedEventPage<L> = { writes: [], sources: [], letters: [], deletes: [], rules: [] };
  for (const row of rows) {
    const failures: string[] = [];
    for (const o of mapper.map(eventOf(row))) {
      if ('failure' in o) {
        failures.push(`rule ${o.rule}: ${o.failure}`);
        continue;
      }
      const { keys, values, eventTimeMs, method } = o.command;
      if (method === 'DELETE') out.deletes.push({ keys, eventTimeMs });
      else {
        out.writes.push({ keys, values, eventTimeMs } satisfies ObjectWrite);
        out.sources.push(row);
        out.rules.push(o.rule);
      }
    }
    if (failures.length > 0) out.letters.push(refuse(row, failures.join('; ')));
  }
  return out;
}

/**
 * The writes of an events page as an Aggregation's events: the id a rule maps to `_event_id`, or
 * else the hash of what the event says (`contentEventId`, as the push endpoint counts a command)
 * and the rule that mapped it (as the consumer's Kafka position ids end with the rule): a rerun of
 * the same rows gives the same ids, and two rules mapping one row count apart.
 */
export function historyEvents(
  feature: string,
  writes: readonly ObjectWrite[],
  rules: readonly string[],
): AggregateAppend[] {
  return writes.map((w, i) => {
    const { [eventIdField]: id, ...values } = w.values;
    const eventId =
      typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint'
        ? String(id)
        : `${contentEventId({ feature, keys: w.keys, values, eventTimeMs: w.eventTimeMs })}/${rules[i]}`;
    return { keys: w.keys, eventTimeMs: w.eventTimeMs, eventId, values };
  });
}
