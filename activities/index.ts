import type { FerryActivities } from '../workflow-contract/activities.ts';
import { createCommandConsumerActivities } from './command-consumer-activities.ts';
import { AppliedDefinitions } from './definitions.ts';
import type { ActivityDeps } from './deps.ts';
import { createReplayActivities } from './replay-activities.ts';
import { createRetentionActivities } from './retention-activities.ts';
import { createSyncActivities } from './sync-activities.ts';
import { createTransformActivities } from './transform-activities.ts';

export type { FerryActivities } from '../workflow-contract/activities.ts';
export type { ActivityDeps } from './deps.ts';
export { nonRetryableErrorTypes } from './deps.ts';

/**
 * Every activity Ferry's workflows call, bound to the injected stores (the worker passes the
 * configured ones; tests pass embedded stores in a temporary folder).
 */
export function createActivities(deps: ActivityDeps): FerryActivities {
  const defs = new AppliedDefinitions(deps.online);
  return {
    ...createSyncActivities(deps, defs),
    ...createTransformActivities(deps),
    ...createRetentionActivities(deps, defs),
    ...createReplayActivities(deps, defs),
    ...createCommandConsumerActivities(deps),
  };
}
