import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { findParams, stripTrailingSemicolon } from './sql-text.ts';

/**
 * A SQL transform: one query in a `.sql` file under `sql/`, whose result goes into a destination
 * table. The file starts with a header of `--` comment lines:
 *
 *     -- Free text describing the transform.
 *     -- ferry:destination azar__user_profile__upsync
 *     -- ferry:write_mode replace            (replace | append; default replace)
 *     -- ferry:params logical_date, window_start, window_end
 *
 * The header ends at the first line that is neither blank nor a `--` comment. Parameters are
 * written `@name` in the query (GoogleSQL style; DuckDB receives `$name`). Known parameters:
 * `logical_date` (DATE, the run's logical date), `window_start` and `window_end` (TIMESTAMP, the
 * incremental window [start, end); by default the logical date's UTC day). Every parameter the
 * query uses must be declared. A per-dialect variant `name.duckdb.sql` / `name.bigquery.sql`, when
 * present, replaces `name.sql` for that store.
 */

export type WriteMode = 'replace' | 'append';
export const writeModes: readonly WriteMode[] = ['replace', 'append'];

export const transformParamNames = ['logical_date', 'window_start', 'window_end'] as const;
export type TransformParamName = (typeof transformParamNames)[number];

export interface TransformParams {
  /** The run's logical date, `YYYY-MM-DD`. */
  logicalDate: string;
  /** Start of the incremental window, epoch ms (default: the logical date at 00:00 UTC). */
  windowStart?: number;
  /** End of the incremental window (exclusive), epoch ms (default: the next day at 00:00 UTC). */
  windowEnd?: number;
}

/** The values bound to the parameters: the date as text, window ends as epoch ms. */
export interface ResolvedParams {
  logical_date: string;
  window_start: number;
  window_end: number;
}

export interface TransformResult {
  /** The transform as named (relative to the SQL folder). */
  name: string;
  /** The file that ran (relative path, the per-dialect one when it was picked). */
  file: string;
  destination: string;
  writeMode: WriteMode;
  rowsWritten: number;
  elapsedMs: number;
}

export interface TransformFile {
  /** As named, relative to the SQL folder, e.g. `azar/user_profile.sql`. */
  name: string;
  /** The file read, as shown in messages (e.g. `sql/azar/user_profile.duckdb.sql`). */
  file: string;
  destination: string;
  writeMode: WriteMode;
  params: TransformParamName[];
  description: string;
  /** Number of header lines (the query starts after them). */
  headerLines: number;
  /** The whole file with a trailing `;` removed; header lines are kept (they are comments), so lines match the file. */
  sql: string;
}

/** A transform file that cannot be used as written; names the file and line. */
export class TransformDefinitionError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'TransformDefinitionError';
  }
}

const tableName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const directive = /^--\s*ferry:([A-Za-z_]+)\s*(.*?)\s*$/;

/** Parses a transform's text; `file` is used in messages. Throws TransformDefinitionError. */
export function parseTransform(name: string, file: string, text: string): TransformFile {
  const lines = text.split('\n');
  let destination: string | undefined;
  let writeMode: WriteMode | undefined;
  let params: TransformParamName[] | undefined;
  const description: string[] = [];
  let headerLines = 0;
  const fail = (line: number, reason: string): never => {
    throw new TransformDefinitionError(file, line, reason);
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw !== '' && !raw.startsWith('--')) break;
    headerLines = i + 1;
    const m = directive.exec(raw);
    if (!m) {
      if (raw.startsWith('--')) {
        const t = raw.replace(/^--\s?/, '');
        if (t.trim()) description.push(t.trim());
      }
      continue;
    }
    const [, key, value] = m as unknown as [string, string, string];
    const line = i + 1;
    switch (key) {
      case 'destination':
        if (destination !== undefined) fail(line, 'ferry:destination is given twice');
        if (!tableName.test(value))
          fail(line, `destination must be a table name (letters, digits, _), got "${value}"`);
        destination = value;
        break;
      case 'write_mode':
        if (writeMode !== undefined) fail(line, 'ferry:write_mode is given twice');
        if (!(writeModes as readonly string[]).includes(value)) {
          fail(line, `write_mode must be replace or append, got "${value}"`);
        }
        writeMode = value as WriteMode;
        break;
      case 'params': {
        if (params !== undefined) fail(line, 'ferry:params is given twice');
        const names = value === '' ? [] : value.split(/[\s,]+/).filter(Boolean);
        for (const p of names) {
          if (!(transformParamNames as readonly string[]).includes(p)) {
            fail(line, `unknown parameter "${p}" (known: ${transformParamNames.join(', ')})`);
          }
        }
        params = [...new Set(names)] as TransformParamName[];
        break;
      }
      default:
        fail(line, `unknown directive ferry:${key} (known: destination, write_mode, params)`);
    }
  }
  // a directive after the header is a mistake worth reporting rather than ignoring
  for (let i = headerLines; i < lines.length; i++) {
    if (directive.test(lines[i]!.trim()))
      fail(i + 1, 'ferry: directives belong in the header, before the first SQL line');
  }
  if (destination === undefined) fail(1, 'missing header line "-- ferry:destination <table>"');
  if (
    headerLines >= lines.length ||
    lines.slice(headerLines).every((l) => l.trim() === '' || l.trim().startsWith('--'))
  ) {
    fail(Math.max(1, headerLines), 'the file has a header but no query');
  }
  const declared = new Set<string>(params ?? []);
  for (const use of findParams(text)) {
    if (!declared.has(use.name)) {
      fail(
        use.line,
        (transformParamNames as readonly string[]).includes(use.name)
          ? `@${use.name} is used but not declared in "-- ferry:params"`
          : `unknown parameter @${use.name} (known: ${transformParamNames.join(', ')})`,
      );
    }
  }
  const stripped = stripTrailingSemicolon(text);
  if (stripped.otherSemicolons.length > 0) {
    const at = stripped.otherSemicolons[0]!;
    fail(
      text.slice(0, at).split('\n').length,
      'a transform is a single query; remove the ";" (and what follows)',
    );
  }
  return {
    name,
    file,
    destination: destination as string,
    writeMode: writeMode ?? 'replace',
    params: params ?? [],
    description: description.join(' '),
    headerLines,
    sql: stripped.sql,
  };
}

