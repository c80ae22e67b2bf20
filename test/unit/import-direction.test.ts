import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../config/module-files.ts';
import { checkFile, checkProject, rules } from '../../scripts/check-imports.ts';

const root = projectRoot;

describe('imports point one way (scripts/check-imports.ts, run by npm run lint)', () => {
  it('the project has no import that points back', () => {
    expect(checkProject(root).map((v) => `${v.file}:${v.line} ${v.specifier}: ${v.reason}`)).toEqual([]);
  });

  it('every folder that is compiled has import rules, and the other way round (but scripts/, run by tsx)', () => {
    const file = path.join(root, 'tsconfig.build.json');
    const build = ts.parseConfigFileTextToJson(file, readFileSync(file, 'utf8')).config as {
      include: string[];
    };
    expect([...build.include].sort()).toEqual(
      Object.keys(rules)
        .filter((f) => f !== 'scripts')
        .sort(),
    );
  });

  it('finds a back-pointing import, with its file and line', () => {
    const text = "import { x } from './ok.ts';\nimport { ReaderApi } from '../../reader/reader-api.ts';\n";
    expect(checkFile('domain/definitions/a.ts', text)).toEqual([
      {
        file: 'domain/definitions/a.ts',
        line: 2,
        specifier: '../../reader/reader-api.ts',
        reason: 'domain/ may not import reader/ (allowed: config)',
      },
    ]);
    expect(checkFile('stores/online/a.ts', "export { w } from '../../workflows/upsync.ts';")).toHaveLength(1);
    expect(
      checkFile('activities/a.ts', "import { upsyncWorkflow } from '../workflows/upsync.ts';"),
    ).toHaveLength(1);
    expect(checkFile('bench/a.bench.ts', "import { h } from '../test/unit/harness.ts';")[0]?.reason).toBe(
      'bench/ may not import test code',
    );
  });

  it('workflow code takes only types from the stores and the model, and no package but the workflow API', () => {
    expect(
      checkFile('workflows/a.ts', "import type { Cursor } from '../stores/offline/offline-store.ts';"),
    ).toEqual([]);
    expect(
      checkFile('workflows/a.ts', "import { openOnlineStore } from '../stores/online/open.ts';")[0]?.reason,
    ).toBe('workflows/ may import only types from stores/ (write `import type`)');
    expect(checkFile('workflows/a.ts', "import { readFile } from 'node:fs';")[0]?.reason).toBe(
      'workflows/ may not import the package node:fs',
    );
    expect(checkFile('workflows/a.ts', "import { proxyActivities } from '@temporalio/workflow';")).toEqual(
      [],
    );
    expect(
      checkFile('workflows/a.ts', "import type { FerryActivities } from '../activities/index.ts';")[0]
        ?.reason,
    ).toMatch(/^workflows\/ may not import activities\//);
  });

  it('a dynamic import counts too', () => {
    expect(checkFile('domain/a.ts', "const m = await import('../cli/main.ts');")).toHaveLength(1);
  });
});
