import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';

/** What the registry keeps for each applied feature (in the online store's metadata). */
export interface AppliedFeature {
  name: string;
  /** 1 for the first apply, +1 for each apply that changed the definition. */
  revision: number;
  definition: FeatureDefinition;
  avroSchema: unknown;
  fingerprint: string;
  appliedAtMs: number;
  /** Earlier revisions, oldest first, so values written under them can be decoded. */
  history: { revision: number; fingerprint: string; appliedAtMs: number }[];
  /** Set when the feature left `features/`: its schedules are gone, its data is kept. */
  retiredAtMs?: number;
}