const dayMs = 86_400_000;

/** Checks the parameters and fills the window defaults (the logical date's UTC day). */
export function resolveParams(params: TransformParams): ResolvedParams {
  if (
    !/^\d{4}-\d{2}-\d{2}$/.test(params.logicalDate) ||
    Number.isNaN(Date.parse(`${params.logicalDate}T00:00:00Z`))
  ) {
    throw new Error(`logical date must be YYYY-MM-DD, got "${params.logicalDate}"`);
  }
  const dayStart = Date.parse(`${params.logicalDate}T00:00:00Z`);
  if (new Date(dayStart).toISOString().slice(0, 10) !== params.logicalDate) {
    throw new Error(`logical date must be a real date, got "${params.logicalDate}"`);
  }
  const windowStart = params.windowStart ?? dayStart;
  const windowEnd = params.windowEnd ?? windowStart + dayMs;
  for (const [k, v] of [
    ['window start', windowStart],
    ['window end', windowEnd],
  ] as const) {
    if (!Number.isSafeInteger(v)) throw new Error(`${k} must be epoch milliseconds, got ${v}`);
  }
  if (windowEnd <= windowStart) {
    throw new Error(
      `window end (${new Date(windowEnd).toISOString()}) must be after window start (${new Date(windowStart).toISOString()})`,
    );
  }
  return { logical_date: params.logicalDate, window_start: windowStart, window_end: windowEnd };
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** `a/b.sql` from `sql/a/b.sql`, `./sql/a/b.sql` or an absolute path inside the SQL folder. */
export function transformNameOf(sqlDir: string, given: string, cwd = process.cwd()): string {
  const abs = path.resolve(cwd, given);
  const root = path.resolve(cwd, sqlDir);
  const rel = path.relative(root, abs);
  const name = !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : given;
  return name.split(path.sep).join('/');
}

/** The variant of a transform for a dialect: `a/b.duckdb.sql` for `a/b.sql`. */
export function dialectVariant(name: string, dialect: string): string {
  return name.replace(/\.sql$/, `.${dialect}.sql`);
}

/**
 * Reads and parses a transform for a dialect: `name.<dialect>.sql` when it exists, else `name`.
 * Throws TransformDefinitionError for a missing or malformed file.
 */
export async function loadTransform(
  sqlDir: string,
  name: string,
  dialect: string,
  cwd = process.cwd(),
): Promise<TransformFile> {
  if (!name.endsWith('.sql')) throw new TransformDefinitionError(name, 1, 'a transform name ends in .sql');
  if (/\.(duckdb|bigquery)\.sql$/.test(name)) {
    throw new TransformDefinitionError(
      name,
      1,
      'name the transform without its dialect; the store picks the variant',
    );
  }
  const root = path.resolve(cwd, sqlDir);
  for (const candidate of [dialectVariant(name, dialect), name]) {
    const abs = path.resolve(root, candidate);
    if (path.relative(root, abs).startsWith('..')) {
      throw new TransformDefinitionError(name, 1, `a transform must be inside ${sqlDir}/`);
    }
    if (await exists(abs)) {
      const shown = path.relative(cwd, abs) || abs;
      return parseTransform(name, shown, await readFile(abs, 'utf8'));
    }
  }
  throw new TransformDefinitionError(
    path.join(sqlDir, name),
    1,
    `no such transform (looked for ${dialectVariant(name, dialect)} and ${name})`,
  );
}
