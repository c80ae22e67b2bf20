import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { defaultHistoryMaxEntries } from '../domain/definitions/feature-definition.ts';
import type { FieldType } from '../domain/definitions/field-types.ts';
import { layoutOf } from '../domain/kinds/feature-kinds.ts';
import { isJsonAsStored } from '../domain/values/coerce-value.ts';
import type { AppliedFeature } from '../stores/registry/applied-feature.ts';
import { FeatureCatalog } from '../stores/registry/feature-catalog.ts';
import type { CachePolicySpec, ReaderConfig } from './reader-config.ts';

export interface ServedField {
  name: string;
  type: FieldType;
}

/** How long rows of a feature stay in the caches; every duration is at most the feature's online retention. */
export interface CachePolicy {
  /** Freshness in the in-process cache; 0: not cached. */
  ttlMs: number;
  /** How long past freshness a row may be served, marked stale, while the store fails; 0: never. */
  staleIfErrorMs: number;
  /** Whether reads go through the shared Redis cache (when one is configured). */
  redis: boolean;
  redisTtlMs: number;
}

/** An applied feature as the reader serves it: definition, cache policy and precomputed strings. */
export interface ServedFeature {
  def: FeatureDefinition;
  name: string;
  revision: number;
  isHistory: boolean;
  /** Aggregation: values are computed as of the read from the engine's pieces. */
  isAggregation: boolean;
  keyFields: ServedField[];
  valueFields: ServedField[];
  valueFieldByName: Map<string, ServedField>;
  /** No value field needs converting to JSON (no Bytes, no Timestamp): the store's values are served as they are. */
  valuesAreJson: boolean;
  /** History: the most entries kept per key. */
  maxEntries: number;
  retentionMs: number | undefined;
  policy: CachePolicy;
  /** Prefix of in-process cache keys: name and revision, so a changed definition never reads old rows. */
  cachePrefix: string;
  /** Prefix of shared (Redis) cache keys: name and schema fingerprint, the same in every reader process. */
  sharedPrefix: string;
  /** `{"feature":"<name>","rows":[`: the start of this feature's part of a lookup response. */
  resultPrefix: Buffer;
  /** `{"feature":"<name>",`: the start of a single lookup's response. */
  singlePrefix: Buffer;
}

function policySpecFor(
  name: string,
  namespace: string,
  specs: Record<string, CachePolicySpec>,
): CachePolicySpec {
  return { ...specs['*'], ...specs[`${namespace}::*`], ...specs[name] };
}

/**
 * The cache policy of a feature. Features that accept commands (any writer) change at any
 * moment and default to the real-time TTL (1 s); features nobody may write by command change
 * only when an upsync runs and default to the longer batch TTL. The per-feature settings
 * override both; nothing is kept longer than the feature's online retention.
 */
export function cachePolicy(def: FeatureDefinition, cache: ReaderConfig['cache']): CachePolicy {
  const spec = policySpecFor(def.name, def.namespace, cache.features);
  const retention = def.retention.onlineMs;
  const cap = (ms: number) => (retention !== undefined && retention > 0 ? Math.min(ms, retention) : ms);
  // an Aggregation's answer moves with the clock: not cached unless its settings bound the staleness
  const base =
    layoutOf(def) === 'aggregates'
      ? 0
      : def.access.writers.length === 0
        ? cache.batchTtlMs
        : cache.realtimeTtlMs;
  return {
    ttlMs: cap(spec.ttlMs ?? base),
    staleIfErrorMs: cap(spec.staleIfErrorMs ?? cache.staleIfErrorMs),
    redis: spec.redis ?? false,
    redisTtlMs: cap(spec.redisTtlMs ?? cache.redisTtlMs),
  };
}

export function serveFeature(applied: AppliedFeature, cache: ReaderConfig['cache']): ServedFeature {
  const def = applied.definition;
  const aggregation = layoutOf(def) === 'aggregates';
  // an Aggregation serves its aggregates, not the inputs its events carry
  const valueFields = def.fields
    .filter((f) => !f.isKey && (!aggregation || f.aggregate))
    .map((f) => ({ name: f.name, type: f.type }));
  return {
    def,
    name: def.name,
    revision: applied.revision,
    isHistory: layoutOf(def) === 'entries',
    isAggregation: aggregation,
    keyFields: def.keyFields.map((name) => ({ name, type: def.fields.find((f) => f.name === name)!.type })),
    valueFields,
    valueFieldByName: new Map(valueFields.map((f) => [f.name, f])),
    valuesAreJson: valueFields.every((f) => isJsonAsStored(f.type)),
    maxEntries: def.maxEntriesPerKey ?? defaultHistoryMaxEntries,
    retentionMs:
      def.retention.onlineMs !== undefined && def.retention.onlineMs > 0 ? def.retention.onlineMs : undefined,
    policy: cachePolicy(def, cache),
    cachePrefix: `${def.name}#${applied.revision}|`,
    sharedPrefix: `${def.name}#${applied.fingerprint}|`,
    resultPrefix: Buffer.from(`{"feature":${JSON.stringify(def.name)},"rows":[`),
    singlePrefix: Buffer.from(`{"feature":${JSON.stringify(def.name)},`),
  };
}

export function mayRead(feature: ServedFeature, service: string): boolean {
  const r = feature.def.access.readers;
  return r.includes('*') || r.includes(service);
}

export function mayWrite(feature: ServedFeature, service: string): boolean {
  const w = feature.def.access.writers;
  return w.includes('*') || w.includes(service);
}

/** The applied (not retired) features a reader serves, looked up by full or short name. */
export class ServedCatalog {
  private readonly names: FeatureCatalog;
  private readonly byName = new Map<string, ServedFeature>();
  private readonly readsAll = new Map<string, boolean>();

  constructor(applied: readonly AppliedFeature[], cache: ReaderConfig['cache']) {
    for (const a of applied) if (a.retiredAtMs === undefined) this.byName.set(a.name, serveFeature(a, cache));
    this.names = new FeatureCatalog([...this.byName.values()].map((f) => f.def));
  }

  get size(): number {
    return this.byName.size;
  }

  all(): ServedFeature[] {
    return [...this.byName.values()];
  }

  /** The feature a name (full, or the part after `::` when unambiguous) refers to. */
  resolve(name: string): ServedFeature | undefined {
    const exact = this.byName.get(name);
    if (exact) return exact;
    const r = this.names.resolve(name);
    return 'definition' in r ? this.byName.get(r.definition.name) : undefined;
  }

  /**
   * Whether the service may read every served feature. Only such a service learns that a
   * name is unknown (404); to anyone else an unknown name looks like a forbidden one (403),
   * so a caller can never tell whether a feature it may not read exists.
   */
  readsEverything(service: string): boolean {
    let v = this.readsAll.get(service);
    if (v === undefined) {
      v = [...this.byName.values()].every((f) => mayRead(f, service));
      this.readsAll.set(service, v);
    }
    return v;
  }
}
