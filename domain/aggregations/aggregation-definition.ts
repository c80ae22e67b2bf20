import { parseDuration } from '../definitions/duration.ts';
import type { FieldDefinition } from '../definitions/feature-definition.ts';
import {
  type FieldType,
  formatFieldType,
  parseFieldType,
  valueMismatch,
} from '../definitions/field-types.ts';
import { defaultLatenessMs } from '../kinds/aggregation-kind.ts';
import {
  type AggregateField,
  type AggregateFunction,
  type AggregateWindow,
  type AggregationSpec,
  aggregationSpec,
  maxWindowMs,
  numericFunctions,
} from './aggregate-field.ts';
import { AggregationEngine } from './key-aggregation.ts';

/** An `aggregate:` entry of a field as YAML has it (already shape-checked). */
export interface AggregateYaml {
  function: AggregateFunction;
  of?: string | undefined;
  window: string;
  n?: number | undefined;
}

type Problem = (path: (string | number)[], message: string) => void;

const numericScalars = new Set(['Long', 'Int', 'Double', 'Float']);
const long: FieldType = { kind: 'scalar', scalar: 'Long' };
const double: FieldType = { kind: 'scalar', scalar: 'Double' };

/** What a function gives for an input of type `input` (why not, as text, when it cannot). */
function resultType(fn: AggregateFunction, input: FieldType | undefined): FieldType | string {
  if (fn === 'count') return long;
  if (input === undefined) return `${fn} needs an input: of: <field>`;
  if (input.kind !== 'scalar') return `${fn} aggregates a scalar input, not ${formatFieldType(input)}`;
  if (numericFunctions.has(fn) && !numericScalars.has(input.scalar))
    return `${fn} needs a numeric input (Long, Int, Double, Float), not ${input.scalar}`;
  switch (fn) {
    case 'sum':
      return input.scalar === 'Long' || input.scalar === 'Int' ? long : double;
    case 'avg':
      return double;
    case 'min':
    case 'max':
    case 'last':
      return input;
    case 'approx_distinct':
      return long;
    case 'last_distinct':
      return { kind: 'list', item: input.scalar };
  }
}

/** Parses `window:`: a duration from 1s to 400d, or `lifetime`. */
export function parseWindow(text: string): AggregateWindow | undefined {
  if (text.trim() === 'lifetime') return { kind: 'lifetime' };
  const ms = parseDuration(text);
  return ms !== undefined && ms >= 1000 && ms <= maxWindowMs ? { kind: 'sliding', ms } : undefined;
}

/**
 * Checks one aggregate field of an Aggregation feature against its inputs (the value fields
 * without `aggregate:`) and gives its definition; the type is inferred (count → Long, avg →
 * Double, sum of Long → Long, last_distinct of Text → List<Text>, ...) and, when written, must match.
 */
export function buildAggregateField(
  name: string,
  yaml: AggregateYaml,
  declaredType: string | undefined,
  defaultValue: unknown,
  inputs: ReadonlyMap<string, FieldDefinition>,
  problem: Problem,
): { type: FieldType; aggregate: Omit<AggregateField, 'name'>; defaultValue: unknown } | undefined {
  const at = ['schema', name, 'aggregate'];
  let ok = true;
  const window = parseWindow(yaml.window);
  if (window === undefined) {
    problem(
      [...at, 'window'],
      `expected a duration from 1s to 400d (10m, 1h, 30d) or lifetime, got "${yaml.window}"`,
    );
    ok = false;
  }
  let input: FieldDefinition | undefined;
  if (yaml.of !== undefined) {
    if (yaml.function === 'count') {
      problem([...at, 'of'], 'count counts the events; it takes no input (remove of:)');
      ok = false;
    } else {
      input = inputs.get(yaml.of);
      if (input === undefined) {
        problem(
          [...at, 'of'],
          `"${yaml.of}" is not an input of this feature (inputs: ${[...inputs.keys()].join(', ') || 'none; declare the event fields the aggregates read'})`,
        );
        ok = false;
      }
    }
  }
  if (yaml.n !== undefined && yaml.function !== 'last_distinct') {
    problem([...at, 'n'], 'n is for last_distinct (how many values)');
    ok = false;
  }
  if (!ok) return undefined;
  const type = resultType(yaml.function, input?.type);
  if (typeof type === 'string') {
    problem([...at, yaml.of === undefined ? 'function' : 'of'], type);
    return undefined;
  }
  if (declaredType !== undefined) {
    const declared = parseFieldType(declaredType);
    if (declared === undefined || formatFieldType(declared) !== formatFieldType(type)) {
      problem(
        ['schema', name, 'type'],
        `${yaml.function}${input ? ` of ${input.name} (${formatFieldType(input.type)})` : ''} is ${formatFieldType(type)}; write type: ${formatFieldType(type)} or leave type out`,
      );
      return undefined;
    }
  }
  if (defaultValue !== undefined && defaultValue !== null) {
    const why = valueMismatch(type, defaultValue);
    if (why) {
      problem(['schema', name, 'default_value'], why);
      return undefined;
    }
  }
  // without events: a count or a sum is 0, a list of values empty, the others null
  const natural =
    yaml.function === 'count' || yaml.function === 'sum' || yaml.function === 'approx_distinct'
      ? 0
      : yaml.function === 'last_distinct'
        ? []
        : null;
  return {
    type,
    defaultValue: defaultValue ?? natural,
    aggregate: {
      fn: yaml.function,
      ...(input ? { of: input.name } : {}),
      window: window!,
      ...(yaml.function === 'last_distinct' ? { n: yaml.n ?? 10 } : {}),
    },
  };
}

/** The aggregate fields of a definition, as the engine takes them. */
export function aggregateFieldsOf(def: { fields: readonly FieldDefinition[] }): AggregateField[] {
  return def.fields.flatMap((f) => (f.aggregate ? [{ name: f.name, ...f.aggregate }] : []));
}

/** A definition as the engine needs it: its fields, its lateness, whether it has a backfill. */
type AggregatingDefinition = {
  fields: readonly FieldDefinition[];
  aggregation?: { latenessMs: number } | undefined;
  fromEvents?: { backfill?: unknown } | undefined;
};

const engines = new WeakMap<object, AggregationEngine>();

/** The engine of an Aggregation feature (its aggregate fields and lateness), once per definition. */
export function aggregationEngineOf(def: AggregatingDefinition): AggregationEngine {
  let e = engines.get(def);
  if (e === undefined) {
    e = new AggregationEngine(
      aggregationSpec(
        aggregateFieldsOf(def),
        def.aggregation?.latenessMs ?? defaultLatenessMs,
        def.fromEvents?.backfill !== undefined,
      ),
    );
    engines.set(def, e);
  }
  return e;
}

/** The engine's spec of an Aggregation feature. */
export function aggregationSpecOf(def: AggregatingDefinition): AggregationSpec {
  return aggregationEngineOf(def).spec;
}
