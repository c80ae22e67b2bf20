import { compareDefinitions, type DefinitionChange } from '../domain/definitions/definition-evolution.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import type { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import type { ApplyTarget, ResourceChange } from './apply-target.ts';

export type FeatureAction = 'create' | 'update' | 'unchanged' | 'refused' | 'retire';

export interface FeaturePlan {
  name: string;
  action: FeatureAction;
  /** Field-by-field differences from the applied definition. */
  changes: DefinitionChange[];
  /** Why it is refused (incompatible changes), when refused. */
  refusals: string[];
  resources: ResourceChange[];
  definition?: FeatureDefinition;
  applied?: FeatureDefinition;
}

export interface ApplyPlan {
  features: FeaturePlan[];
  /** True when applying would change nothing. */
  empty: boolean;
  /** True when some feature is refused: apply does nothing until it is fixed. */
  refused: boolean;
}

/** The diff between local definitions and what the registry holds, with what each target would do. */
export async function planApply(
  local: readonly FeatureDefinition[],
  registry: DefinitionRegistry,
  targets: readonly ApplyTarget[],
): Promise<ApplyPlan> {
  const applied = new Map((await registry.list()).map((a) => [a.name, a.definition]));
  const features: FeaturePlan[] = [];
  // a resource that several features need (the dead-letter table) is planned once
  const planned = new Set<string>();
  const once = (changes: ResourceChange[]) =>
    changes.filter((r) => {
      const id = `${r.action} ${r.kind} ${r.name}`;
      if (planned.has(id)) return false;
      planned.add(id);
      return true;
    });
  for (const def of [...local].sort((a, b) => a.name.localeCompare(b.name))) {
    const before = applied.get(def.name);
    const changes = before ? compareDefinitions(before, def) : [];
    const refusals = changes.flatMap((c) =>
      c.incompatible
        ? [`${c.path}: ${c.incompatible} (publish it under a new version name, e.g. ${nextVersionName(def)})`]
        : [],
    );
    const action: FeatureAction = !before
      ? 'create'
      : refusals.length > 0
        ? 'refused'
        : changes.length > 0
          ? 'update'
          : 'unchanged';
    const resources: ResourceChange[] = [];
    if (action === 'create' || action === 'update' || action === 'unchanged') {
      for (const t of targets) resources.push(...once(await t.plan(def, before)));
    }
    features.push({
      name: def.name,
      action,
      changes,
      refusals,
      resources,
      definition: def,
      ...(before ? { applied: before } : {}),
    });
  }
  const localNames = new Set(local.map((d) => d.name));
  for (const [name, def] of applied) {
    if (localNames.has(name)) continue;
    const resources: ResourceChange[] = [];
    for (const t of targets) if (t.planRetire) resources.push(...(await t.planRetire(def)));
    features.push({ name, action: 'retire', changes: [], refusals: [], resources, applied: def });
  }
  features.sort((a, b) => a.name.localeCompare(b.name));
  const empty = features.every((f) => f.action === 'unchanged' && f.resources.length === 0);
  return { features, empty, refused: features.some((f) => f.action === 'refused') };
}

function nextVersionName(def: FeatureDefinition): string {
  const base = `${def.namespace}::${def.baseName}`;
  return `${base}-v${(def.version ?? 1) + 1}`;
}
