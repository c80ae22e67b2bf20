import type { CommandMethod } from '../commands/feature-command.ts';
import type { FeatureDefinition } from '../definitions/feature-definition.ts';
import type { FieldType } from '../definitions/field-types.ts';

/**
 * How the online stores keep a feature's values. Every online store implements every layout
 * (stores/online/), and the conformance suite checks each on both stores; a feature kind picks one.
 * `row`: one current row per key, writes merge field by field, the newest event time wins per
 * field. `entries`: entries per key, newest event time first, at most `maxEntriesPerKey` kept.
 * `aggregates`: per key, the state of the aggregation engine (domain/aggregations/): raw events
 * at the window edges, minute, hour and day partials, a lifetime partial.
 */
export const onlineLayouts = ['row', 'entries', 'aggregates'] as const;
export type OnlineLayout = (typeof onlineLayouts)[number];

/** What a kind adds to a feature's definition. */
export interface KindSettings {
  /** History: the most entries kept per key. */
  maxEntriesPerKey?: number;
  /** Aggregation: how late an event may be. */
  aggregation?: { latenessMs: number };
}

/** Reports a problem at a path of the feature's YAML entry (build-definition turns it into file:line:column). */
export type ProblemAt = (path: (string | number)[], message: string) => void;

/**
 * A feature kind (`feature_type:` in YAML): everything that differs between kinds, in one module
 * per kind (object-kind.ts, history-kind.ts), registered in feature-kinds.ts. The rest of Ferry
 * asks the kind instead of branching on its name.
 */
export interface FeatureKind {
  /** The `feature_type` value. */
  readonly name: string;
  /** A short tag stored in online table names (Cassandra `o_…`, `h_…`): never change it. */
  readonly storageTag: string;
  /** How the online stores keep it; also the shape downsync writes (a row's snapshot, or its entries). */
  readonly onlineLayout: OnlineLayout;
  /** The command method that writes it (`UPDATE`, `APPEND`); `DELETE` works on every kind. */
  readonly writeMethod: Exclude<CommandMethod, 'DELETE'>;
  /** Whether the schema must hold a field besides the keys. */
  readonly needsValueField: boolean;
  /**
   * Top-level YAML blocks that only this kind may have (e.g. `history`), with the message that
   * refuses one on another kind. Their shape is part of the YAML schema (feature-yaml-schema.ts).
   */
  readonly ownBlocks: Readonly<Record<string, string>>;
  /** The columns of the feature's offline table (downsync writes it, training reads it). */
  offlineColumns(def: FeatureDefinition): { name: string; type: FieldType }[];
  /** The kind's part of the definition, from its feature's YAML entry (already schema-checked). */
  build(raw: Readonly<Record<string, unknown>>, problem: ProblemAt): KindSettings;
}
