import type { FeatureKind } from './feature-kind.ts';
import { valuesAtEventTime } from './offline-columns.ts';

/** An Object feature: the current values of a key (a user's profile, a room's context). */
export const objectKind = {
  name: 'Object',
  storageTag: 'o',
  onlineLayout: 'row',
  writeMethod: 'UPDATE',
  offlineColumns: valuesAtEventTime,
  needsValueField: true,
  ownBlocks: {},
  build: () => ({}),
} as const satisfies FeatureKind;
