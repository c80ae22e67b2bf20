import { eventIdField, eventTimeField, type FeatureDefinition } from '../definitions/feature-definition.ts';
import { describeValue } from '../definitions/field-types.ts';
import { kindOf, kindsWrittenBy } from '../kinds/feature-kinds.ts';
import { coerceValue } from '../values/coerce-value.ts';
import { CommandError, type RawCommand, type ValidCommand } from './feature-command.ts';

/** Finds a field by exact name or, for ksqlDB's upper-cased struct names, ignoring case. */
function lookup(names: readonly string[], given: string): string | undefined {
  if (names.includes(given)) return given;
  const lower = given.toLowerCase();
  return names.find((n) => n.toLowerCase() === lower);
}

/**
 * Checks a parsed command against the feature's definition: method fits the feature type,
 * every key field present, values known and of the right type, event time present.
 * Throws CommandError naming the field at fault.
 */
export function validateCommand(cmd: RawCommand, def: FeatureDefinition, producer?: string): ValidCommand {
  if (producer !== undefined && !def.access.writers.includes('*') && !def.access.writers.includes(producer)) {
    throw new CommandError(`producer "${producer}" may not write ${def.name}`);
  }
  const kind = kindOf(def);
  if (cmd.method !== 'DELETE' && cmd.method !== kind.writeMethod) {
    const article = /^[AEIOU]/.test(kind.name) ? 'an' : 'a';
    throw new CommandError(
      `method ${cmd.method} is for ${kindsWrittenBy(cmd.method)
        .map((k) => k.name)
        .join(' and ')} features; ${def.name} is ${article} ${kind.name} feature (use ${kind.writeMethod})`,
    );
  }
  const keys: Record<string, unknown> = {};
  const keyNames = def.keyFields;
  for (const [given, raw] of Object.entries(cmd.keys)) {
    const name = lookup(keyNames, given);
    if (!name)
      throw new CommandError(
        `keys.${given}: not a key field of ${def.name} (key fields: ${keyNames.join(', ')})`,
      );
    const field = def.fields.find((f) => f.name === name)!;
    if (raw === null || raw === undefined) throw new CommandError(`keys.${name}: missing value`);
    try {
      keys[name] = coerceValue(field.type, raw);
    } catch (e) {
      throw new CommandError(`keys.${name}: ${(e as Error).message}`);
    }
  }
  for (const k of keyNames) if (!(k in keys)) throw new CommandError(`keys.${k}: missing key field`);

  let eventTimeMs: number | undefined;
  let eventId: string | undefined;
  const aggregating = def.fields.some((f) => f.aggregate);
  const values: Record<string, unknown> = {};
  const valueNames = def.fields.filter((f) => !f.isKey).map((f) => f.name);
  for (const [given, raw] of Object.entries(cmd.values)) {
    if (given.toLowerCase() === eventTimeField) {
      const t = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0) {
        throw new CommandError(
          `values.${eventTimeField}: expected epoch milliseconds, got ${describeValue(raw)}`,
        );
      }
      eventTimeMs = t;
      continue;
    }
    if (aggregating && given.toLowerCase() === eventIdField) {
      if ((typeof raw !== 'string' || raw === '' || raw.length > 200) && !Number.isSafeInteger(raw))
        throw new CommandError(
          `values.${eventIdField}: expected the event's id (text up to 200 characters or an integer), got ${describeValue(raw)}`,
        );
      eventId = String(raw);
      continue;
    }
    const name = lookup(valueNames, given);
    if (!name) throw new CommandError(`values.${given}: unknown field of ${def.name}`);
    const field = def.fields.find((f) => f.name === name)!;
    if (field.aggregate)
      throw new CommandError(
        `values.${name}: an aggregate, computed by Ferry from the events; send the inputs (${def.fields
          .filter((f) => !f.isKey && !f.aggregate)
          .map((f) => f.name)
          .join(', ')})`,
      );
    try {
      values[name] = coerceValue(field.type, raw);
    } catch (e) {
      throw new CommandError(`values.${name}: ${(e as Error).message}`);
    }
  }
  if (eventTimeMs === undefined) throw new CommandError(`values.${eventTimeField}: missing event time`);
  if (cmd.method === 'UPDATE' && Object.keys(values).length === 0) {
    throw new CommandError('values: an UPDATE must set at least one field');
  }
  return {
    feature: def.name,
    method: cmd.method,
    keys,
    values,
    eventTimeMs,
    ...(eventId !== undefined ? { eventId } : {}),
  };
}
