import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';

/**
 * The definitions a process serves, looked up by name. A command or request may name a
 * feature by its full name (`live::live-room-context`) or, as the seed's ksqlDB commands
 * do, by the part after `::` when exactly one namespace has it.
 */
export class FeatureCatalog {
  private readonly byName = new Map<string, FeatureDefinition>();
  private readonly byShortName = new Map<string, FeatureDefinition | 'ambiguous'>();

  constructor(definitions: Iterable<FeatureDefinition>) {
    for (const d of definitions) {
      this.byName.set(d.name, d);
      const short = d.name.slice(d.name.indexOf('::') + 2);
      this.byShortName.set(short, this.byShortName.has(short) ? 'ambiguous' : d);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  all(): FeatureDefinition[] {
    return [...this.byName.values()];
  }

  /** The definition a name refers to, or why there is none. */
  resolve(name: string): { definition: FeatureDefinition } | { problem: string } {
    const exact = this.byName.get(name);
    if (exact) return { definition: exact };
    if (!name.includes('::')) {
      const short = this.byShortName.get(name);
      if (short === 'ambiguous')
        return { problem: `feature name "${name}" is ambiguous: give its namespace` };
      if (short) return { definition: short };
    }
    return { problem: `unknown feature "${name}"` };
  }
}
