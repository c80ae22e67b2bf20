import { describe, expect, it } from 'vitest';
import { readSettings, SettingsError, settingSpecs } from '../../config/settings.ts';
import { readReaderConfig } from '../../reader/reader-config.ts';

describe('settings (config/settings.ts): parsed once, typed, refused by name', () => {
  it('gives typed defaults', () => {
    const s = readSettings({});
    expect(s.onlineStore).toBe('embedded');
    expect(s.cassandraKeysPerRead).toBe(20);
    expect(s.readerPort).toBe(8080);
    expect(s.workerHeapSoftLimitMb).toBe(96);
    expect(s.readerRedisFeatures).toEqual([]);
    expect(s.readerMetricsRequireToken).toBe(false);
    for (const spec of Object.values(settingSpecs))
      expect(spec.schema.safeParse(spec.default).success).toBe(true);
  });

  it('parses what the environment gives: numbers, choices with spaces, lists and flags', () => {
    const s = readSettings({
      FERRY_READER_PORT: '0',
      FERRY_OFFLINE_STORE: ' bigquery ',
      FERRY_READER_REDIS_FEATURES: 'azar::*, live::room ,',
      FERRY_READER_METRICS_REQUIRE_TOKEN: 'TRUE',
    });
    expect(s.readerPort).toBe(0);
    expect(s.offlineStore).toBe('bigquery');
    expect(s.readerRedisFeatures).toEqual(['azar::*', 'live::room']);
    expect(s.readerMetricsRequireToken).toBe(true);
  });

  it('refuses every bad value at once, naming each variable, what it expects and what it got', () => {
    const bad = () =>
      readSettings({
        FERRY_READER_PORT: '80a',
        FERRY_CASSANDRA_KEYS_PER_READ: '5000',
        FERRY_WORKER_HEAP_SOFT_LIMIT_MB: '-1',
        FERRY_READER_METRICS_REQUIRE_TOKEN: 'maybe',
      });
    expect(bad).toThrow(SettingsError);
    expect(bad).toThrow(
      'FERRY_CASSANDRA_KEYS_PER_READ must be a whole number from 1 to 1000, not "5000"; ' +
        'FERRY_WORKER_HEAP_SOFT_LIMIT_MB must be a number of MB (0: off), not "-1"; ' +
        'FERRY_READER_PORT must be a whole number from 0 to 65535, not "80a"; ' +
        'FERRY_READER_METRICS_REQUIRE_TOKEN must be true or false, not "maybe"',
    );
  });

  it('the reader takes its settings from the same place', () => {
    expect(readReaderConfig({ FERRY_READER_CACHE_MB: '2', FERRY_READER_THREADS: '3' })).toMatchObject({
      threads: 3,
      cache: { maxBytes: 2 * 1024 * 1024 },
    });
    expect(() => readReaderConfig({ FERRY_READER_MAX_KEYS: '0' })).toThrow(
      'FERRY_READER_MAX_KEYS must be a whole number ≥ 1, not "0"',
    );
  });
});
