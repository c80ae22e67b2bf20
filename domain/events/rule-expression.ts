import peggy from 'peggy';
import { ruleGrammar } from './rule-grammar.ts';

/** A parsed rule expression; `at` and `end` are offsets in its text. */
export type Expr = { at: number; end: number } & (
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'field'; path: (string | number)[] }
  | { kind: 'unary'; op: '-' | 'NOT'; arg: Expr }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr }
  | { kind: 'in'; arg: Expr; list: Expr[]; negated: boolean }
  | { kind: 'isNull'; arg: Expr; negated: boolean }
  | { kind: 'like'; arg: Expr; pattern: Expr; negated: boolean }
  | { kind: 'case'; branches: { when: Expr; then: Expr }[]; otherwise: Expr | null }
  | { kind: 'cast'; arg: Expr; type: string }
  | { kind: 'call'; name: string; args: Expr[] }
);

type BinaryOp = 'AND' | 'OR' | '=' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | '||';

/** A syntax or static error in an expression, at an offset of its text. */
export class RuleExpressionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'RuleExpressionError';
  }
}

/** Longest expression text accepted, and deepest nesting of parentheses. */
export const maxExpressionLength = 4_000;
const maxDepth = 64;

let parser: peggy.Parser | undefined;

/** The expression tree of `text`; a RuleExpressionError (with its offset) when it is not one. */
export function parseRuleExpression(text: string): Expr {
  if (text.length > maxExpressionLength)
    throw new RuleExpressionError(`expression longer than ${maxExpressionLength} characters`, 0);
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(' && ++depth > maxDepth)
      throw new RuleExpressionError(`parentheses nested deeper than ${maxDepth}`, i);
    if (text[i] === ')') depth--;
  }
  parser ??= peggy.generate(ruleGrammar);
  let e: Expr;
  try {
    e = parser.parse(text) as Expr;
  } catch (err) {
    if (err instanceof parser.SyntaxError)
      throw new RuleExpressionError(syntaxMessage(err, text), err.location.start.offset);
    throw err;
  }
  checkStatically(e);
  return e;
}

/** Closers first: what a person most often left out. */
const closers = ['")"', '"END"', '"THEN"', '","', '"\'"'];

function syntaxMessage(err: peggy.parser.SyntaxError, text: string): string {
  const at = err.location.start.offset;
  const token = /^(?:[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|'[^']*'?|<=|>=|<>|!=|\|\||\S)/.exec(
    text.slice(at),
  )?.[0];
  const found = token === undefined ? 'the end of the expression' : `"${token}"`;
  const expected = [
    ...new Set(
      (err.expected ?? [])
        .filter((x) => x.type === 'literal' || x.type === 'other')
        .map((x) => (x.type === 'literal' ? `"${x.text.toUpperCase()}"` : x.description)),
    ),
  ].sort((a, b) => rank(a) - rank(b));
  return `syntax error at ${found}${expected.length > 0 ? `; expected ${expected.slice(0, 8).join(', ')}` : ''}`;
}

function rank(x: string): number {
  const i = closers.indexOf(x);
  return i < 0 ? closers.length : i;
}

// ------------------------------------------------------------------ functions and casts

/** What CAST accepts, by the type it gives. */
export const castTypes: Record<string, ValueType> = {
  STRING: 'string',
  VARCHAR: 'string',
  TEXT: 'string',
  BIGINT: 'integer',
  INT: 'integer',
  INTEGER: 'integer',
  LONG: 'integer',
  INT64: 'integer',
  DOUBLE: 'number',
  FLOAT: 'number',
  FLOAT64: 'number',
  DECIMAL: 'number',
  BOOLEAN: 'boolean',
  BOOL: 'boolean',
  TIMESTAMP: 'timestamp',
};

/** What an expression gives, where it can be known before any event: `unknown` for fields. */
export type ValueType = 'string' | 'number' | 'integer' | 'boolean' | 'timestamp' | 'null' | 'unknown';

