import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { formatFieldType } from '../domain/definitions/field-types.ts';
import { featureTableName } from '../stores/offline/column-types.ts';
import { deadLetterTable, type OfflineStore } from '../stores/offline/offline-store.ts';
import type { ApplyTarget, ResourceChange } from './apply-target.ts';

/**
 * Creates the offline table of each feature (where downsync writes and training reads) and
 * the shared dead-letter table; adds columns for fields added later and widens those whose type
 * widened.
 */
export class OfflineStoreTarget implements ApplyTarget {
  readonly name = 'offline store';
  constructor(private readonly store: OfflineStore) {}

  async plan(def: FeatureDefinition, before: FeatureDefinition | undefined): Promise<ResourceChange[]> {
    const kind = `offline ${this.store.kind} table`;
    if (!before) {
      const exists = (await this.store.describeTable(deadLetterTable)) !== undefined;
      return [
        { kind, name: featureTableName(def), action: 'create' },
        ...(exists ? [] : [{ kind, name: deadLetterTable, action: 'create' as const }]),
      ];
    }
    // a field added, or a column widened (Int → Long, Float → Double, ...)
    const altered = def.fields.some((f) => {
      const b = before.fields.find((x) => x.name === f.name);
      return !b || formatFieldType(b.type) !== formatFieldType(f.type);
    });
    return altered ? [{ kind, name: featureTableName(def), action: 'update' }] : [];
  }

  async apply(def: FeatureDefinition): Promise<void> {
    await this.store.ensureFeatureTables(def);
  }
}
