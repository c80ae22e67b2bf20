import type { TransformFile } from './transform-file.ts';

/**
 * A transform the warehouse rejected or failed to run: the warehouse's own message with the
 * transform's file and the line (and column, when known) it points at, counted in the file
 * (header lines included).
 */
export class TransformError extends Error {
  constructor(
    /** The transform as named, e.g. `azar/user_profile.sql`. */
    readonly transform: string,
    /** The file that ran, e.g. `sql/azar/user_profile.sql`. */
    readonly file: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    /** The warehouse's message, as it gave it. */
    readonly warehouseMessage: string,
    options?: { cause?: unknown; sourceLine?: string },
  ) {
    const where = line === undefined ? file : `${file}:${line}${column !== undefined ? `:${column}` : ''}`;
    const snippet =
      options?.sourceLine !== undefined && line !== undefined ? `\n  ${line} | ${options.sourceLine}` : '';
    super(
      `${where}: ${cleanMessage(warehouseMessage)}${snippet}`,
      options?.cause !== undefined ? { cause: options.cause } : {},
    );
    this.name = 'TransformError';
  }
}

/** Drops DuckDB's own `LINE n: ...` / caret lines (replaced by the file's line) and blank lines. */
function cleanMessage(message: string): string {
  const lines = message.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^LINE \d+:/.test(l)) {
      if (/^\s*\^\s*$/.test(lines[i + 1] ?? '')) i++;
      continue;
    }
    if (l.trim() !== '') out.push(l);
  }
  return out.join('\n');
}

/** Where a warehouse message points: DuckDB `LINE n:` (with its caret), GoogleSQL `[n:m]`. */
export function locateInMessage(
  message: string,
): { line: number; column?: number; snippet?: string } | undefined {
  const duck = /^LINE (\d+): (.*)$/m.exec(message);
  if (duck) {
    const line = Number(duck[1]);
    const after = message.slice(duck.index + duck[0].length + 1).split('\n')[0] ?? '';
    const prefix = `LINE ${duck[1]}: `.length;
    const caret = after.indexOf('^');
    const snippet = duck[2]!;
    if (caret >= prefix) return { line, column: caret - prefix + 1, snippet };
    return { line, snippet };
  }
  const google = /\[(?:at )?(\d+):(\d+)\]/.exec(message);
  if (google) return { line: Number(google[1]), column: Number(google[2]) };
  const words = /\bline (\d+)(?:,? col(?:umn)? (\d+))?/i.exec(message);
  if (words) return { line: Number(words[1]), ...(words[2] ? { column: Number(words[2]) } : {}) };
  return undefined;
}

const namedInMessage = [
  /Unrecognized name: ([A-Za-z_][A-Za-z0-9_]*)/,
  /Referenced column "([^"]+)" not found/,
  /Function not found: ([A-Za-z_][A-Za-z0-9_.]*)/,
  /Table with name "?([A-Za-z_][A-Za-z0-9_]*)"? does not exist/,
  /Not found: Table \S*?[.:]([A-Za-z_][A-Za-z0-9_]*) was not found/,
];

/**
 * For messages that name the culprit but give no position (the BigQuery emulator does this for
 * unknown columns), the first line of the query (after the header, outside `--` comments) that
 * uses that name.
 */
function locateNamedIdentifier(
  transform: TransformFile,
  message: string,
): { line: number; column: number } | undefined {
  for (const pattern of namedInMessage) {
    const m = pattern.exec(message);
    if (!m) continue;
    const name = m[1]!.split('.').at(-1)!;
    const lines = transform.sql.split('\n');
    for (let i = transform.headerLines; i < lines.length; i++) {
      const code = lines[i]!.replace(/--.*$/, '');
      const re = /[A-Za-z_][A-Za-z0-9_]*/g;
      for (let hit = re.exec(code); hit; hit = re.exec(code)) {
        const before = code[hit.index - 1];
        if (hit[0].toLowerCase() === name.toLowerCase() && before !== '@' && before !== '$') {
          return { line: i + 1, column: hit.index + 1 };
        }
      }
    }
  }
  return undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Builds the TransformError of a failed statement that was `prefix + transform.sql + suffix`,
 * where `prefix` has no line break: warehouse line n is file line n, and columns on line 1 are
 * shifted by the prefix. A position past the end of the file (in the suffix) maps to its last line.
 */
export function transformErrorFrom(
  transform: TransformFile,
  err: unknown,
  prefixLength: number,
  message = messageOf(err),
): TransformError {
  const fileLines = transform.sql.split('\n');
  let at: { line: number; column?: number; snippet?: string } | undefined = locateInMessage(message);
  // a position inside the wrapper's prefix says nothing about the file
  if (at && at.line === 1 && at.column !== undefined && at.column <= prefixLength) at = undefined;
  else if (at?.line === 1 && at.column !== undefined) at = { ...at, column: at.column - prefixLength };
  at ??= locateNamedIdentifier(transform, message);
  if (!at) {
    return new TransformError(transform.name, transform.file, undefined, undefined, message, { cause: err });
  }
  let line = at.line;
  let column = at.column;
  if (line > fileLines.length) {
    line = fileLines.length;
    column = undefined;
  }
  if (line < 1) line = 1;
  const sourceLine = fileLines[line - 1] ?? '';
  // DuckDB elides long lines in its snippet; keep the column only when the snippet agrees with the file
  if (at.snippet !== undefined && column !== undefined) {
    const shown = at.snippet.replace(/\.\.\.$/, '');
    if (at.snippet.startsWith('...') || (line !== 1 && !sourceLine.startsWith(shown))) column = undefined;
  }
  return new TransformError(transform.name, transform.file, line, column, message, {
    cause: err,
    sourceLine: sourceLine.trimEnd(),
  });
}

/**
 * Append mode inserts by column name: the query must produce exactly the destination's columns.
 * Returns the error to throw (pointing at the query's first line), or undefined when they match.
 */
export function appendColumnsError(
  transform: TransformFile,
  produced: readonly string[],
  destination: readonly string[],
): TransformError | undefined {
  const missing = destination.filter((c) => !produced.includes(c));
  const extra = produced.filter((c) => !destination.includes(c));
  if (missing.length === 0 && extra.length === 0) return undefined;
  const parts = [
    missing.length ? `missing ${missing.join(', ')}` : '',
    extra.length ? `not in the table: ${extra.join(', ')}` : '',
  ];
  return new TransformError(
    transform.name,
    transform.file,
    transform.headerLines + 1,
    undefined,
    `the query's columns differ from table ${transform.destination} (${parts.filter(Boolean).join('; ')}); append inserts by name`,
  );
}
