import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument } from 'yaml';
import { buildDefinition } from './build-definition.ts';
import type { DefinitionError } from './definition-error.ts';
import type { FeatureDefinition } from './feature-definition.ts';
import { featureYaml } from './feature-yaml-schema.ts';
import { describeValue } from './field-types.ts';
import { issueMessages } from './issue-message.ts';
import { locate } from './yaml-locator.ts';

export interface LoadResult {
  definitions: FeatureDefinition[];
  errors: DefinitionError[];
}

export interface LoadOptions {
  /** Transform files known under `sql/`; when given, an upsync naming a missing one is an error. */
  transforms?: ReadonlySet<string>;
}

function joinPath(name: string, rest: readonly (string | number)[]): string {
  return [name, ...rest.map(String)].join('.');
}

/** Parses and validates the feature entries of one YAML text; `file` is used in messages. */
export function loadDefinitionsFromText(file: string, text: string, options: LoadOptions = {}): LoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const errors: DefinitionError[] = [];
  const definitions: FeatureDefinition[] = [];
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    errors.push({
      file,
      line: pos.line,
      column: pos.col,
      path: '',
      message: `YAML syntax error: ${e.message.split('\n')[0]}`,
    });
  }
  if (errors.length > 0) return { definitions, errors };
  if (doc.contents === null) return { definitions, errors };
  if (!isMap(doc.contents)) {
    errors.push({
      file,
      line: 1,
      column: 1,
      path: '',
      message: 'expected a map of feature name to definition',
    });
    return { definitions, errors };
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  for (const pair of doc.contents.items) {
    if (!isPair(pair) || !isScalar(pair.key)) continue;
    const name = String(pair.key.value);
    const at = (rest: readonly (string | number)[], valueOffset?: number) => {
      const pos = locate(
        doc,
        lines,
        [name, ...rest],
        valueOffset === undefined ? undefined : { source: text, at: valueOffset },
      );
      return { file, line: pos.line, column: pos.column, path: joinPath(name, rest) };
    };
    const raw = data[name];
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      errors.push({
        ...at([]),
        message: `expected a map with feature_type, owner and schema, got ${describeValue(raw)}`,
      });
      continue;
    }
    const parsed = featureYaml.safeParse(raw, { reportInput: true });
    if (!parsed.success) {
      for (const m of issueMessages(parsed.error.issues)) errors.push({ ...at(m.path), message: m.message });
      continue;
    }
    const { definition, problems } = buildDefinition(name, parsed.data, {
      file,
      line: at([]).line,
      ...(options.transforms ? { transforms: options.transforms } : {}),
    });
    for (const p of problems) errors.push({ ...at(p.path, p.offset), message: p.message });
    if (definition) definitions.push(definition);
  }
  return { definitions, errors };
}

async function yamlFilesUnder(p: string): Promise<string[]> {
  const s = await stat(p);
  if (s.isFile()) return [p];
  const out: string[] = [];
  for (const entry of (await readdir(p, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = path.join(p, entry.name);
    if (entry.isDirectory()) out.push(...(await yamlFilesUnder(full)));
    else if (/\.ya?ml$/.test(entry.name)) out.push(full);
  }
  return out;
}

/** Lists the transforms under a `sql/` folder, as paths relative to it. */
export async function listTransforms(sqlDir: string): Promise<Set<string>> {
  try {
    const files = await readdir(sqlDir, { recursive: true });
    // `name.duckdb.sql` / `name.bigquery.sql` provide the transform `name.sql` for one dialect each
    return new Set(
      files
        .filter((f) => f.endsWith('.sql'))
        .map((f) =>
          f
            .split(path.sep)
            .join('/')
            .replace(/\.(duckdb|bigquery)\.sql$/, '.sql'),
        ),
    );
  } catch {
    return new Set();
  }
}

/**
 * Loads every feature definition under the given files or folders, reporting all problems at once,
 * including names defined twice across files.
 */
export async function loadDefinitions(
  paths: readonly string[],
  options: LoadOptions & { cwd?: string } = {},
): Promise<LoadResult> {
  const cwd = options.cwd ?? process.cwd();
  const result: LoadResult = { definitions: [], errors: [] };
  const files: string[] = [];
  for (const p of paths) {
    const abs = path.resolve(cwd, p);
    try {
      files.push(...(await yamlFilesUnder(abs)));
    } catch {
      result.errors.push({
        file: path.relative(cwd, abs) || p,
        line: 1,
        column: 1,
        path: '',
        message: 'no such file or folder',
      });
    }
  }
  const seen = new Map<string, FeatureDefinition>();
  for (const abs of files) {
    const file = path.relative(cwd, abs);
    const one = loadDefinitionsFromText(file, await readFile(abs, 'utf8'), options);
    result.errors.push(...one.errors);
    for (const def of one.definitions) {
      const first = seen.get(def.name);
      if (first) {
        result.errors.push({
          file,
          line: def.origin.line,
          column: 1,
          path: def.name,
          message: `feature defined twice (first at ${first.origin.file}:${first.origin.line})`,
        });
        continue;
      }
      seen.set(def.name, def);
      result.definitions.push(def);
    }
  }
  return result;
}
