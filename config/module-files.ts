// Where Ferry's own files are, whether it runs compiled (dist/, as `ferry` and the benchmarks do)
// or from the TypeScript sources (the tests, through vitest or tsx).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The module `relative` (written without extension, e.g. '../workflows/index') next to the
 * module at `importMetaUrl`, with that module's own extension: `.js` in dist/, `.ts` in sources.
 */
export function siblingModule(importMetaUrl: string, relative: string): URL {
  return new URL(relative + path.extname(fileURLToPath(importMetaUrl)), importMetaUrl);
}

/** True when the module at `importMetaUrl` runs from the TypeScript sources, not from dist/. */
export function runsFromSources(importMetaUrl: string): boolean {
  return importMetaUrl.endsWith('.ts');
}

/** The project's root folder (the one holding package.json, features/, sql/), found from any module. */
export const projectRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
})();
