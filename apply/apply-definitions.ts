import type { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import type { ApplyPlan } from './apply-plan.ts';
import type { ApplyTarget } from './apply-target.ts';

export type ApplyProgress = (line: string) => void;

/**
 * Carries out a plan: each target creates what the feature needs, then the registry
 * records the definition (so a failed target leaves the feature unrecorded and the next
 * apply tries again). Refuses to start when the plan has refused features.
 */
export async function applyPlan(
  plan: ApplyPlan,
  registry: DefinitionRegistry,
  targets: readonly ApplyTarget[],
  progress: ApplyProgress = () => {},
): Promise<{ applied: string[]; retired: string[] }> {
  if (plan.refused) {
    const lines = plan.features
      .filter((f) => f.action === 'refused')
      .flatMap((f) => f.refusals.map((r) => `${f.name}: ${r}`));
    throw new Error(`apply refused; nothing was changed:\n${lines.join('\n')}`);
  }
  const applied: string[] = [];
  const retired: string[] = [];
  for (const f of plan.features) {
    if (f.action === 'retire' && f.applied) {
      for (const t of targets) await t.retire?.(f.applied);
      await registry.retire(f.name);
      retired.push(f.name);
      progress(`retired ${f.name}`);
      continue;
    }
    if (!f.definition || (f.action === 'unchanged' && f.resources.length === 0)) continue;
    for (const t of targets) await t.apply(f.definition, f.applied);
    if (f.action !== 'unchanged') await registry.record(f.definition);
    applied.push(f.name);
    progress(
      `${f.action === 'create' ? 'created' : f.action === 'update' ? 'updated' : 'repaired'} ${f.name}`,
    );
  }
  return { applied, retired };
}
