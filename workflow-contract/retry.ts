// Activity retry settings shared by the workflows. Pure data.

/** Error types the workflows never retry: the cause is in a definition, a transform or the data. */
export const nonRetryableErrorTypes = [
  'FeatureNotApplied',
  'UpsyncNotConfigured',
  'UpsyncSourceError',
  'TransformError',
  'TransformDefinitionError',
  'OnlineStoreNotReady',
];

/**
 * Store outages are retried with exponential backoff (1 s, 2 s, 4 s, ... at most a minute apart)
 * for as long as they last; the Temporal UI shows the attempt count and the last error meanwhile.
 */
export const storeRetry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  nonRetryableErrorTypes,
} as const;
