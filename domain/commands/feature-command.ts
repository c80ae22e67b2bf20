/** What producers send (over Kafka or the push endpoint) to change a feature's online value. */
export type CommandMethod = 'UPDATE' | 'DELETE' | 'APPEND';

/** A command as parsed from its envelope, before it is checked against the definition. */
export interface RawCommand {
  featureName: string;
  method: CommandMethod;
  keys: Record<string, unknown>;
  values: Record<string, unknown>;
}

/** A command checked against its definition: keys complete, values coerced, event time known. */
export interface ValidCommand {
  feature: string;
  method: CommandMethod;
  keys: Record<string, unknown>;
  /** Value fields only (without `_last_updated_at_ms`), in Ferry's in-memory form. */
  values: Record<string, unknown>;
  eventTimeMs: number;
  /** Aggregation features: the event's id (`_event_id` among the values), counted once. */
  eventId?: string;
}

/** Why a command was refused; it goes to dead letters with this reason. */
export class CommandError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CommandError';
  }
}
