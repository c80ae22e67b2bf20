import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import type { OfflineStore } from '../stores/offline/offline-store.ts';

/** The dead letters one feature has, as `ferry start` reports them. */
export interface DeadLetterCount {
  feature: string;
  /** At most `countLimit`; `more` says there are others. */
  count: number;
  more: boolean;
  /** The reason of the first one (they often share it). */
  reason: string;
}

const countLimit = 10_000;

/** How many dead letters each feature of the run has (those with none left out). */
export async function countDeadLetters(
  offline: OfflineStore,
  features: readonly FeatureDefinition[],
): Promise<DeadLetterCount[]> {
  const out: DeadLetterCount[] = [];
  for (const def of features) {
    const letters = await offline.readDeadLetters(def.name, { limit: countLimit + 1 });
    if (letters.length === 0) continue;
    out.push({
      feature: def.name,
      count: Math.min(letters.length, countLimit),
      more: letters.length > countLimit,
      reason: letters[0]!.reason,
    });
  }
  return out;
}
