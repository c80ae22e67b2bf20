import type { CommandMethod } from '../commands/feature-command.ts';
import type { FieldDefinition } from '../definitions/feature-definition.ts';
import { eventIdField, eventTimeField } from '../definitions/feature-definition.ts';
import type { FieldType } from '../definitions/field-types.ts';
import type { FromEventsYaml } from './from-events-yaml.ts';
import {
  type Expr,
  parseRuleExpression,
  RuleExpressionError,
  staticType,
  type ValueType,
} from './rule-expression.ts';

/** A key or value of a rule as written: an expression's text, or a constant. */
export type RuleValue = string | number | boolean;

export interface EventRuleSettings {
  /** Unique within the feature; names the rule in metrics, dead letters and `ferry plan`. */
  name: string;
  /** The filter; absent: every event of the topic. */
  when?: string;
  method: CommandMethod;
  /** Overrides the source's event time for this rule. */
  eventTime?: string;
  keys: Record<string, RuleValue>;
  values: Record<string, RuleValue>;
}

/** Where a feature's events come from and the rules that map them (`from_events` in YAML). */
export interface FromEventsSettings {
  topic: string;
  /** The event's time: an expression giving epoch ms or an ISO-8601 text. */
  eventTime: string;
  rules: EventRuleSettings[];
  /**
   * The same events kept in the offline store (a table, one row per event, columns named as the
   * event's fields), read in the order of `watermarkColumn` by `ferry events backfill`.
   */
  backfill?: { table: string; watermarkColumn: string };
}

/** A problem at a YAML path; `offset` points into the expression text found there. */
export type RuleProblemAt = (path: (string | number)[], message: string, offset?: number) => void;

const ruleName = /^[a-z0-9][a-z0-9_-]*$/;
const tableName = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const columnName = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Kafka's topic names: letters, digits, '.', '_', '-', at most 249. */
const topicName = /^[A-Za-z0-9._-]{1,249}$/;

/** Which static types an expression may have to be written to a field of `type`. */
function accepts(type: FieldType, t: ValueType): boolean {
  if (t === 'unknown' || t === 'null') return true;
  if (type.kind === 'list') return false;
  switch (type.scalar) {
    case 'Text':
      return t === 'string';
    case 'Long':
    case 'Int':
      return t === 'integer' || t === 'timestamp';
    case 'Double':
    case 'Float':
      return t === 'number' || t === 'integer';
    case 'Boolean':
      return t === 'boolean';
    case 'Timestamp':
      return t === 'timestamp' || t === 'integer' || t === 'string';
    case 'Bytes':
      return t === 'string';
  }
}

const typeWords: Record<ValueType, string> = {
  string: 'text',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  timestamp: 'a timestamp',
  null: 'null',
  unknown: 'a value',
};

/** The expression of a rule value: a parsed text, or a constant as a literal. */
export function ruleValueExpr(v: RuleValue): Expr {
  return typeof v === 'string'
    ? parseRuleExpression(v)
    : { kind: 'literal', value: v, at: 0, end: String(v).length };
}

/**
 * Checks a `from_events` block against the feature's fields and kind, reporting each problem at
 * its YAML path (and offset in the expression); returns the settings when there is none.
 */
