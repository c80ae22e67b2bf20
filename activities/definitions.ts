import { ApplicationFailure } from '@temporalio/activity';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import type { AppliedFeature } from '../stores/registry/applied-feature.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';

/**
 * The applied definitions as the registry (online metadata) holds them: what `ferry apply` recorded
 * is what workers sync, not the YAML on the worker's disk. One definition object per revision is
 * kept, because the stores cache their compiled form per object.
 */
export class AppliedDefinitions {
  private readonly registry: DefinitionRegistry;
  private readonly cache = new Map<string, FeatureDefinition>();

  constructor(online: OnlineStore) {
    this.registry = new DefinitionRegistry(online);
  }

  /** The applied feature, or a non-retryable failure saying it is not applied. */
  async get(name: string): Promise<{ applied: AppliedFeature; def: FeatureDefinition }> {
    const applied = await this.registry.get(name);
    if (!applied || applied.retiredAtMs !== undefined) {
      throw ApplicationFailure.nonRetryable(
        applied
          ? `feature ${name} was retired (it left features/); its data is kept but it no longer syncs`
          : `feature ${name} is not applied: run \`ferry apply\` (or check the name with \`ferry list\`)`,
        'FeatureNotApplied',
      );
    }
    const id = `${name}@${applied.revision}@${applied.appliedAtMs}`;
    let def = this.cache.get(id);
    if (!def) {
      def = applied.definition;
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(id, def);
    }
    return { applied, def };
  }

  list(): Promise<AppliedFeature[]> {
    return this.registry.list();
  }
}
