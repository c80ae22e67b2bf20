import type { FeatureDefinition } from './feature-definition.ts';
import { formatFieldType } from './field-types.ts';

/** One difference between an applied definition and a new one. */
export interface DefinitionChange {
  /** Where, e.g. `schema.level.default_value` or `owner`. */
  path: string;
  before: unknown;
  after: unknown;
  /** Why the change cannot apply in place; absent for compatible changes. */
  incompatible?: string;
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
    change(
      `${at}.type`,
      formatFieldType(old.type),
      formatFieldType(now.type),
      'changing a field type makes stored values unreadable',
    );
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
  return changes;
}
