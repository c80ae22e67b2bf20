import type { FeatureDefinition } from '../definitions/feature-definition.ts';
import type { FeatureKind, OnlineLayout } from './feature-kind.ts';

export { onlineLayouts } from './feature-kind.ts';

import { aggregationKind } from './aggregation-kind.ts';
import { historyKind } from './history-kind.ts';
import { objectKind } from './object-kind.ts';

/** Every feature kind, by its `feature_type`. A new kind is one module and one line here. */
export const featureKinds = {
  Object: objectKind,
  History: historyKind,
  Aggregation: aggregationKind,
} as const satisfies Record<string, FeatureKind>;

export type FeatureType = keyof typeof featureKinds;

/** The `feature_type` values, in the order messages list them. */
export const featureTypes = Object.keys(featureKinds) as [FeatureType, ...FeatureType[]];

/** The kind of a feature. */
export function kindOf(def: Pick<FeatureDefinition, 'featureType'>): FeatureKind {
  return featureKinds[def.featureType];
}

/** How the online stores keep a feature. */
export function layoutOf(def: Pick<FeatureDefinition, 'featureType'>): OnlineLayout {
  return featureKinds[def.featureType].onlineLayout;
}

/** The kinds the online stores keep in `layout`, for messages ("History"). */
export function kindsKeptAs(layout: OnlineLayout): string {
  return Object.values(featureKinds)
    .filter((k) => k.onlineLayout === layout)
    .map((k) => k.name)
    .join(' or ');
}

/** The kinds a command method writes (for messages: "method APPEND is for History features"). */
export function kindsWrittenBy(method: string): FeatureKind[] {
  return Object.values(featureKinds).filter((k) => k.writeMethod === method);
}
