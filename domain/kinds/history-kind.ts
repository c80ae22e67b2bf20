import { z } from 'zod';
import { defaultHistoryMaxEntries } from '../definitions/feature-definition.ts';
import type { FeatureKind } from './feature-kind.ts';
import { valuesAtEventTime } from './offline-columns.ts';

/** The `history:` block of a History feature. */
export const historyYaml = z.strictObject({
  max_entries_per_key: z.number().int().positive().max(100_000),
});

/** A History feature: the latest entries of a key (a user's recent matches), newest first. */
export const historyKind = {
  name: 'History',
  storageTag: 'h',
  onlineLayout: 'entries',
  writeMethod: 'APPEND',
  offlineColumns: valuesAtEventTime,
  needsValueField: false,
  ownBlocks: {
    history: 'only History features keep a history; remove this block or use feature_type: History',
  },
  build: (raw) => ({
    maxEntriesPerKey:
      (raw.history as z.infer<typeof historyYaml> | undefined)?.max_entries_per_key ??
      defaultHistoryMaxEntries,
  }),
} as const satisfies FeatureKind;
