import type { ValidCommand } from '../../domain/commands/feature-command.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';

/**
 * Writes validated commands of one feature to the online store, grouped by method and
 * in order: UPDATE → partial write, DELETE → delete the key, APPEND → History entry.
 * Idempotent: repeating a command leaves the same state (event time decides).
 */
export async function applyCommands(
  store: OnlineStore,
  def: FeatureDefinition,
  commands: readonly ValidCommand[],
): Promise<void> {
  let i = 0;
  while (i < commands.length) {
    const method = commands[i]!.method;
    let j = i;
    while (j < commands.length && commands[j]!.method === method) j++;
    const run = commands
      .slice(i, j)
      .map((c) => ({ keys: c.keys, values: c.values, eventTimeMs: c.eventTimeMs }));
    if (method === 'UPDATE') await store.writeObjects(def, run);
    else if (method === 'APPEND') await store.appendHistory(def, run);
    else await store.deleteKeys(def, run);
    i = j;
  }
}
