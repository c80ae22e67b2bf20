import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { workflowsPath } from '../../cli/worker-command.ts';
import { readSettings } from '../../config/settings.ts';
import type { OfflineStore } from '../../stores/offline/offline-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { workflowTypes } from '../../workflow-contract/workflow-types.ts';

// `ferry worker` once shipped without the command consumer: its workflow was not exported from the
// bundled file and its activity was not registered, while the tests assembled a worker of their own.
// These checks read what the shipped worker registers (the bundle's entry file, createActivities)
// and fail the next time a workflow or an activity is left out.

const root = path.resolve(import.meta.dirname, '../..');
const source = (dir: string) =>
  readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: path.join(dir, f), text: readFileSync(path.join(root, dir, f), 'utf8') }));

describe('what `ferry worker` registers', () => {
  it('the bundled workflows file exports every workflow type the CLI and the schedules start, and no other', async () => {
    const bundled = (await import(workflowsPath)) as Record<string, unknown>;
    for (const name of Object.values(workflowTypes))
      expect(typeof bundled[name], `workflows/index.ts does not export ${name}`).toBe('function');
    const exported = Object.keys(bundled).filter((k) => typeof bundled[k] === 'function');
    expect(exported.sort()).toEqual(Object.values(workflowTypes).sort());
  });

  it('every activity a workflow calls is registered by createActivities', () => {
    const registered = new Set(
      Object.keys(
        createActivities({
          // only the names are read: the stores are never called
          online: {} as OnlineStore,
          offline: {} as OfflineStore,
          settings: readSettings({}),
        }),
      ),
    );
    const called = new Map<string, string>();
    for (const { file, text } of source('workflows'))
      for (const m of text.matchAll(/const\s*\{([^}]*)\}\s*=\s*proxyActivities\b/g))
        for (const name of m[1]!.split(',').map((s) => s.split(':')[0]!.trim()))
          if (name) called.set(name, file);
    // the pattern finds the proxies (a refactoring that hides them must update this test)
    expect(called.size).toBeGreaterThanOrEqual(8);
    expect(called.has('runCommandConsumer')).toBe(true);
    const missing = [...called].filter(([name]) => !registered.has(name)).map(([n, f]) => `${n} (${f})`);
    expect(missing).toEqual([]);
  });

  it('the CLI and the schedules start workflows by the names in workflow-types.ts, never by a string of their own', () => {
    const literal =
      /(workflowType:\s*['"`]|workflow\.(start|execute|signalWithStart)\(\s*['"`]|startOrJoin\(\s*\w+,\s*['"`])/;
    const offenders = ['cli', 'apply', 'streaming', 'activities']
      .flatMap(source)
      .flatMap(({ file, text }) =>
        text
          .split('\n')
          .flatMap((line, i) => (literal.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(offenders).toEqual([]);
  });
});
