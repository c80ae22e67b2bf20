import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import type { ApplyTarget, ResourceChange } from './apply-target.ts';

/** Creates each feature's online table (or embedded equivalent) and adds new fields to it. */
export class OnlineStoreTarget implements ApplyTarget {
  readonly name = 'online store';
  constructor(private readonly store: OnlineStore) {}

  async plan(def: FeatureDefinition, before: FeatureDefinition | undefined): Promise<ResourceChange[]> {
    const kind = `online ${this.store.kind} table`;
    if (!before) return [{ kind, name: def.name, action: 'create' }];
    const added = def.fields.filter((f) => !before.fields.some((b) => b.name === f.name));
    const retentionChanged = before.retention.onlineMs !== def.retention.onlineMs;
    return added.length > 0 || retentionChanged ? [{ kind, name: def.name, action: 'update' }] : [];
  }

  async apply(def: FeatureDefinition): Promise<void> {
    await this.store.ensureFeature(def);
  }
}
