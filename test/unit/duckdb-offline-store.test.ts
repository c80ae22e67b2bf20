import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { DuckDbOfflineStore } from '../../core/offline/duckdb-offline-store.ts';
import { describeOfflineStoreConformance } from './offline-store-conformance.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-offline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeOfflineStoreConformance('DuckDB', () => ({
  open: (sqlDir) => DuckDbOfflineStore.open({ path: path.join(dir, 'data', 'offline.duckdb'), sqlDir }),
}));
