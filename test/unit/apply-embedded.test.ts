import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbOfflineStore } from '../../stores/offline/duckdb-offline-store.ts';
import { openEmbeddedOnlineStore } from '../../stores/online/embedded-online-store.ts';
import { describeApplyRoundTrip } from '../conformance/apply-round-trip.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-apply-'));
describeApplyRoundTrip('embedded LMDB + DuckDB', async () => ({
  online: await openEmbeddedOnlineStore({ path: path.join(dir, 'online') }),
  offline: await DuckDbOfflineStore.open({ path: path.join(dir, 'offline.duckdb'), sqlDir: 'sql' }),
}));
