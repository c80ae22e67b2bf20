import { CommandError, type ValidCommand } from '../commands/feature-command.ts';
import { validateCommand } from '../commands/validate-command.ts';
import { eventTimeField, type FeatureDefinition } from '../definitions/feature-definition.ts';
import { ruleValueExpr } from './event-rules.ts';
import {
  describe,
  type Expr,
  evaluate,
  parseRuleExpression,
  RuleEvalError,
  timeValue,
} from './rule-expression.ts';

/** What one rule made of one event. */
export type RuleOutcome =
  | { rule: string; feature: string; command: ValidCommand }
  | { rule: string; feature: string; failure: string };

/** An event time this far ahead of the clock is refused: it would win over every real value until then. */
export const maxEventTimeAheadMs = 3_600_000;

interface CompiledRule {
  name: string;
  when: Expr | null;
  method: ValidCommand['method'];
  eventTime: Expr;
  keys: [string, Expr][];
  values: [string, Expr][];
}

/**
 * A feature's `from_events` rules, parsed once, applied to events: each rule whose filter is true
 * maps the event to a command, checked against the definition exactly as a command from Kafka
 * is (validateCommand); from there it takes the commands' path. A filter that cannot be decided
 * (a field missing, of another type) is not true: the event does not match that rule.
 */
export class EventMapper {
  private readonly rules: CompiledRule[];

  constructor(
    readonly def: FeatureDefinition,
    private readonly clock: () => number = Date.now,
  ) {
    const from = def.fromEvents;
    if (from === undefined) throw new Error(`${def.name} has no from_events`);
    const sourceTime = parseRuleExpression(from.eventTime);
    this.rules = from.rules.map((r) => ({
      name: r.name,
      when: r.when === undefined ? null : parseRuleExpression(r.when),
      method: r.method,
      eventTime: r.eventTime === undefined ? sourceTime : parseRuleExpression(r.eventTime),
      keys: Object.entries(r.keys).map(([k, v]) => [k, ruleValueExpr(v)]),
      values: Object.entries(r.values).map(([k, v]) => [k, ruleValueExpr(v)]),
    }));
  }

  get topic(): string {
    return this.def.fromEvents!.topic;
  }

  get ruleNames(): string[] {
    return this.rules.map((r) => r.name);
  }

  /** The outcome of every rule the event matches (none: the event is skipped). */
  map(event: unknown): RuleOutcome[] {
    const out: RuleOutcome[] = [];
    for (const r of this.rules) {
      if (r.when !== null && !matches(r.when, event)) continue;
      try {
        out.push({ rule: r.name, feature: this.def.name, command: this.command(r, event) });
      } catch (e) {
        if (!(e instanceof RuleEvalError || e instanceof CommandError)) throw e;
        out.push({ rule: r.name, feature: this.def.name, failure: e.message });
      }
    }
    return out;
  }

  private command(r: CompiledRule, event: unknown): ValidCommand {
    const keys: Record<string, unknown> = {};
    for (const [name, e] of r.keys) {
      const v = mapped(e, event, `keys.${name}`);
      if (v === null) throw new RuleEvalError(`keys.${name}: the event gives no value (${source(e)})`, e);
      keys[name] = v;
    }
    const values: Record<string, unknown> = {};
    for (const [name, e] of r.values) {
      const v = mapped(e, event, `values.${name}`);
      // a field the event lacks is a mapping failure: COALESCE or a filter says what to do instead
      if (v === null) throw new RuleEvalError(`values.${name}: the event gives no value (${source(e)})`, e);
      values[name] = v;
    }
    const t = mapped(r.eventTime, event, 'event_time');
    if (t === null)
      throw new RuleEvalError(`event_time: the event has none (${source(r.eventTime)})`, r.eventTime);
    let eventTimeMs: number;
    try {
      eventTimeMs = timeValue(t, r.eventTime);
    } catch (e) {
      if (!(e instanceof RuleEvalError)) throw e;
      throw new RuleEvalError(`event_time: ${e.message}`, r.eventTime);
    }
    if (eventTimeMs <= 0)
      throw new RuleEvalError(`event_time: ${eventTimeMs} is not after 1970`, r.eventTime);
    const ahead = eventTimeMs - this.clock();
    if (ahead > maxEventTimeAheadMs)
      throw new RuleEvalError(
        `event_time: ${new Date(eventTimeMs).toISOString()} is ${Math.round(ahead / 60_000)} minutes ahead of now (at most ${maxEventTimeAheadMs / 60_000} allowed)`,
        r.eventTime,
      );
    values[eventTimeField] = eventTimeMs;
    return validateCommand({ featureName: this.def.name, method: r.method, keys, values }, this.def);
  }
}

function matches(when: Expr, event: unknown): boolean {
  try {
    return evaluate(when, event) === true;
  } catch (e) {
    if (e instanceof RuleEvalError) return false;
    throw e;
  }
}

function mapped(e: Expr, event: unknown, what: string): ReturnType<typeof evaluate> {
  try {
    const v = evaluate(e, event);
    if (v !== null && typeof v === 'object')
      throw new RuleEvalError(`${describe(v)} cannot be stored; map a field inside it`, e);
    return v;
  } catch (err) {
    if (err instanceof RuleEvalError && !err.message.startsWith(`${what}:`))
      throw new RuleEvalError(`${what}: ${err.message}`, err.expr);
    throw err;
  }
}

function source(e: Expr): string {
  return e.kind === 'field' ? `field ${e.path.join('.')}` : 'expression';
}

const mappers = new WeakMap<FeatureDefinition, EventMapper>();

/**
 * The mappers of the features fed by `topic`, one per definition object (built once while the
 * definition stays the same: a registry reload that brings a new revision brings new rules).
 */
export function eventMappersOf(definitions: Iterable<FeatureDefinition>, topic: string): EventMapper[] {
  const out: EventMapper[] = [];
  for (const d of definitions) {
    if (d.fromEvents?.topic !== topic) continue;
    let m = mappers.get(d);
    if (m === undefined) {
      m = new EventMapper(d);
      mappers.set(d, m);
    }
    out.push(m);
  }
  return out;
}
