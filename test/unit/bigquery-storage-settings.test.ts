import { describe, expect, it } from 'vitest';
import { readSettings } from '../../config/settings.ts';
import { storageApiHost, storageEndpoint } from '../../stores/offline/bigquery-storage-read.ts';

describe('BigQuery Storage Read API settings', () => {
  it('finds the Storage Read API next to an emulator, else at Google with TLS', () => {
    expect(storageEndpoint('http://127.0.0.1:9050', '')).toEqual({
      address: '127.0.0.1:9060',
      secure: false,
    });
    expect(storageEndpoint('http://bq-emulator:19050/', undefined)).toEqual({
      address: 'bq-emulator:9060',
      secure: false,
    });
    expect(storageEndpoint('', '')).toEqual({ address: storageApiHost, secure: true });
    expect(storageEndpoint(undefined, undefined)).toEqual({
      address: 'bigquerystorage.googleapis.com:443',
      secure: true,
    });
    // an explicit address keeps the channel's security: insecure only beside an emulator
    expect(storageEndpoint('http://127.0.0.1:9050', '127.0.0.1:19060')).toEqual({
      address: '127.0.0.1:19060',
      secure: false,
    });
    expect(storageEndpoint('', 'eu-bigquerystorage.googleapis.com:443')).toEqual({
      address: 'eu-bigquerystorage.googleapis.com:443',
      secure: true,
    });
  });

  it('defaults FERRY_BIGQUERY_READ_API to storage and refuses an unknown value before connecting', async () => {
    expect(readSettings({}).bigqueryReadApi).toBe('storage');
    expect(readSettings({}).bigqueryStorageEndpoint).toBe('');
    expect(() => readSettings({ FERRY_OFFLINE_STORE: 'bigquery', FERRY_BIGQUERY_READ_API: 'grpc' })).toThrow(
      'FERRY_BIGQUERY_READ_API must be storage or rest, not "grpc"',
    );
  });
});
