import type { ApplyPlan, FeatureAction } from '../apply/apply-plan.ts';
import type { DefinitionChange } from '../domain/definitions/definition-evolution.ts';

const marks: Record<FeatureAction, string> = {
  create: '+',
  update: '~',
  unchanged: '=',
  refused: '!',
  retire: '-',
};
const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));

/** One change of a feature as the plan shows it: `~ schema.level.type: "Int" → "Long" (widened: ...)`. */
export function formatChange(c: DefinitionChange): string {
  return `${c.incompatible ? '!' : '~'} ${c.path}: ${show(c.before)} → ${show(c.after)}${c.note ? ` (${c.note})` : ''}`;
}

/** The human form of a plan, one block per feature and a summary line. */
export function formatPlan(plan: ApplyPlan, options: { showUnchanged?: boolean } = {}): string {
  const lines: string[] = [];
  const counts: Record<FeatureAction, number> = { create: 0, update: 0, unchanged: 0, refused: 0, retire: 0 };
  for (const f of plan.features) {
    counts[f.action]++;
    if (f.action === 'unchanged' && f.resources.length === 0 && !options.showUnchanged) continue;
    lines.push(`${marks[f.action]} ${f.name} (${f.action})`);
    for (const c of f.changes) {
      lines.push(`    ${formatChange(c)}`);
    }
    for (const r of f.refusals) lines.push(`    refused: ${r}`);
    for (const r of f.resources) lines.push(`    ${r.action} ${r.kind} ${r.name}`);
  }
  lines.push(
    `Plan: ${counts.create} to create, ${counts.update} to update, ${counts.retire} to retire, ` +
      `${counts.refused} refused, ${counts.unchanged} unchanged.`,
  );
  if (plan.empty) lines.push('No changes: what is applied matches features/.');
  return lines.join('\n');
}

/** The JSON form of a plan (definitions left out; `ferry describe` shows them). */
export function planJson(plan: ApplyPlan): unknown {
  return {
    empty: plan.empty,
    refused: plan.refused,
    features: plan.features.map((f) => ({
      name: f.name,
      action: f.action,
      changes: f.changes,
      refusals: f.refusals,
      resources: f.resources,
    })),
  };
}
