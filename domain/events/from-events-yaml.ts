import { z } from 'zod';

// The `from_events` block of a feature in YAML: the topic of domain events that feeds it and the
// rules that turn an event into the feature's writes. Strings in `keys`, `values`, `when` and
// `event_time` are rule expressions (rule-grammar.ts); numbers and booleans are constants.

const text = z.string();

/** A key or value of a rule: an expression, or a constant written as a YAML number or boolean. */
export const ruleValueYaml = z.union([z.string(), z.number(), z.boolean()]);

export const eventRuleYaml = z.strictObject({
  name: text,
  when: text.optional(),
  method: z.enum(['UPDATE', 'APPEND', 'DELETE']).optional(),
  event_time: text.optional(),
  keys: z.record(text, ruleValueYaml),
  values: z.record(text, ruleValueYaml).optional(),
});

/** Where the same events are kept in the offline store, for `ferry events backfill`. */
export const eventsBackfillYaml = z.strictObject({
  table: text,
  watermark_column: text.optional(),
});

export const fromEventsYaml = z.strictObject({
  topic: text,
  event_time: text,
  rules: z.array(eventRuleYaml).min(1),
  backfill: eventsBackfillYaml.optional(),
});

export type FromEventsYaml = z.infer<typeof fromEventsYaml>;
