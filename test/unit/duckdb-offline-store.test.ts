import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../core/config/settings.ts';
import { DuckDbOfflineStore } from '../../core/offline/duckdb-offline-store.ts';
import { openOfflineStore } from '../../core/offline/open-offline-store.ts';
import { describeOfflineStoreConformance } from './offline-store-conformance.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-offline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeOfflineStoreConformance('DuckDB', () => ({
  open: (sqlDir) => DuckDbOfflineStore.open({ path: path.join(dir, 'data', 'offline.duckdb'), sqlDir }),
}));

describe('DuckDB offline store: FERRY_DUCKDB_MEMORY_LIMIT', () => {
  it("sets DuckDB's working memory; a malformed size is refused naming the variable", async () => {
    const data = path.join(dir, 'limit');
    const sqlDir = path.join(data, 'sql');
    mkdirSync(sqlDir, { recursive: true });
    writeFileSync(
      path.join(sqlDir, 'limit.sql'),
      "-- ferry:destination memory_limit_seen\nSELECT current_setting('memory_limit') AS m\n",
    );
    const settings = (limit: string) =>
      readSettings({
        FERRY_OFFLINE_STORE: 'duckdb',
        FERRY_DATA_DIR: data,
        FERRY_SQL_DIR: sqlDir,
        FERRY_DUCKDB_MEMORY_LIMIT: limit,
      });
    const store = await openOfflineStore(settings('32MB'));
    try {
      await store.runTransform('limit.sql', { logicalDate: '2026-11-22' });
      const [row] = await store.readRows('memory_limit_seen');
      // DuckDB reports 32 MB (10^6 bytes) in MiB
      expect(row!.m).toBe('30.5 MiB');
    } finally {
      await store.close();
    }
    await expect(openOfflineStore(settings('lots'))).rejects.toThrow(/FERRY_DUCKDB_MEMORY_LIMIT.*"lots"/);
  });
});
