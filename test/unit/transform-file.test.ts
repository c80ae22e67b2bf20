import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTransforms, loadDefinitions } from '../../domain/definitions/load-definitions.ts';
import { findParams, stripTrailingSemicolon, toDuckDbParams } from '../../domain/transforms/sql-text.ts';
import {
  locateInMessage,
  TransformError,
  transformErrorFrom,
} from '../../domain/transforms/transform-error.ts';
import {
  loadTransform,
  parseTransform,
  resolveParams,
  TransformDefinitionError,
  transformNameOf,
} from '../../domain/transforms/transform-file.ts';

const repoSql = path.resolve(import.meta.dirname, '../../sql');
const repoFeatures = path.resolve(import.meta.dirname, '../../features');

const header = (lines: string[]) => `${lines.join('\n')}\n`;

function parseError(text: string): TransformDefinitionError {
  try {
    parseTransform('t.sql', 'sql/t.sql', text);
  } catch (e) {
    if (e instanceof TransformDefinitionError) return e;
    throw e;
  }
  throw new Error('expected a TransformDefinitionError');
}

describe('transform header', () => {
  it('reads destination, write mode, parameters and description', () => {
    const t = parseTransform(
      'a/b.sql',
      'sql/a/b.sql',
      header([
        '-- Profile of users.',
        '--   second line',
        '-- ferry:destination my_table',
        '--ferry:write_mode append',
        '-- ferry:params logical_date,window_start  window_end',
        '',
        'SELECT @logical_date AS d, @window_start AS s, @window_end AS e;',
        '-- trailing comment',
      ]),
    );
    expect(t).toMatchObject({
      name: 'a/b.sql',
      file: 'sql/a/b.sql',
      destination: 'my_table',
      writeMode: 'append',
      params: ['logical_date', 'window_start', 'window_end'],
      description: 'Profile of users. second line',
      headerLines: 6,
    });
    // the trailing ; is gone, lines are kept
    expect(t.sql.split('\n')).toHaveLength(9);
    expect(t.sql).not.toContain(';');
  });

  it('defaults to replace with no parameters', () => {
    const t = parseTransform('t.sql', 'sql/t.sql', '-- ferry:destination t\nSELECT 1 AS x\n');
    expect(t.writeMode).toBe('replace');
    expect(t.params).toEqual([]);
  });

  it('names the file and line of every header problem', () => {
    expect(parseError('SELECT 1').message).toBe(
      'sql/t.sql:1: missing header line "-- ferry:destination <table>"',
    );
    expect(parseError('-- ferry:destination a.b\nSELECT 1').message).toMatch(
      /^sql\/t\.sql:1: destination must be a table name/,
    );
    expect(parseError('-- ferry:destination t\n-- ferry:write_mode upsert\nSELECT 1').message).toMatch(
      /^sql\/t\.sql:2: write_mode must be replace or append, got "upsert"/,
    );
    expect(
      parseError('-- ferry:destination t\n-- ferry:params logical_date, run_id\nSELECT 1').message,
    ).toMatch(/^sql\/t\.sql:2: unknown parameter "run_id"/);
    expect(parseError('-- ferry:destination t\n-- ferry:dest t\nSELECT 1').message).toMatch(
      /^sql\/t\.sql:2: unknown directive ferry:dest/,
    );
    expect(parseError('-- ferry:destination t\n-- ferry:destination u\nSELECT 1').message).toMatch(
      /:2: ferry:destination is given twice/,
    );
    expect(parseError('-- ferry:destination t\nSELECT 1\n-- ferry:write_mode append\n').message).toMatch(
      /:3: ferry: directives belong in the header/,
    );
    expect(parseError('-- ferry:destination t\n\n-- only comments\n').message).toMatch(/header but no query/);
    expect(parseError('-- ferry:destination t\nSELECT\n  @window_end AS e').message).toBe(
      'sql/t.sql:3: @window_end is used but not declared in "-- ferry:params"',
    );
    expect(parseError('-- ferry:destination t\nSELECT @run_id AS e').message).toMatch(
      /:2: unknown parameter @run_id/,
    );
    expect(parseError('-- ferry:destination t\nSELECT 1;\nSELECT 2;').message).toMatch(
      /:2: a transform is a single query/,
    );
  });
});

