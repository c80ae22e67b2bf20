import { createHash } from 'node:crypto';
import type { ValidCommand } from '../../domain/commands/feature-command.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { layoutOf } from '../../domain/kinds/feature-kinds.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';

/** A command the store did not take though it was valid: an Aggregation event that came too late. */
export interface CommandRefusal {
  /** Its position among the commands given. */
  index: number;
  reason: string;
}

/**
 * The id an Aggregation event is counted once by, when the command does not carry `_event_id`
 * (and the Kafka consumer gave none): the hash of what it says, so the same event sent twice
 * counts once.
 */
export function contentEventId(c: Pick<ValidCommand, 'feature' | 'keys' | 'values' | 'eventTimeMs'>): string {
  return createHash('sha256')
    .update(
      JSON.stringify([c.feature, c.keys, c.values, c.eventTimeMs], (_, v) =>
        typeof v === 'bigint' ? String(v) : v,
      ),
    )
    .digest('base64url')
    .slice(0, 22);
}

/**
 * Writes validated commands of one feature to the online store, grouped by method and
 * in order: UPDATE → partial write, DELETE → delete the key, APPEND → History entry, or an event
 * of an Aggregation feature. Idempotent: repeating a command leaves the same state (event time
 * decides; an Aggregation counts an event id once). Returns the Aggregation events refused as late.
 */
export async function applyCommands(
  store: OnlineStore,
  def: FeatureDefinition,
  commands: readonly ValidCommand[],
): Promise<CommandRefusal[]> {
  const refused: CommandRefusal[] = [];
  const aggregates = layoutOf(def) === 'aggregates';
  let i = 0;
  while (i < commands.length) {
    const method = commands[i]!.method;
    let j = i;
    while (j < commands.length && commands[j]!.method === method) j++;
    const slice = commands.slice(i, j);
    const run = slice.map((c) => ({ keys: c.keys, values: c.values, eventTimeMs: c.eventTimeMs }));
    if (method === 'UPDATE') await store.writeObjects(def, run);
    else if (method === 'APPEND' && aggregates) {
      const outcomes = await store.writeAggregateEvents(
        def,
        slice.map((c, k) => ({ ...run[k]!, eventId: c.eventId ?? contentEventId(c) })),
      );
      outcomes.forEach((o, k) => {
        if ('late' in o) refused.push({ index: i + k, reason: `late: ${o.late}` });
      });
    } else if (method === 'APPEND') await store.appendHistory(def, run);
    else await store.deleteKeys(def, run);
    i = j;
  }
  return refused;
}
