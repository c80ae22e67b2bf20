import type { z } from 'zod';
import { describeValue } from './field-types.ts';

const typeWords: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  record: 'a map',
};

export interface LocatedMessage {
  path: (string | number)[];
  message: string;
  /** Where in the text of the scalar at `path` (an expression's syntax error), when known. */
  offset?: number;
}

/** Turns zod issues into messages that say what was expected and what was found. */
export function issueMessages(issues: readonly z.core.$ZodIssue[]): LocatedMessage[] {
  const out: LocatedMessage[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const input = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case 'invalid_type':
        out.push({
          path,
          message:
            input === undefined
              ? 'required key is missing'
              : `expected ${typeWords[issue.expected] ?? issue.expected}, got ${describeValue(input)}`,
        });
        break;
      case 'invalid_value':
        out.push({
          path,
          message: `expected one of ${issue.values.map((v) => String(v)).join(', ')}, got ${describeValue(input)}`,
        });
        break;
      case 'unrecognized_keys':
        for (const key of issue.keys) out.push({ path: [...path, key], message: `unknown key "${key}"` });
        break;
      case 'invalid_union':
        out.push({ path, message: unionMessage(path) });
        break;
      case 'too_small':
        out.push({
          path,
          message: `must be ${issue.inclusive ? 'at least' : 'more than'} ${issue.minimum}, got ${describeValue(input)}`,
        });
        break;
      case 'too_big':
        out.push({
          path,
          message: `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}, got ${describeValue(input)}`,
        });
        break;
      default:
        out.push({ path, message: issue.message });
    }
  }
  return out;
}

function unionMessage(path: readonly (string | number)[]): string {
  if (path.at(-1) === 'source') return 'expected {transform: <file in sql/>} or {table: <table name>}';
  return 'value has none of the accepted shapes';
}