describe('SQL scanning', () => {
  const sql = [
    "SELECT @a, '@not_a_param', \"@nor_this\", `@nor_that`, '''@triple''', 'it\\'s @x'",
    '-- @commented',
    '/* @block',
    '   @still */ @b, @@project_id, email@c',
    'FROM t WHERE x = @a;  -- done',
  ].join('\n');

  it('finds parameters outside literals and comments, with their lines', () => {
    expect(findParams(sql).map((p) => [p.name, p.line])).toEqual([
      ['a', 1],
      ['b', 4],
      ['c', 4],
      ['a', 5],
    ]);
  });

  it('rewrites parameters for DuckDB without moving lines', () => {
    const out = toDuckDbParams(sql);
    expect(out.split('\n')).toHaveLength(5);
    expect(out).toContain('SELECT $a, ');
    expect(out).toContain("'@not_a_param'");
    expect(out).toContain('@@project_id');
    expect(out).toContain('x = $a;');
  });

  it('strips one trailing semicolon and keeps the line count', () => {
    const s = stripTrailingSemicolon('SELECT 1;  -- end\n\n');
    expect(s.sql).toBe('SELECT 1\n\n');
    expect(s.otherSemicolons).toEqual([]);
    expect(stripTrailingSemicolon("SELECT ';'").sql).toBe("SELECT ';'");
    expect(stripTrailingSemicolon('SELECT 1; SELECT 2').otherSemicolons).toEqual([8]);
  });
});

describe('parameters', () => {
  it('defaults the window to the logical date UTC day', () => {
    expect(resolveParams({ logicalDate: '2024-03-10' })).toEqual({
      logical_date: '2024-03-10',
      window_start: Date.parse('2024-03-10T00:00:00Z'),
      window_end: Date.parse('2024-03-11T00:00:00Z'),
    });
    const s = Date.parse('2024-03-10T05:00:00Z');
    expect(resolveParams({ logicalDate: '2024-03-10', windowStart: s })).toMatchObject({
      window_end: s + 86_400_000,
    });
    expect(
      resolveParams({ logicalDate: '2024-03-10', windowStart: s, windowEnd: s + 3_600_000 }).window_end,
    ).toBe(s + 3_600_000);
  });

  it('rejects bad dates and empty windows', () => {
    expect(() => resolveParams({ logicalDate: '2024-3-10' })).toThrow(/YYYY-MM-DD/);
    expect(() => resolveParams({ logicalDate: '2024-02-30' })).toThrow(/real date/);
    const s = Date.parse('2024-03-10T05:00:00Z');
    expect(() => resolveParams({ logicalDate: '2024-03-10', windowStart: s, windowEnd: s })).toThrow(
      /must be after/,
    );
  });
});