interface FunctionSpec {
  min: number;
  max: number;
  type(args: ValueType[]): ValueType;
  call(args: Json[], at: Expr): Json;
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

const str = (v: Json, what: string, at: Expr): string => {
  if (typeof v === 'string') return v;
  throw new RuleEvalError(`${what} needs text, got ${describe(v)}`, at);
};
const num = (v: Json, what: string, at: Expr): number => {
  if (typeof v === 'number') return v;
  throw new RuleEvalError(`${what} needs a number, got ${describe(v)}`, at);
};

const functions: Record<string, FunctionSpec> = {
  COALESCE: {
    min: 1,
    max: 64,
    type: (a) => a.find((t) => t !== 'null' && t !== 'unknown') ?? 'unknown',
    call: (a) => a.find((v) => v !== null) ?? null,
  },
  IF: {
    min: 3,
    max: 3,
    type: (a) => (a[1] === a[2] ? a[1]! : 'unknown'),
    call: (a) => (a[0] === true ? a[1]! : a[2]!),
  },
  CONCAT: {
    min: 1,
    max: 64,
    type: () => 'string',
    call: (a, at) => (a.some((v) => v === null) ? null : a.map((v) => text(v, at)).join('')),
  },
  LOWER: {
    min: 1,
    max: 1,
    type: () => 'string',
    call: (a, at) => nullOr(a[0]!, (v) => str(v, 'LOWER', at).toLowerCase()),
  },
  UPPER: {
    min: 1,
    max: 1,
    type: () => 'string',
    call: (a, at) => nullOr(a[0]!, (v) => str(v, 'UPPER', at).toUpperCase()),
  },
  TRIM: {
    min: 1,
    max: 1,
    type: () => 'string',
    call: (a, at) => nullOr(a[0]!, (v) => str(v, 'TRIM', at).trim()),
  },
  LENGTH: {
    min: 1,
    max: 1,
    type: () => 'integer',
    call: (a, at) => nullOr(a[0]!, (v) => [...str(v, 'LENGTH', at)].length),
  },
  ABS: {
    min: 1,
    max: 1,
    type: (a) => a[0]!,
    call: (a, at) => nullOr(a[0]!, (v) => Math.abs(num(v, 'ABS', at))),
  },
  FLOOR: {
    min: 1,
    max: 1,
    type: () => 'integer',
    call: (a, at) => nullOr(a[0]!, (v) => Math.floor(num(v, 'FLOOR', at))),
  },
  CEIL: {
    min: 1,
    max: 1,
    type: () => 'integer',
    call: (a, at) => nullOr(a[0]!, (v) => Math.ceil(num(v, 'CEIL', at))),
  },
  ROUND: {
    min: 1,
    max: 2,
    type: (a) => (a.length === 1 ? 'integer' : 'number'),
    call: (a, at) =>
      nullOr(a[0]!, (v) => {
        const digits = a.length > 1 ? num(a[1]!, 'ROUND', at) : 0;
        const f = 10 ** digits;
        return Math.round(num(v, 'ROUND', at) * f) / f;
      }),
  },
};

const nullOr = (v: Json, f: (v: Json) => Json): Json => (v === null ? null : f(v));

/** Every function a rule may call, for messages and docs. */
export const ruleFunctionNames = Object.keys(functions);

function checkStatically(e: Expr): void {
  visit(e, (n) => {
    if (n.kind === 'call') {
      const f = functions[n.name];
      if (f === undefined)
        throw new RuleExpressionError(
          `unknown function ${n.name}; known: ${ruleFunctionNames.join(', ')}`,
          n.at,
        );
      if (n.args.length < f.min || n.args.length > f.max)
        throw new RuleExpressionError(
          `${n.name} takes ${f.min === f.max ? f.min : `${f.min} to ${f.max}`} argument${f.max === 1 ? '' : 's'}, got ${n.args.length}`,
          n.at,
        );
    }
    if (n.kind === 'cast' && castTypes[n.type] === undefined)
      throw new RuleExpressionError(
        `CAST to unknown type ${n.type}; known: ${Object.keys(castTypes).join(', ')}`,
        n.at,
      );
  });
}

/** Calls `f` on `e` and every expression inside it. */
export function visit(e: Expr, f: (e: Expr) => void): void {
  f(e);
  switch (e.kind) {
    case 'unary':
    case 'cast':
    case 'isNull':
      visit(e.arg, f);
      break;
    case 'binary':
      visit(e.left, f);
      visit(e.right, f);
      break;
    case 'in':
      visit(e.arg, f);
      for (const x of e.list) visit(x, f);
      break;
    case 'like':
      visit(e.arg, f);
      visit(e.pattern, f);
      break;
    case 'case':
      for (const b of e.branches) {
        visit(b.when, f);
        visit(b.then, f);
      }
      if (e.otherwise) visit(e.otherwise, f);
      break;
    case 'call':
      for (const x of e.args) visit(x, f);
      break;
  }
}

/** The type `e` gives whatever the event, where that can be known. */
export function staticType(e: Expr): ValueType {
  switch (e.kind) {
    case 'literal':
      if (e.value === null) return 'null';
      if (typeof e.value === 'number') return Number.isInteger(e.value) ? 'integer' : 'number';
      return typeof e.value as 'string' | 'boolean';
    case 'field':
      return 'unknown';
    case 'unary':
      return e.op === 'NOT' ? 'boolean' : staticType(e.arg);
    case 'binary':
      if (['AND', 'OR', '=', '!=', '<', '<=', '>', '>='].includes(e.op)) return 'boolean';
      if (e.op === '||') return 'string';
      if (e.op === '/') return 'number';
      return staticType(e.left) === 'integer' && staticType(e.right) === 'integer' ? 'integer' : 'number';
    case 'in':
    case 'isNull':
    case 'like':
      return 'boolean';
    case 'case': {
      const types = new Set(
        [
          ...e.branches.map((b) => staticType(b.then)),
          ...(e.otherwise ? [staticType(e.otherwise)] : []),
        ].filter((t) => t !== 'null'),
      );
      return types.size === 1 ? [...types][0]! : 'unknown';
    }
    case 'cast':
      return castTypes[e.type] ?? 'unknown';
    case 'call':
      return functions[e.name]?.type(e.args.map(staticType)) ?? 'unknown';
  }
}

// ------------------------------------------------------------------ evaluation

/** An expression that cannot give a value for this event (a wrong type, a bad cast). */
export class RuleEvalError extends Error {
  constructor(
    message: string,
    readonly expr: Expr,
  ) {
    super(message);
    this.name = 'RuleEvalError';
  }
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function text(v: Json, at: Expr): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RuleEvalError(`cannot make text of ${describe(v)}`, at);
}

/** The value at `path` in the event; null where any step is missing. */
export function fieldValue(event: unknown, path: readonly (string | number)[]): Json {
  let v: unknown = event;
  for (const step of path) {
    if (v === null || typeof v !== 'object') return null;
    if (typeof step === 'number') {
      if (!Array.isArray(v)) return null;
      v = v[step];
    } else {
      if (Array.isArray(v) || !Object.hasOwn(v, step)) return null;
      v = (v as Record<string, unknown>)[step];
    }
  }
  return v === undefined ? null : (v as Json);
}

/** SQL comparison: null when either side is null or the two are of different types. */
function compare(a: Json, b: Json): number | null {
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
  return null;
}

function likeRegExp(pattern: string): RegExp {
  let re = '';
  for (const c of pattern)
    re += c === '%' ? '[\\s\\S]*' : c === '_' ? '[\\s\\S]' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${re}$`);
}

/** The value of `e` for `event`; a RuleEvalError when it has none (SQL nulls propagate). */
export function evaluate(e: Expr, event: unknown): Json {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'field':
      return fieldValue(event, e.path);
    case 'unary': {
      const v = evaluate(e.arg, event);
      if (v === null) return null;
      if (e.op === 'NOT') {
        if (typeof v !== 'boolean')
          throw new RuleEvalError(`NOT needs true or false, got ${describe(v)}`, e.arg);
        return !v;
      }
      return -num(v, 'unary -', e.arg);
    }
    case 'binary':
      return binary(e, event);
    case 'in': {
      const v = evaluate(e.arg, event);
      if (v === null) return null;
      let sawNull = false;
      for (const x of e.list) {
        const c = compare(v, evaluate(x, event));
        if (c === 0) return !e.negated;
        if (c === null) sawNull = true;
      }
      return sawNull ? null : e.negated;
    }
    case 'isNull':
      return (evaluate(e.arg, event) === null) !== e.negated;
    case 'like': {
      const v = evaluate(e.arg, event);
      const p = evaluate(e.pattern, event);
      if (v === null || p === null) return null;
      return likeRegExp(str(p, 'LIKE pattern', e.pattern)).test(str(v, 'LIKE', e.arg)) !== e.negated;
    }
    case 'case':
      for (const b of e.branches) if (evaluate(b.when, event) === true) return evaluate(b.then, event);
      return e.otherwise === null ? null : evaluate(e.otherwise, event);
    case 'cast':
      return cast(evaluate(e.arg, event), e.type, e);
    case 'call':
      return functions[e.name]!.call(
        e.args.map((a) => evaluate(a, event)),
        e,
      );
  }
}

function binary(e: Extract<Expr, { kind: 'binary' }>, event: unknown): Json {
  if (e.op === 'AND' || e.op === 'OR') {
    const l = truth(evaluate(e.left, event), e.left);
    // SQL's three-valued logic: false AND x is false, true OR x is true, whatever x is
    if (e.op === 'AND' && l === false) return false;
    if (e.op === 'OR' && l === true) return true;
    const r = truth(evaluate(e.right, event), e.right);
    if (e.op === 'AND') return r === false ? false : l === null || r === null ? null : true;
    return r === true ? true : l === null || r === null ? null : false;
  }
  const a = evaluate(e.left, event);
  const b = evaluate(e.right, event);
  switch (e.op) {
    case '=':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const c = compare(a, b);
      if (c === null) return null;
      return e.op === '='
        ? c === 0
        : e.op === '!='
          ? c !== 0
          : e.op === '<'
            ? c < 0
            : e.op === '<='
              ? c <= 0
              : e.op === '>'
                ? c > 0
                : c >= 0;
    }
    case '||':
      return a === null || b === null ? null : text(a, e.left) + text(b, e.right);
    default: {
      if (a === null || b === null) return null;
      const x = num(a, `'${e.op}'`, e.left);
      const y = num(b, `'${e.op}'`, e.right);
      if ((e.op === '/' || e.op === '%') && y === 0) throw new RuleEvalError('division by zero', e.right);
      return e.op === '+'
        ? x + y
        : e.op === '-'
          ? x - y
          : e.op === '*'
            ? x * y
            : e.op === '/'
              ? x / y
              : x % y;
    }
  }
}

function truth(v: Json, at: Expr): boolean | null {
  if (v === null || typeof v === 'boolean') return v;
  throw new RuleEvalError(`a condition needs true or false, got ${describe(v)}`, at);
}

const isoTime = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Epoch ms of an event time: a number of ms, or an ISO-8601 text. */
export function timeValue(v: Json, at: Expr): number {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string') {
    if (/^-?\d+$/.test(v)) return Number(v);
    if (isoTime.test(v)) {
      // a time without a zone is UTC, as in BigQuery
      const ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(v) || v.length <= 10 ? v : `${v}Z`);
      if (!Number.isNaN(ms)) return ms;
    }
  }
  throw new RuleEvalError(`expected a time (epoch ms or ISO-8601 text), got ${describe(v)}`, at);
}

function cast(v: Json, type: string, at: Expr): Json {
  if (v === null) return null;
  const to = castTypes[type]!;
  const fail = (): never => {
    throw new RuleEvalError(`cannot CAST ${describe(v)} AS ${type}`, at);
  };
  switch (to) {
    case 'string':
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    case 'integer': {
      if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : fail();
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
      return fail();
    }
    case 'number': {
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      return fail();
    }
    case 'boolean': {
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
      return fail();
    }
    case 'timestamp':
      return timeValue(v, at);
    default:
      return fail();
  }
}
