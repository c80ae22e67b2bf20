import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../config/settings.ts';
import { DuckDbOfflineStore } from '../../stores/offline/duckdb-offline-store.ts';
import type { IncrementalCursor, IncrementalPage } from '../../stores/offline/offline-store.ts';
import { openOfflineStore } from '../../stores/offline/open-offline-store.ts';
import { describeOfflineStoreConformance } from '../conformance/offline-store-conformance.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-offline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeOfflineStoreConformance('DuckDB', () => ({
  open: (sqlDir) => DuckDbOfflineStore.open({ path: path.join(dir, 'data', 'offline.duckdb'), sqlDir }),
}));

// the same suite with incremental reads cut into windows of two rows: every tie, resume and type case
// then crosses window edges
describeOfflineStoreConformance('DuckDB, reads in windows of 2 rows', () => ({
  open: (sqlDir) =>
    DuckDbOfflineStore.open({ path: path.join(dir, 'windows', 'offline.duckdb'), sqlDir, readWindowRows: 2 }),
}));

describe('DuckDB offline store: incremental reads in windows', () => {
  it('deliver the one ordered stream whatever the window size: no row lost or repeated, resumable from every page', async () => {
    const rows: Record<string, unknown>[] = [];
    // 300 rows over 12 watermark values: ties much larger and much smaller than the windows,
    // inserted out of order; one watermark value holds 100 rows
    for (let i = 0; i < 300; i++) {
      const wm = i < 100 ? 5 : (i * 7919) % 11;
      rows.push({ id: i, wm, v: `row-${i}` });
    }
    const columns = [
      { name: 'id', type: { kind: 'scalar', scalar: 'Long' } },
      { name: 'wm', type: { kind: 'scalar', scalar: 'Long' } },
      { name: 'v', type: { kind: 'scalar', scalar: 'Text' } },
    ] as const;
    const expected = [...rows]
      .sort((a, b) => (a.wm as number) - (b.wm as number) || (a.id as number) - (b.id as number))
      .map((r) => r.id);
    for (const window of [1, 3, 40, 1000]) {
      const store = await DuckDbOfflineStore.open({
        path: ':memory:',
        sqlDir: dir,
        readWindowRows: window,
      });
      try {
        await store.ensureTable('t', columns);
        await store.appendRows('t', rows);
        const read = async (after?: IncrementalCursor) => {
          const pages: IncrementalPage[] = [];
          for await (const page of store.readIncremental('t', {
            watermarkColumn: 'wm',
            tieBreaker: ['id'],
            pageSize: 7,
            ...(after ? { after } : {}),
          }))
            pages.push(page);
          return pages;
        };
        const pages = await read();
        expect(
          pages.flatMap((p) => p.rows.map((r) => r.id)),
          `window ${window}`,
        ).toEqual(expected);
        let delivered = 0;
        for (const page of pages) {
          delivered += page.rows.length;
          const rest = (await read(page.cursor)).flatMap((p) => p.rows.map((r) => r.id));
          expect(rest, `window ${window}, resumed after row ${delivered}`).toEqual(expected.slice(delivered));
        }
      } finally {
        await store.close();
      }
    }
  });
});

describe('DuckDB offline store: a read stopped early', () => {
  it('frees the sorted rows DuckDB kept for it at once, without waiting for a garbage collection', async () => {
    const sqlDir = path.join(dir, 'early-stop-sql');
    mkdirSync(sqlDir, { recursive: true });
    writeFileSync(
      path.join(sqlDir, 'wide.sql'),
      "-- ferry:destination wide\nSELECT i AS id, (i * 7919) % 100003 AS wm, repeat('x', 200) AS v FROM range(200000) r(i)\n",
    );
    writeFileSync(
      path.join(sqlDir, 'memory.sql'),
      '-- ferry:destination memory_in_use\nSELECT sum(memory_usage_bytes) AS bytes FROM duckdb_memory()\n',
    );
    const store = await DuckDbOfflineStore.open({
      path: path.join(dir, 'early-stop.duckdb'),
      sqlDir,
      readWindowRows: 100_000,
    });
    const inUse = async () => {
      await store.runTransform('memory.sql', { logicalDate: '2026-12-04' });
      const [row] = await store.readRows('memory_in_use');
      return Number(row!.bytes);
    };
    try {
      await store.runTransform('wide.sql', { logicalDate: '2026-12-04' });
      const before = await inUse();
      // the same GC-free process: nothing collects the abandoned result objects in between
      for (let i = 0; i < 3; i++) {
        for await (const page of store.readIncremental('wide', {
          watermarkColumn: 'wm',
          tieBreaker: ['id'],
          pageSize: 10,
        })) {
          expect(page.rows).toHaveLength(10);
          break;
        }
      }
      // two windows of 100,000 sorted rows of 200+ bytes stay pinned per read when not freed
      expect(await inUse()).toBeLessThan(before + 8_000_000);
    } finally {
      await store.close();
    }
  });
});

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
    expect(() => settings('lots')).toThrow(/FERRY_DUCKDB_MEMORY_LIMIT.*"lots"/);
  });
});