describe('warehouse error locations', () => {
  const t = parseTransform(
    'x.sql',
    'sql/x.sql',
    header([
      '-- ferry:destination t',
      '-- ferry:params logical_date',
      'SELECT',
      '  nope AS a,',
      '  @logical_date AS d',
      'FROM src',
    ]),
  );

  it('reads DuckDB and GoogleSQL positions', () => {
    expect(locateInMessage('Binder Error: x\n\nLINE 4:   nope AS a,\n          ^')).toEqual({
      line: 4,
      column: 3,
      snippet: '  nope AS a,',
    });
    expect(locateInMessage('Unrecognized name: nope at [4:3]')).toEqual({ line: 4, column: 3 });
    expect(locateInMessage('Syntax error: Unexpected identifier [at 6:1]')).toEqual({ line: 6, column: 1 });
    expect(locateInMessage('no position here')).toBeUndefined();
  });

  it('maps the statement position to the file, with the source line', () => {
    const e = transformErrorFrom(t, new Error('Unrecognized name: nope at [4:3]'), 30);
    expect(e).toBeInstanceOf(TransformError);
    expect(e).toMatchObject({ file: 'sql/x.sql', line: 4, column: 3, transform: 'x.sql' });
    expect(e.message).toBe('sql/x.sql:4:3: Unrecognized name: nope at [4:3]\n  4 |   nope AS a,');
    // line 1 columns are shifted by the wrapper's prefix
    expect(transformErrorFrom(t, new Error('bad [1:35]'), 30).column).toBe(5);
    // a position in the wrapper's suffix maps to the file's last line
    expect(transformErrorFrom(t, new Error('bad [99:1]'), 30).line).toBe(t.sql.split('\n').length);
    // DuckDB's own snippet is replaced by the file's line
    const d = transformErrorFrom(
      t,
      new Error('Binder Error: Referenced column "nope" not found\n\nLINE 4:   nope AS a,\n          ^'),
      30,
    );
    expect(d.message).toBe(
      'sql/x.sql:4:3: Binder Error: Referenced column "nope" not found\n  4 |   nope AS a,',
    );
    // a position inside the wrapper's prefix is no position in the file
    expect(transformErrorFrom(t, new Error('Syntax error: Unexpected ` at [1:25]'), 30).line).toBeUndefined();
    // a message that names the culprit without a position: its first use in the query
    const named = transformErrorFrom(t, new Error('Unrecognized name: nope'), 30);
    expect(named).toMatchObject({ line: 4, column: 3 });
    expect(named.message).toBe('sql/x.sql:4:3: Unrecognized name: nope\n  4 |   nope AS a,');
    expect(
      transformErrorFrom(t, new Error('Not found: Table p:d.src was not found in location US'), 30).line,
    ).toBe(6);
    const none = transformErrorFrom(t, new Error('Out of memory'), 30);
    expect(none.line).toBeUndefined();
    expect(none.message).toBe('sql/x.sql: Out of memory');
  });
});

describe('transform files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-transforms-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'sql', 'a'), { recursive: true });
  writeFileSync(path.join(dir, 'sql', 'a', 'x.sql'), '-- ferry:destination x_generic\nSELECT 1 AS v\n');
  writeFileSync(path.join(dir, 'sql', 'a', 'x.bigquery.sql'), '-- ferry:destination x_bq\nSELECT 1 AS v\n');
  writeFileSync(
    path.join(dir, 'sql', 'a', 'only.duckdb.sql'),
    '-- ferry:destination only_duck\nSELECT 1 AS v\n',
  );

  it('picks the per-dialect variant when present', async () => {
    expect((await loadTransform('sql', 'a/x.sql', 'bigquery', dir)).destination).toBe('x_bq');
    expect((await loadTransform('sql', 'a/x.sql', 'duckdb', dir)).destination).toBe('x_generic');
    expect((await loadTransform('sql', 'a/only.sql', 'duckdb', dir)).file).toBe(
      path.join('sql', 'a', 'only.duckdb.sql'),
    );
    await expect(loadTransform('sql', 'a/only.sql', 'bigquery', dir)).rejects.toThrow(/no such transform/);
    await expect(loadTransform('sql', 'a/x.bigquery.sql', 'bigquery', dir)).rejects.toThrow(
      /without its dialect/,
    );
    await expect(loadTransform('sql', '../escape.sql', 'duckdb', dir)).rejects.toThrow(/inside sql/);
  });

  it('accepts names relative to sql/ or paths inside it', () => {
    expect(transformNameOf('sql', 'sql/a/x.sql', dir)).toBe('a/x.sql');
    expect(transformNameOf('sql', path.join(dir, 'sql', 'a', 'x.sql'), dir)).toBe('a/x.sql');
    expect(transformNameOf('sql', 'a/x.sql', dir)).toBe('a/x.sql');
  });

  it('every transform the sample features name exists and parses for both dialects', async () => {
    const transforms = await listTransforms(repoSql);
    const { definitions, errors } = await loadDefinitions([repoFeatures], { transforms });
    expect(errors).toEqual([]);
    const named = definitions.flatMap((d) =>
      d.upsync?.source.kind === 'transform' ? [d.upsync.source.transform] : [],
    );
    expect(named.sort()).toEqual([
      'azar-lounge/user_interaction.sql',
      'azar-lounge/user_stats.sql',
      'azar/user_profile.sql',
    ]);
    for (const name of named) {
      for (const dialect of ['duckdb', 'bigquery']) {
        const t = await loadTransform(repoSql, name, dialect);
        expect(t.destination).toMatch(/__upsync$/);
      }
    }
  });
});
