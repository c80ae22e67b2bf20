import type { FeatureDefinition, FieldDefinition } from './feature-definition.ts';
import { formatFieldType, widens } from './field-types.ts';

/** One difference between an applied definition and a new one. */
export interface DefinitionChange {
  /** Where, e.g. `schema.level.default_value` or `owner`. */
  path: string;
  before: unknown;
  after: unknown;
  /** Why the change cannot apply in place; absent for compatible changes. */
  incompatible?: string;
  /** What a compatible change does to stored data, when it does something (a widened type). */
  note?: string;
}

const json = (v: unknown) => JSON.stringify(v ?? null);

/** Compares two definitions of one feature field by field and says which changes break stored data. */
export function compareDefinitions(before: FeatureDefinition, after: FeatureDefinition): DefinitionChange[] {
  const changes: DefinitionChange[] = [];
  const change = (path: string, b: unknown, a: unknown, incompatible?: string) => {
    if (json(b) !== json(a))
      changes.push({ path, before: b, after: a, ...(incompatible ? { incompatible } : {}) });
  };

  change(
    'feature_type',
    before.featureType,
    after.featureType,
    'changing the feature type changes how values are stored',
  );
  for (const key of ['owner', 'description', 'tags'] as const) change(key, before[key], after[key]);

  const keysBefore = before.keyFields.join(',');
  const keysAfter = after.keyFields.join(',');
  if (keysBefore !== keysAfter) {
    changes.push({
      path: 'schema (key fields)',
      before: before.keyFields,
      after: after.keyFields,
      incompatible: 'adding, removing or renaming key fields changes every stored key',
    });
  }

  for (const old of before.fields) {
    const now = after.fields.find((f) => f.name === old.name);
    const at = `schema.${old.name}`;
    if (!now) {
      if (!old.isKey) {
        changes.push({
          path: at,
          before: formatFieldType(old.type),
          after: undefined,
          ...(old.deprecated
            ? {}
            : {
                incompatible:
                  'a field must be deprecated (deprecated: true) in an applied version before it is removed',
              }),
        });
      }
      continue;
    }
    compareFieldType(old, now, at, changes);
    change(`${at}.default_value`, old.defaultValue, now.defaultValue);
    change(`${at}.description`, old.description, now.description);
    change(`${at}.deprecated`, old.deprecated, now.deprecated);
  }
  for (const added of after.fields) {
    if (before.fields.some((f) => f.name === added.name) || added.isKey) continue;
    changes.push({
      path: `schema.${added.name}`,
      before: undefined,
      after: formatFieldType(added.type),
      ...(added.defaultValue === null
        ? { incompatible: 'a field added to an applied feature needs a default_value' }
        : {}),
    });
  }

  change('upsync', before.upsync, after.upsync);
  change('downsync', before.downsync, after.downsync);
  change('retention', before.retention, after.retention);
  change('access', before.access, after.access);
  change('history.max_entries_per_key', before.maxEntriesPerKey, after.maxEntriesPerKey);
  compareEventRules(before, after, change);
  // a setting the comparisons above do not know yet must still reach the registry
  const rest = (d: FeatureDefinition) => JSON.stringify({ ...d, origin: undefined });
  if (changes.length === 0 && rest(before) !== rest(after))
    changes.push({ path: 'definition', before: '(as applied)', after: '(as in features/)' });
  return changes;
}

/**
 * A field's type may widen as Avro's schema resolution promotes (Int → Long, Int or Long → Float or
 * Double, Float → Double, and the same for list items): stored cells carry their writer type and
 * read as the new one, and the offline column is widened by apply. Key fields never change type
 * (the key's bytes would change), and every other change is refused.
 */
function compareFieldType(
  old: FieldDefinition,
  now: FieldDefinition,
  at: string,
  changes: DefinitionChange[],
): void {
  const before = formatFieldType(old.type);
  const after = formatFieldType(now.type);
  if (before === after) return;
  const path = `${at}.type`;
  if (old.isKey || now.isKey) {
    changes.push({
      path,
      before,
      after,
      incompatible: "changing a key field's type changes every stored key",
    });
  } else if (widens(old.type, now.type)) {
    changes.push({
      path,
      before,
      after,
      note: `widened: stored ${before} values read as ${after}; the offline column is altered`,
    });
  } else {
    changes.push({
      path,
      before,
      after,
      incompatible: 'changing a field type makes stored values unreadable',
    });
  }
}

/**
 * The rule diff of `from_events` (all compatible: the consumer picks the new rules up from the
 * registry and keeps its position): the topic and event time, then rule by rule, by name.
 */
function compareEventRules(
  before: FeatureDefinition,
  after: FeatureDefinition,
  change: (path: string, b: unknown, a: unknown) => void,
): void {
  const b = before.fromEvents;
  const a = after.fromEvents;
  if (b === undefined || a === undefined) {
    change('from_events', b, a);
    return;
  }
  change('from_events.topic', b.topic, a.topic);
  change('from_events.event_time', b.eventTime, a.eventTime);
  change('from_events.backfill', b.backfill, a.backfill);
  for (const rb of b.rules) {
    const ra = a.rules.find((r) => r.name === rb.name);
    const at = `from_events.rules.${rb.name}`;
    if (ra === undefined) {
      change(at, rb, undefined);
      continue;
    }
    change(`${at}.when`, rb.when, ra.when);
    change(`${at}.method`, rb.method, ra.method);
    change(`${at}.event_time`, rb.eventTime, ra.eventTime);
    for (const section of ['keys', 'values'] as const) {
      const names = new Set([...Object.keys(rb[section]), ...Object.keys(ra[section])]);
      for (const n of names) change(`${at}.${section}.${n}`, rb[section][n], ra[section][n]);
    }
  }
  for (const ra of a.rules)
    if (!b.rules.some((r) => r.name === ra.name)) change(`from_events.rules.${ra.name}`, undefined, ra);
}
