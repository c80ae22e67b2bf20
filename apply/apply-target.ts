import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';

/** Something `ferry apply` creates or changes: a table, a topic, a schedule. */
export interface ResourceChange {
  kind: string;
  name: string;
  action: 'create' | 'update' | 'delete';
}

/**
 * A place where applying a definition makes something (the online store, the offline
 * store, Kafka, Temporal). `plan` asks each target what it would do; `apply` does it.
 * Every method is idempotent.
 */
export interface ApplyTarget {
  readonly name: string;
  /** What applying `def` (previously `before`, if applied) would create or change. */
  plan(def: FeatureDefinition, before: FeatureDefinition | undefined): Promise<ResourceChange[]>;
  apply(def: FeatureDefinition, before: FeatureDefinition | undefined): Promise<void>;
  /** What retiring a feature that left `features/` removes (schedules, not data). */
  planRetire?(def: FeatureDefinition): Promise<ResourceChange[]>;
  retire?(def: FeatureDefinition): Promise<void>;
}
