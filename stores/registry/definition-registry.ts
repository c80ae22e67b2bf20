import { schemaFingerprint, valueRecordSchema } from '../../domain/codec/avro-schema.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { OnlineStore } from '../online/online-store.ts';
import type { AppliedFeature } from './applied-feature.ts';

const featurePrefix = 'registry/features/';

/** Equal apart from where the file was: applying the same definition again is no new revision. */
function sameDefinition(a: FeatureDefinition, b: FeatureDefinition): boolean {
  return JSON.stringify({ ...a, origin: null }) === JSON.stringify({ ...b, origin: null });
}
const schemaPrefix = 'registry/schemas/';

/**
 * The applied definitions, kept in the online store's metadata so every worker and
 * reader sees the same ones. Each revision's Avro schema is kept by fingerprint.
 */
export class DefinitionRegistry {
  constructor(private readonly store: OnlineStore) {}

  async list(options: { includeRetired?: boolean } = {}): Promise<AppliedFeature[]> {
    const rows = await this.store.listMeta(featurePrefix);
    const all = rows.map(([, v]) => JSON.parse(v) as AppliedFeature);
    return options.includeRetired ? all : all.filter((f) => f.retiredAtMs === undefined);
  }

  async get(name: string): Promise<AppliedFeature | undefined> {
    const v = await this.store.getMeta(featurePrefix + name);
    return v === undefined ? undefined : (JSON.parse(v) as AppliedFeature);
  }

  async schema(fingerprint: string): Promise<unknown | undefined> {
    const v = await this.store.getMeta(schemaPrefix + fingerprint);
    return v === undefined ? undefined : JSON.parse(v);
  }

  /** Records a definition as applied (a new revision when it differs from the last one). */
  async record(def: FeatureDefinition, nowMs = Date.now()): Promise<AppliedFeature> {
    const previous = await this.get(def.name);
    if (previous && previous.retiredAtMs === undefined && sameDefinition(previous.definition, def))
      return previous;
    const avroSchema = valueRecordSchema(def);
    const fingerprint = schemaFingerprint(avroSchema);
    const entry: AppliedFeature = {
      name: def.name,
      revision:
        previous && previous.retiredAtMs === undefined
          ? previous.revision + 1
          : (previous?.revision ?? 0) + 1,
      definition: def,
      avroSchema,
      fingerprint,
      appliedAtMs: nowMs,
      history: previous
        ? [
            ...previous.history,
            {
              revision: previous.revision,
              fingerprint: previous.fingerprint,
              appliedAtMs: previous.appliedAtMs,
            },
          ]
        : [],
    };
    await this.store.putMeta(schemaPrefix + fingerprint, JSON.stringify(avroSchema));
    await this.store.putMeta(featurePrefix + def.name, JSON.stringify(entry));
    return entry;
  }

  async retire(name: string, nowMs = Date.now()): Promise<void> {
    const entry = await this.get(name);
    if (!entry || entry.retiredAtMs !== undefined) return;
    await this.store.putMeta(featurePrefix + name, JSON.stringify({ ...entry, retiredAtMs: nowMs }));
  }
}
