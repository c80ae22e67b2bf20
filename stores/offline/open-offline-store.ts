import path from 'node:path';
import type { Settings } from '../../config/settings.ts';
import type { OfflineStore } from './offline-store.ts';

export interface OpenOfflineStoreOptions {
  /** Base of relative folders in the settings (default: the process's working folder). */
  cwd?: string;
  /** BigQuery: the dataset to use instead of `settings.bigqueryDataset` (tests use a fresh one). */
  dataset?: string;
}

/** FERRY_DUCKDB_MEMORY_LIMIT as DuckDB reads it: a number and a unit (KB, MB, GB). */
/**
 * Opens the offline store the settings name: `duckdb` (the embedded default, the file
 * `<dataDir>/offline.duckdb`) or `bigquery` (project, dataset and location from the settings;
 * `bigqueryEndpoint` switches to an emulator without Google credentials, `bigqueryReadApi` picks how
 * incremental reads fetch results). Drivers load on demand.
 */
export async function openOfflineStore(
  settings: Settings,
  options: OpenOfflineStoreOptions = {},
): Promise<OfflineStore> {
  const cwd = options.cwd ?? process.cwd();
  switch (settings.offlineStore) {
    case 'duckdb': {
      const { DuckDbOfflineStore, duckDbFileName } = await import('./duckdb-offline-store.ts');
      return DuckDbOfflineStore.open({
        path: path.resolve(cwd, settings.dataDir, duckDbFileName),
        sqlDir: settings.sqlDir,
        cwd,
        config: { memory_limit: settings.duckdbMemoryLimit },
      });
    }
    case 'bigquery': {
      const { BigQueryOfflineStore } = await import('./bigquery-offline-store.ts');
      return BigQueryOfflineStore.open({
        projectId: settings.bigqueryProject,
        dataset: options.dataset ?? settings.bigqueryDataset,
        location: settings.bigqueryLocation,
        ...(settings.bigqueryEndpoint ? { endpoint: settings.bigqueryEndpoint } : {}),
        readApi: settings.bigqueryReadApi,
        ...(settings.bigqueryStorageEndpoint ? { storageEndpoint: settings.bigqueryStorageEndpoint } : {}),
        sqlDir: settings.sqlDir,
        cwd,
      });
    }
    default:
      throw new Error(
        `unknown offline store "${settings.offlineStore}" (FERRY_OFFLINE_STORE: duckdb or bigquery)`,
      );
  }
}
