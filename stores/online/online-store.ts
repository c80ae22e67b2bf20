import type { EventOutcome } from '../../domain/aggregations/key-aggregation.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { FieldValue } from '../../domain/values/coerce-value.ts';

/** The key of one entity: each key field of the definition to its value. */
export type KeyValues = Record<string, unknown>;

/** A full or partial write of an Object feature: only the named fields change. */
export interface ObjectWrite {
  keys: KeyValues;
  /**
   * Field name to raw value (coerced and validated by the store); a subset of the value fields.
   * `null` clears the field as of the event time (it then reads as its default). A
   * `_last_updated_at_ms` entry is allowed when it equals `eventTimeMs`.
   */
  values: Record<string, unknown>;
  /** `_last_updated_at_ms`: the event time; per field, the newest event time wins. */
  eventTimeMs: number;
}

/** One entry appended to a History feature. */
export interface HistoryAppend {
  keys: KeyValues;
  values: Record<string, unknown>;
  eventTimeMs: number;
}

/** Delete every value of a key that is older than `eventTimeMs` (newer writes survive). */
export interface KeyDelete {
  keys: KeyValues;
  eventTimeMs: number;
}

/** One event of an Aggregation feature: its keys, event time, id (counted once) and input values. */
export interface AggregateAppend {
  keys: KeyValues;
  eventTimeMs: number;
  eventId: string;
  values: Record<string, unknown>;
}

export type AggregateOutcome = EventOutcome;

export interface ReadOptions {
  /** Field projection: only these value fields come back (default: all). */
  fields?: readonly string[];
}

/** The stored value of one key. */
export interface ObjectReadResult {
  /** True when at least one of the requested fields (all, or the projection) has a stored, unexpired value. */
  found: boolean;
  /** Every requested value field, with the definition's default where nothing is stored. */
  values: Record<string, FieldValue>;
  /** The newest event time among the stored fields; null when not found. */
  lastUpdatedAtMs: number | null;
}

export interface HistoryEntry {
  values: Record<string, FieldValue>;
  eventTimeMs: number;
}

export interface HistoryReadResult {
  found: boolean;
  /** Newest first, at most the requested limit and the definition's max entries per key. */
  entries: HistoryEntry[];
}

/**
 * Thrown for bad input; names the field at fault. Nothing is written when it is thrown.
 * Besides schema fields, `field` may be `feature_name` (the store holds no table for the
 * feature: ensureFeature / `ferry apply` never ran), `feature_type` (the wrong operation for
 * the type), `_last_updated_at_ms` (the event time), `keys`, `values` or `limit`.
 */
export class OnlineStoreInputError extends Error {
  constructor(
    readonly feature: string,
    readonly field: string,
    /** What is wrong, without the feature, field or item. */
    readonly reason: string,
    /**
     * Which item of the call's batch (write, append, delete or key) is refused, from 0; the
     * store checks a whole call before writing anything, and names the first bad item. Undefined
     * when the refusal is about the call or the feature, not an item.
     */
    readonly item?: number,
    /** Whether the message names the item (a call of several items). */
    itemInMessage = false,
  ) {
    super(`${feature}.${field}: ${reason}${item !== undefined && itemInMessage ? ` (item ${item})` : ''}`);
    this.name = 'OnlineStoreInputError';
  }

  /** The same refusal, about item `index` of a call of `count` items. */
  atItem(index: number, count: number): OnlineStoreInputError {
    return new OnlineStoreInputError(this.feature, this.field, this.reason, index, count > 1);
  }
}

/**
 * The online store: latest values of Object features and recent entries of History
 * features per key, plus small metadata records (definition registry, watermarks,
 * checkpoints). Implemented by the embedded LMDB store and by Cassandra/ScyllaDB; both
 * pass test/conformance/online-store-conformance.ts.
 */
export interface OnlineStore {
  readonly kind: 'embedded' | 'cassandra';
  /**
   * Rows per `writeObjects` call that suit a bulk copy (an upsync page): the embedded store commits
   * each call as an LMDB child transaction and keeps up best with calls of several hundred rows;
   * Cassandra sends every row as its own request and wants many in flight.
   */
  readonly bulkWriteRows: number;
  /**
   * How many such calls a bulk copy keeps in flight: the next pages are read and checked while
   * earlier ones are written. Calls queued while LMDB commits go into its next commit together,
   * so a third call halves the embedded store's commits; Cassandra's parallelism is inside a call.
   */
  readonly bulkWritesInFlight: number;
  /**
   * Whether values past their online retention disappear by themselves (Cassandra's TTL), so that
   * `sweepExpired` has nothing to do and returns 0; the embedded store only hides them on read
   * until a sweep removes them.
   */
  readonly expiresByItself: boolean;
  /**
   * Creates what the feature needs (tables, TTL settings) and adds columns for added fields;
   * idempotent. Throws OnlineStoreInputError when the stored feature has other key fields or
   * another feature type (such changes need a new feature version). Writes of a field refuse
   * until it has run for a definition holding that field; reads fill its default meanwhile.
   */
  ensureFeature(def: FeatureDefinition): Promise<void>;
  writeObjects(def: FeatureDefinition, writes: readonly ObjectWrite[]): Promise<void>;
  appendHistory(def: FeatureDefinition, entries: readonly HistoryAppend[]): Promise<void>;
  deleteKeys(def: FeatureDefinition, deletes: readonly KeyDelete[]): Promise<void>;
  /** Results in request order, one per key. */
  readObjects(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions,
  ): Promise<ObjectReadResult[]>;
  readHistory(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { limit?: number },
  ): Promise<HistoryReadResult[]>;
  /**
   * Aggregation features: adds events through the aggregation engine (domain/aggregations/),
   * each key's events in order; an event already counted (same event time and id) is a duplicate,
   * one too late is refused with the reason. One outcome per event, in call order. `nowMs` (the
   * writer's clock, default now) decides what is too old.
   */
  writeAggregateEvents(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    nowMs?: number,
  ): Promise<AggregateOutcome[]>;
  /**
   * Aggregation features with a backfill: adds events of the warehouse, in time order, to each
   * key's history state, kept apart from its live state (AggregationEngine.addHistory): events at
   * or after the key's live start (`cutMs` for a key with no live state yet; it becomes that key's
   * start) are skipped, as are those an earlier backfill counted. Reads merge both states.
   */
  writeAggregateHistory(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    cutMs: number,
    nowMs?: number,
  ): Promise<AggregateOutcome[]>;
  /**
   * Aggregation features: each aggregate field as of `atMs` (default now): exact over
   * (atMs − window, atMs] (see window-plan.ts for windows over a day). `found` when the key has
   * events; `lastUpdatedAtMs` its newest event time. Null aggregates read as the field's default.
   */
  readAggregates(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { atMs?: number },
  ): Promise<ObjectReadResult[]>;
  /** Removes values past the feature's online retention that the store does not expire by itself; returns how many. */
  sweepExpired(def: FeatureDefinition, nowMs: number): Promise<number>;
  getMeta(key: string): Promise<string | undefined>;
  putMeta(key: string, value: string): Promise<void>;
  /** Metadata records whose key starts with `prefix`, sorted by key. */
  listMeta(prefix: string): Promise<[string, string][]>;
  deleteMeta(key: string): Promise<void>;
  /** Resolves when the store answers; throws otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
