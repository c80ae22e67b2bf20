import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../config/module-files.ts';
import {
  featureKinds,
  kindsKeptAs,
  kindsWrittenBy,
  onlineLayouts,
} from '../../domain/kinds/feature-kinds.ts';

const root = projectRoot;
const sources = (dir: string): string[] =>
  readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );

describe('feature kinds (domain/kinds/)', () => {
  it('every kind is kept in a layout of its own that the online stores implement', () => {
    for (const kind of Object.values(featureKinds)) expect(onlineLayouts).toContain(kind.onlineLayout);
    const layouts = Object.values(featureKinds).map((k) => k.onlineLayout);
    expect(new Set(layouts).size).toBe(layouts.length);
    expect(kindsKeptAs('row')).toBe('Object');
    expect(kindsKeptAs('entries')).toBe('History');
    expect(kindsKeptAs('aggregates')).toBe('Aggregation');
    // APPEND adds an entry to a History and an event to an Aggregation
    expect(kindsWrittenBy('APPEND').map((k) => k.name)).toEqual(['History', 'Aggregation']);
  });

  it('no code outside domain/kinds/ branches on the name of a kind: it asks the kind', () => {
    const names = Object.keys(featureKinds).join('|');
    const branch = new RegExp(
      `featureType\\s*[!=]==\\s*'(${names})'|'(${names})'\\s*[!=]==\\s*\\w*\\.?featureType`,
    );
    const folders = [
      'domain',
      'stores',
      'streaming',
      'samples',
      'apply',
      'workflows',
      'activities',
      'reader',
      'cli',
    ];
    const offenders = folders
      .flatMap(sources)
      .filter((f) => !f.startsWith('domain/kinds/'))
      .flatMap((file) =>
        readFileSync(path.join(root, file), 'utf8')
          .split('\n')
          .flatMap((line, i) => (branch.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(offenders).toEqual([]);
  });
});
