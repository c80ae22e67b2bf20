/**
 * A small scanner for transform SQL: finds named parameters (`@name`) and statement separators
 * outside string literals, quoted identifiers and comments, in a way that fits both GoogleSQL and
 * DuckDB. It never changes line breaks, so a line in the rewritten text is the same line in the file.
 */

export interface ParamUse {
  name: string;
  /** Offset of the `@`. */
  offset: number;
  /** 1-based line in the text. */
  line: number;
}

interface Scan {
  params: ParamUse[];
  /** Offsets of `;` outside literals and comments. */
  semicolons: number[];
  /** Offset just after the last character that is not whitespace or inside a comment. */
  codeEnd: number;
}

const identStart = /[A-Za-z_]/;
const identPart = /[A-Za-z0-9_]/;

function scan(text: string): Scan {
  const params: ParamUse[] = [];
  const semicolons: number[] = [];
  let codeEnd = 0;
  let line = 1;
  let i = 0;
  const n = text.length;
  const advanceTo = (end: number) => {
    for (let k = i; k < end && k < n; k++) if (text[k] === '\n') line++;
    i = Math.min(end, n);
  };
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      advanceTo(end < 0 ? n : end);
      continue;
    }
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      advanceTo(end < 0 ? n : end + 2);
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      const triple = c !== '`' && text.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      let k = i + close.length;
      while (k < n) {
        if (text[k] === '\\' && c !== '`') {
          k += 2;
          continue;
        }
        if (text.startsWith(close, k)) break;
        k++;
      }
      advanceTo(k + close.length);
      codeEnd = i;
      continue;
    }
    if (c === '@') {
      if (next === '@') {
        // @@system_variable (BigQuery)
        let k = i + 2;
        while (k < n && identPart.test(text[k]!)) k++;
        advanceTo(k);
        codeEnd = i;
        continue;
      }
      if (next !== undefined && identStart.test(next)) {
        let k = i + 1;
        while (k < n && identPart.test(text[k]!)) k++;
        params.push({ name: text.slice(i + 1, k), offset: i, line });
        i = k;
        codeEnd = i;
        continue;
      }
    }
    if (c === ';') semicolons.push(i);
    if (!/\s/.test(c)) codeEnd = i + 1;
    i++;
  }
  return { params, semicolons, codeEnd };
}

/** The named parameters the SQL uses, in order of appearance (one entry per use). */
export function findParams(sql: string): ParamUse[] {
  return scan(sql).params;
}

/** Rewrites `@name` parameters into DuckDB's `$name`; everything else is kept byte for byte. */
export function toDuckDbParams(sql: string): string {
  const { params } = scan(sql);
  if (params.length === 0) return sql;
  let out = '';
  let last = 0;
  for (const p of params) {
    out += `${sql.slice(last, p.offset)}$`;
    last = p.offset + 1;
  }
  return out + sql.slice(last);
}

/**
 * The query with a trailing `;` removed (and what follows it, when only whitespace and comments).
 * Returns the offsets of any other `;` so that callers can reject multi-statement files.
 */
export function stripTrailingSemicolon(sql: string): { sql: string; otherSemicolons: number[] } {
  const { semicolons, codeEnd } = scan(sql);
  const lastSemi = semicolons.at(-1);
  if (lastSemi !== undefined && lastSemi === codeEnd - 1) {
    // keep the line breaks that followed it so that line numbers stay put
    const tail = sql.slice(lastSemi + 1).replace(/[^\n]/g, '');
    return { sql: sql.slice(0, lastSemi) + tail, otherSemicolons: semicolons.slice(0, -1) };
  }
  return { sql, otherSemicolons: semicolons };
}

/** 1-based line of an offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let k = 0; k < offset && k < text.length; k++) if (text[k] === '\n') line++;
  return line;
}
