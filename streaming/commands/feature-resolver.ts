import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { type EventMapper, eventMappersOf } from '../../domain/events/event-mapper.ts';
import type { DefinitionRegistry } from '../../stores/registry/definition-registry.ts';
import { FeatureCatalog } from '../../stores/registry/feature-catalog.ts';
import type { FeatureResolver } from './command-processor.ts';

/** A resolver over a fixed set of definitions (tests, benchmarks, `ferry send`). */
export function staticResolver(definitions: Iterable<FeatureDefinition>): FeatureResolver {
  const catalog = new FeatureCatalog(definitions);
  return {
    resolve: async (name) => catalog.resolve(name),
    eventMappers: async (topic) => eventMappersOf(catalog.all(), topic),
  };
}

/**
 * The applied definitions of the registry (in the online store's metadata), reloaded every
 * `refreshMs` and, at most every `missRefreshMs`, when a command names a feature not known yet
 * (it may have just been applied). A definition object stays the same while its revision does,
 * so the stores keep their per-definition caches.
 */
export class RegistryFeatureResolver implements FeatureResolver {
  private catalog: FeatureCatalog | undefined;
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private readonly byRevision = new Map<string, { key: string; def: FeatureDefinition }>();

  constructor(
    private readonly registry: DefinitionRegistry,
    private readonly refreshMs = 30_000,
    private readonly missRefreshMs = 2_000,
  ) {}

  private reload(): Promise<void> {
    if (!this.loading) {
      this.loading = (async () => {
        try {
          const applied = await this.registry.list();
          const defs = applied.map((a) => {
            const key = `${a.revision}:${a.fingerprint}:${a.appliedAtMs}`;
            const prev = this.byRevision.get(a.name);
            if (prev && prev.key === key) return prev.def;
            this.byRevision.set(a.name, { key, def: a.definition });
            return a.definition;
          });
          this.catalog = new FeatureCatalog(defs);
          this.loadedAt = Date.now();
        } finally {
          this.loading = undefined;
        }
      })();
    }
    return this.loading;
  }

  async resolve(name: string): Promise<{ definition: FeatureDefinition } | { problem: string }> {
    if (!this.catalog || Date.now() - this.loadedAt > this.refreshMs) await this.refresh();
    let r = this.catalog!.resolve(name);
    if ('problem' in r && Date.now() - this.loadedAt > this.missRefreshMs) {
      await this.refresh();
      r = this.catalog!.resolve(name);
    }
    return r;
  }

  /** The rules of the applied features fed by `topic`, as of the last reload (a rule applied since shows within refreshMs). */
  async eventMappers(topic: string): Promise<readonly EventMapper[]> {
    if (!this.catalog || Date.now() - this.loadedAt > this.refreshMs) await this.refresh();
    return eventMappersOf(this.catalog!.all(), topic);
  }

  /** Reloads; when the registry does not answer, keeps the definitions already loaded (if any). */
  private async refresh(): Promise<void> {
    try {
      await this.reload();
    } catch (e) {
      if (!this.catalog) throw e;
      this.loadedAt = Date.now();
    }
  }
}
