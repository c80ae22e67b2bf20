// Imports point one way (ARCHITECTURE.md): each top-level folder may import only the folders
// listed for it below, and some only as types. Workflow code may import no package but
// Temporal's workflow API (it must stay deterministic), and the domain model no driver.
// Part of `npm run lint`; exits 1 and names every import that points back.
//
//   npx tsx scripts/check-imports.ts
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface FolderRule {
  /** Folders whose code this folder may import. */
  imports: string[];
  /** Folders it may import types from only (`import type`, erased at compile time). */
  typesFrom?: string[];
  /** When set, the only packages (bare specifiers) it may import. */
  packages?: (string | RegExp)[];
}

const nodeBuiltin = /^node:/;
const everything = [
  'config',
  'domain',
  'stores',
  'streaming',
  'samples',
  'apply',
  'workflow-contract',
  'workflows',
  'activities',
  'reader',
  'cli',
];

export const rules: Record<string, FolderRule> = {
  config: { imports: [], packages: [nodeBuiltin, 'zod'] },
  domain: { imports: ['config'], packages: [nodeBuiltin, 'avsc', 'peggy', 'yaml', 'zod'] },
  stores: { imports: ['domain', 'config'] },
  streaming: { imports: ['domain', 'stores', 'config'] },
  samples: { imports: ['domain', 'stores', 'config'] },
  'workflow-contract': { imports: [], typesFrom: ['domain', 'stores', 'streaming'], packages: [] },
  workflows: {
    imports: ['workflow-contract'],
    typesFrom: ['domain', 'stores', 'streaming'],
    packages: ['@temporalio/workflow'],
  },
  activities: { imports: ['workflow-contract', 'domain', 'stores', 'streaming', 'samples', 'config'] },
  apply: { imports: ['workflow-contract', 'domain', 'stores', 'streaming', 'config'] },
  reader: { imports: ['domain', 'stores', 'streaming', 'config'] },
  cli: { imports: everything },
  bench: { imports: everything },
  scripts: { imports: everything },
};

export interface ImportViolation {
  file: string;
  line: number;
  specifier: string;
  reason: string;
}

const importPattern =
  /^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** The violations in one file's text, `file` being its path from the project root. */
export function checkFile(file: string, text: string): ImportViolation[] {
  const folder = file.split('/')[0]!;
  const rule = rules[folder];
  if (!rule) return [];
  const out: ImportViolation[] = [];
  for (const m of text.matchAll(importPattern)) {
    const specifier = (m[3] ?? m[4])!;
    const typeOnly = m[2] !== undefined;
    const line = text.slice(0, m.index).split('\n').length;
    const at = { file, line, specifier };
    if (specifier.startsWith('.')) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      const to = target.split('/')[0]!;
      if (to === folder) continue;
      if (to === 'test') out.push({ ...at, reason: `${folder}/ may not import test code` });
      else if (rule.imports.includes(to)) continue;
      else if (typeOnly && rule.typesFrom?.includes(to)) continue;
      else if (rule.typesFrom?.includes(to))
        out.push({ ...at, reason: `${folder}/ may import only types from ${to}/ (write \`import type\`)` });
      else out.push({ ...at, reason: `${folder}/ may not import ${to}/ (allowed: ${allowed(rule)})` });
    } else if (rule.packages && !typeOnly) {
      const ok = rule.packages.some((p) => (typeof p === 'string' ? specifier === p : p.test(specifier)));
      if (!ok) out.push({ ...at, reason: `${folder}/ may not import the package ${specifier}` });
    }
  }
  return out;
}

function allowed(rule: FolderRule): string {
  const all = [...rule.imports, ...(rule.typesFrom ?? []).map((f) => `types of ${f}`)];
  return all.length ? all.join(', ') : 'nothing of Ferry';
}

function sources(root: string, dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(root, rel);
    return /\.(ts|mts|mjs|js)$/.test(e.name) ? [rel] : [];
  });
}

/** Every violation under the project root. */
export function checkProject(root: string): ImportViolation[] {
  return Object.keys(rules).flatMap((folder) =>
    sources(root, folder).flatMap((file) => checkFile(file, readFileSync(path.join(root, file), 'utf8'))),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = path.resolve(import.meta.dirname, '..');
  const found = checkProject(root);
  for (const v of found) console.error(`${v.file}:${v.line}: '${v.specifier}': ${v.reason}`);
  if (found.length) {
    console.error(
      `\n${found.length} import(s) point the wrong way (rules: scripts/check-imports.ts, ARCHITECTURE.md)`,
    );
    process.exit(1);
  }
  console.log(`imports point one way (${Object.keys(rules).length} folders checked)`);
}