export function checkFromEvents(
  raw: FromEventsYaml,
  fields: readonly FieldDefinition[],
  writeMethod: Exclude<CommandMethod, 'DELETE'>,
  problem: RuleProblemAt,
): FromEventsSettings | undefined {
  let bad = false;
  const report: RuleProblemAt = (path, message, offset) => {
    bad = true;
    problem(['from_events', ...path], message, offset);
  };
  if (!topicName.test(raw.topic))
    report(['topic'], `a Kafka topic name holds letters, digits, '.', '_' and '-', got "${raw.topic}"`);
  const parse = (path: (string | number)[], v: RuleValue): Expr | undefined => {
    try {
      return ruleValueExpr(v);
    } catch (e) {
      if (!(e instanceof RuleExpressionError)) throw e;
      report(path, e.message, e.offset);
      return undefined;
    }
  };
  const timeType = (path: (string | number)[], text: string) => {
    const e = parse(path, text);
    const t = e && staticType(e);
    if (t !== undefined && !['unknown', 'integer', 'timestamp', 'string'].includes(t))
      report(path, `the event time must be epoch ms or an ISO-8601 text, not ${typeWords[t]}`);
  };
  timeType(['event_time'], raw.event_time);
  let backfill: FromEventsSettings['backfill'];
  if (raw.backfill !== undefined) {
    if (!tableName.test(raw.backfill.table))
      report(
        ['backfill', 'table'],
        `a table name holds letters, digits, _ and . (dataset.table), got "${raw.backfill.table}"`,
      );
    // the watermark: named, or the event time when that is a plain field
    let column = raw.backfill.watermark_column;
    if (column === undefined) {
      const e = (() => {
        try {
          return parseRuleExpression(raw.event_time);
        } catch {
          return undefined;
        }
      })();
      if (e?.kind === 'field' && e.path.length === 1 && typeof e.path[0] === 'string') column = e.path[0];
      else report(['backfill'], 'watermark_column is needed: event_time is not a column of its own');
    } else if (!columnName.test(column))
      report(['backfill', 'watermark_column'], `a column name holds letters, digits and _, got "${column}"`);
    if (column !== undefined) backfill = { table: raw.backfill.table, watermarkColumn: column };
  }

  const byName = new Map(fields.map((f) => [f.name, f]));
  const aggregating = fields.some((f) => f.aggregate);
  const keyFields = fields.filter((f) => f.isKey).map((f) => f.name);
  const seen = new Set<string>();
  const rules: EventRuleSettings[] = [];
  raw.rules.forEach((r, i) => {
    const at = (...rest: (string | number)[]) => ['rules', i, ...rest];
    if (!ruleName.test(r.name))
      report(at('name'), `a rule name holds lower-case letters, digits, - and _, got "${r.name}"`);
    if (seen.has(r.name)) report(at('name'), `another rule is named "${r.name}"`);
    seen.add(r.name);
    const method = r.method ?? writeMethod;
    if (method !== 'DELETE' && method !== writeMethod)
      report(at('method'), `this feature is written with ${writeMethod} (or DELETE), not ${method}`);
    if (r.when !== undefined) {
      const e = parse(at('when'), r.when);
      const t = e && staticType(e);
      if (t !== undefined && t !== 'boolean' && t !== 'unknown')
        report(at('when'), `a filter must be true or false, this gives ${typeWords[t]}`);
    }
    if (r.event_time !== undefined) timeType(at('event_time'), r.event_time);
    for (const k of keyFields)
      if (!(k in r.keys)) report(at('keys'), `key field "${k}" is not set (every key field must be)`);
    const target = (section: 'keys' | 'values', name: string, v: RuleValue) => {
      const f = byName.get(name);
      if (name === eventTimeField) {
        report(at(section, name), `${eventTimeField} comes from event_time; set event_time instead`);
        return;
      }
      if (name === eventIdField && section === 'values' && aggregating) {
        // the id an Aggregation counts once (default: the Kafka topic, partition and offset)
        const e = parse(at(section, name), v);
        const t = e && staticType(e);
        if (t !== undefined && t !== 'string' && t !== 'integer' && t !== 'unknown')
          report(at(section, name), `${eventIdField} is text or a number; this gives ${typeWords[t]}`);
        return;
      }
      if (f === undefined) {
        report(
          at(section, name),
          `"${name}" is not a field of this feature (fields: ${[...byName.keys()].join(', ')})`,
        );
        return;
      }
      if (f.aggregate) {
        report(
          at(section, name),
          `"${name}" is an aggregate that Ferry computes from the events; set the inputs it reads (${f.aggregate.of ?? 'count needs none'})`,
        );
        return;
      }
      if (section === 'keys' && !f.isKey)
        report(at(section, name), `"${name}" is a value field; put it under values`);
      if (section === 'values' && f.isKey)
        report(at(section, name), `"${name}" is a key field; put it under keys`);
      const e = parse(at(section, name), v);
      const t = e && staticType(e);
      if (t !== undefined && !accepts(f.type, t))
        report(
          at(section, name),
          `"${name}" is ${f.type.kind === 'scalar' ? f.type.scalar : `List<${f.type.item}>`}; this gives ${typeWords[t]}`,
        );
    };
    for (const [k, v] of Object.entries(r.keys)) target('keys', k, v);
    const values = r.values ?? {};
    for (const [k, v] of Object.entries(values)) target('values', k, v);
    if (method === 'DELETE' && Object.keys(values).length > 0)
      report(at('values'), 'a DELETE rule sets keys only (it deletes the whole key)');
    if (method !== 'DELETE' && Object.keys(values).length === 0)
      report(at(), `an ${method} rule sets at least one value`);
    rules.push({
      name: r.name,
      ...(r.when !== undefined ? { when: r.when } : {}),
      method,
      ...(r.event_time !== undefined ? { eventTime: r.event_time } : {}),
      keys: r.keys,
      values,
    });
  });
  return bad
    ? undefined
    : { topic: raw.topic, eventTime: raw.event_time, rules, ...(backfill ? { backfill } : {}) };
}
