import { ReaderMetrics } from '../reader/metrics.ts';

/** Reader metrics whose gauges read zero: for tests that build a FeatureReader of their own. */
export const readerTestMetrics = (): ReaderMetrics =>
  new ReaderMetrics(() => ({
    cacheEntries: 0,
    cacheBytes: 0,
    cacheEvictions: 0,
    cacheRejections: 0,
    inflight: 0,
    storeKeysInFlight: 0,
  }));
