import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scalarTypes } from '../../domain/definitions/field-types.ts';
import { BigQueryOfflineStore, type BigQueryReadApi } from '../../stores/offline/bigquery-offline-store.ts';
import {
  BigQueryStorageReadClient,
  StorageReadError,
  type TableReference,
} from '../../stores/offline/bigquery-storage-read.ts';
import type {
  IncrementalPage,
  IncrementalReadOptions,
  OfflineRow,
} from '../../stores/offline/offline-store.ts';
import { edgeValuesRow, typeDef } from '../conformance/offline-store-conformance.ts';
import { bigqueryProject, bigqueryStorageEndpoint, requireServer, servers } from './servers.ts';

// readIncremental through the Storage Read API (the default) against the emulator's gRPC server,
// compared with the REST path (jobs.getQueryResults pages, FERRY_BIGQUERY_READ_API=rest), and the
// Storage Read client on its own: ordering of large results, early stops, errors, broken streams.
const endpoint = `http://${servers.bigquery.host}:${servers.bigquery.port}`;
const dataset = `ferry_storage_read_${Date.now()}_${process.pid}`;
const bigRows = 150_000;

/** Values computed in the warehouse: what insertAll cannot write (integers beyond 2^53, µs, DATE...). */
const edgesSql = `-- ferry:destination storage_edges
SELECT 1 AS id, 100 AS _last_updated_at_ms,
  9007199254740993 AS big, CAST('-9223372036854775808' AS INT64) AS int_min,
  9223372036854775807 AS int_max, 9007199254740991 AS safe_max, -9007199254740992 AS minus_2_53,
  TIMESTAMP '1969-12-31 23:59:59.999999' AS ts_before_epoch, TIMESTAMP '1900-01-01 00:00:00.000500' AS ts_1900,
  TIMESTAMP '0001-01-01 00:00:00' AS ts_min, TIMESTAMP '9999-12-31 23:59:59.999999' AS ts_max,
  [9007199254740993, 1, -2] AS big_list, CAST(NULL AS ARRAY<INT64>) AS null_list,
  [FROM_BASE64('AAE='), FROM_BASE64('')] AS bytes_list, FROM_BASE64('//79') AS bytes,
  [TIMESTAMP '1969-12-31 23:59:59.999500', TIMESTAMP '2024-03-10 09:30:00.250999'] AS ts_list,
  'héllo 🚀' AS text, 1e300 AS double, CAST('NaN' AS FLOAT64) AS nan, CAST('-inf' AS FLOAT64) AS neg_inf,
  TRUE AS yes, DATE '2024-03-10' AS day, DATETIME '2024-03-10 09:30:00.5' AS civil,
  TIME '09:30:00.25' AS time_of_day, CAST('1.25' AS NUMERIC) AS num,
  STRUCT(7 AS a, 'x' AS b, 1.5 AS c, FALSE AS d, TIMESTAMP '1969-12-31 23:59:59.999999' AS e, FROM_BASE64('AAE=') AS f,
    [1, 2] AS g, STRUCT(DATE '2024-03-10' AS h) AS i) AS record, [STRUCT(1 AS a), STRUCT(2 AS a)] AS records
UNION ALL SELECT 2, 200, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
`;

/** Insertion order (id) differs from watermark order: w is a permutation of id, in runs of 3. */
const bigSql = `-- ferry:destination storage_big
SELECT i AS id, DIV(MOD(i * 7919, ${bigRows}), 3) AS w, CONCAT('name-', CAST(i AS STRING)) AS name
FROM UNNEST(GENERATE_ARRAY(0, ${bigRows - 1})) AS i
`;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('BigQuery Storage Read API (emulator)', () => {
  let dir: string;
  const stores = {} as Record<BigQueryReadApi | 'pieces', BigQueryOfflineStore>;
  let client: BigQueryStorageReadClient;
  const table = (tableId: string): TableReference => ({
    projectId: bigqueryProject,
    datasetId: dataset,
    tableId,
  });

  const read = (
    api: BigQueryReadApi | 'pieces',
    name: string,
    options: Partial<IncrementalReadOptions> = {},
  ) =>
    collect(
      stores[api].readIncremental(name, {
        watermarkColumn: '_last_updated_at_ms',
        pageSize: 1000,
        ...options,
      }),
    );
  const rowsOf = (pages: IncrementalPage[]) => pages.flatMap((p) => p.rows);

  beforeAll(async () => {
    await requireServer('bigquery');
    dir = mkdtempSync(path.join(tmpdir(), 'ferry-storage-read-'));
    writeFileSync(path.join(dir, 'edges.sql'), edgesSql);
    writeFileSync(path.join(dir, 'big.sql'), bigSql);
    for (const readApi of ['storage', 'rest', 'pieces'] as const) {
      stores[readApi] = await BigQueryOfflineStore.open({
        projectId: bigqueryProject,
        dataset,
        location: 'US',
        endpoint,
        storageEndpoint: bigqueryStorageEndpoint,
        readApi: readApi === 'rest' ? 'rest' : 'storage',
        // a stream read in pieces of 7,000 rows (SplitReadStream), the default being 100,000
        ...(readApi === 'pieces' ? { storageRowsPerRead: 7000 } : {}),
        sqlDir: dir,
      });
    }
    client = new BigQueryStorageReadClient({ endpoint: { address: bigqueryStorageEndpoint, secure: false } });
    await stores.storage.runTransform('edges.sql', { logicalDate: '2024-03-10' });
    await stores.storage.runTransform('big.sql', { logicalDate: '2024-03-10' });
  });

  afterAll(async () => {
    client?.close();
    await stores.rest?.close();
    await stores.pieces?.close();
    await stores.storage?.dropDataset();
    await stores.storage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads every Ferry type with the values the REST path gives: NULLs, lists, empty lists, bytes, times before 1970', async () => {
    const def = typeDef();
    const { table: name } = await stores.storage.ensureFeatureTables(def);
    const rows: Record<string, unknown>[] = [
      // the emulator's insertAll mangles a list of bytes (the conformance suite's gap): none here
      { ...edgeValuesRow(), l_bytes: [] },
      {
        user_id: 2,
        v_text: '',
        v_long: -Number.MAX_SAFE_INTEGER,
        v_int: -(2 ** 31),
        v_double: -1.7976931348623157e308,
        v_float: 0.1,
        v_boolean: false,
        v_timestamp: -62135596800000, // 0001-01-01
        v_bytes: Buffer.alloc(0),
        _last_updated_at_ms: 200,
      },
      { user_id: 3, _last_updated_at_ms: 300 }, // every value NULL
    ];
    await stores.storage.appendRows(name, rows);
    const viaStorage = rowsOf(await read('storage', name, { pageSize: 2, tieBreaker: ['user_id'] }));
    const viaRest = rowsOf(await read('rest', name, { pageSize: 2, tieBreaker: ['user_id'] }));
    expect(viaStorage).toEqual(viaRest);
    const nulls = Object.fromEntries([
      ...scalarTypes.map((s) => [`v_${s.toLowerCase()}`, null]),
      ...scalarTypes.map((s) => [`l_${s.toLowerCase()}`, []]),
    ]);
    expect(viaStorage).toEqual([
      { ...rows[0], l_float: [Math.fround(0.1), -3.25], _event_time: 100 },
      { ...nulls, ...rows[1], v_float: Math.fround(0.1), _event_time: 200 },
      { ...nulls, user_id: 3, _last_updated_at_ms: 300, _event_time: 300 },
    ]);
    expect(Buffer.isBuffer(viaStorage[0]!.v_bytes)).toBe(true);
  });

  it('reads values computed in the warehouse as REST does: integers beyond 2^53 as text, µs floored, NULL list as []', async () => {
    const viaStorage = rowsOf(await read('storage', 'storage_edges'));
    const viaRest = rowsOf(await read('rest', 'storage_edges'));
    expect(viaStorage).toEqual(viaRest);
    const [first, second] = viaStorage as [OfflineRow, OfflineRow];
    expect(first).toEqual({
      id: 1,
      _last_updated_at_ms: 100,
      big: '9007199254740993',
      int_min: '-9223372036854775808',
      int_max: '9223372036854775807',
      safe_max: 9007199254740991,
      minus_2_53: '-9007199254740992',
      ts_before_epoch: -1,
      ts_1900: -2208988800000,
      ts_min: -62135596800000,
      ts_max: 253402300799999,
      big_list: ['9007199254740993', 1, -2],
      null_list: [],
      bytes_list: [Buffer.from([0, 1]), Buffer.alloc(0)],
      bytes: Buffer.from([0xff, 0xfe, 0xfd]),
      ts_list: [-1, 1710063000250],
      text: 'héllo 🚀',
      double: 1e300,
      nan: Number.NaN,
      neg_inf: Number.NEGATIVE_INFINITY,
      yes: true,
      day: '2024-03-10',
      civil: '2024-03-10T09:30:00.500000',
      time_of_day: '09:30:00.250000',
      num: 1.25,
      // STRUCT (not a Ferry type) as REST renders a RECORD cell: its JSON, checked equal to REST above
      record: expect.stringMatching(/^\{"f":\[\{"v":"7"\},\{"v":"x"\}/),
      records: [expect.stringMatching(/^\{"f":\[\{"v":"1"\}\]\}$/), expect.stringMatching(/"2"/)],
    });
    for (const [k, v] of Object.entries(second)) {
      if (k === 'id') expect(v).toBe(2);
      else if (k === '_last_updated_at_ms') expect(v).toBe(200);
      else expect(v, k).toEqual(k.endsWith('_list') || k === 'records' ? [] : null);
    }
  });

  it('reads ties in (watermark, keys) order with the same pages and cursors on both APIs', async () => {
    const columns = [
      { name: 'id', type: { kind: 'scalar', scalar: 'Long' } },
      { name: 'k', type: { kind: 'scalar', scalar: 'Text' } },
      { name: '_last_updated_at_ms', type: { kind: 'scalar', scalar: 'Long' } },
      { name: 'at', type: { kind: 'scalar', scalar: 'Timestamp' } },
    ] as const;
    await stores.storage.ensureTable('storage_ties', [...columns]);
    // inserted in an order unrelated to (watermark, k, id): runs of up to 9 equal watermarks
    const rows = Array.from({ length: 400 }, (_, i) => ({
      id: (i * 53) % 400,
      k: `k${(i * 7) % 13}`,
      _last_updated_at_ms: 1000 + (((i * 53) % 400) % 47) * 10,
      at: -86_400_000 + i,
    }));
    await stores.storage.appendRows('storage_ties', rows);
    for (const tieBreaker of [undefined, ['k', 'id']]) {
      const options = { pageSize: 7, ...(tieBreaker ? { tieBreaker } : {}) };
      const viaStorage = await read('storage', 'storage_ties', options);
      const viaRest = await read('rest', 'storage_ties', options);
      expect(viaRest.length).toBe(Math.ceil(400 / 7));
      expect(viaStorage).toEqual(viaRest);
      const wms = rowsOf(viaStorage).map((r) => r._last_updated_at_ms as number);
      expect(wms).toEqual([...wms].sort((a, b) => a - b));
      expect(new Set(rowsOf(viaStorage).map((r) => r.id)).size).toBe(400);
      // resuming from a middle cursor gives the same rest on both APIs
      const after = viaStorage[20]!.cursor!;
      expect(await read('storage', 'storage_ties', { ...options, after })).toEqual(
        await read('rest', 'storage_ties', { ...options, after }),
      );
    }
  });

  it.each(['storage', 'pieces'] as const)(
    `reads ${bigRows.toLocaleString('en')} rows complete and in watermark order, though inserted in another order (%s)`,
    async (api) => {
      let count = 0;
      let pages = 0;
      let prev: [number, number] = [-1, -1];
      const seen = new Uint8Array(bigRows);
      for await (const page of stores[api].readIncremental('storage_big', {
        watermarkColumn: 'w',
        tieBreaker: ['id'],
        pageSize: 5000,
      })) {
        pages++;
        for (const row of page.rows) {
          const w = row.w as number;
          const id = row.id as number;
          if (w < prev[0] || (w === prev[0] && id <= prev[1]))
            throw new Error(`(${w}, ${id}) after (${prev[0]}, ${prev[1]})`);
          if (row.name !== `name-${id}`) throw new Error(`row ${id} has name ${String(row.name)}`);
          seen[id] = 1;
          prev = [w, id];
          count++;
        }
      }
      expect(count).toBe(bigRows);
      expect(pages).toBe(bigRows / 5000);
      expect(seen.every((x) => x === 1)).toBe(true);
    },
  );

  it('reads a stream in pieces of about rowsPerRead rows, back to back: every row once, in stream order', async () => {
    const before = client.readCalls;
    let next = 0;
    for await (const batch of client.readTable(table('storage_big'), { rowsPerRead: 20_000 })) {
      for (const row of batch) {
        // the table was written in id order; the pieces of its one stream keep it
        if (row.id !== next) throw new Error(`row ${String(row.id)} where ${next} was due`);
        next++;
      }
    }
    expect(next).toBe(bigRows);
    // 150,000 rows: pieces of 20,000 while more than 30,000 are left, then the rest in one
    expect(client.readCalls - before).toBe(7);
    await expect(collect(client.readTable(table('storage_big'), { rowsPerRead: -1 }))).rejects.toThrow(
      /rowsPerRead/,
    );
  });

  it('cancels the stream when the consumer stops early, and reads on afterwards', async () => {
    const rows = client.readTable(table('storage_big'), { rowsPerBatch: 1000 });
    const first = await rows.next();
    expect(first.done).toBe(false);
    expect(first.value).toHaveLength(1000);
    expect(client.openCalls).toBe(1);
    await rows.return(undefined);
    expect(client.openCalls).toBe(0);
    expect(await rows.next()).toEqual({ done: true, value: undefined });

    let total = 0;
    for await (const batch of client.readTable(table('storage_big'))) total += batch.length;
    expect(total).toBe(bigRows);

    // through the store: stop after one page, then a whole read still works
    for await (const page of stores.storage.readIncremental('storage_big', {
      watermarkColumn: 'w',
      pageSize: 10,
    })) {
      expect(page.rows).toHaveLength(10);
      break;
    }
    expect(rowsOf(await read('storage', 'storage_edges'))).toHaveLength(2);
  });

  it('names the table in the error when there is no such table', async () => {
    const failed = collect(client.readTable(table('no_such_table')));
    await expect(failed).rejects.toThrow(/no_such_table/);
    await expect(failed).rejects.toBeInstanceOf(StorageReadError);
    await expect(failed).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('resumes a stream whose connection breaks', async () => {
    // a TCP relay to the emulator that drops its first connection after 256 KB from the server
    const [host, port] = bigqueryStorageEndpoint.split(':') as [string, string];
    let connections = 0;
    const relay = net.createServer((downstream) => {
      const cut = connections++ === 0;
      const upstream = net.connect(Number(port), host);
      let received = 0;
      upstream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (cut && received > 256 * 1024) {
          upstream.destroy();
          downstream.destroy();
          return;
        }
        downstream.write(chunk);
      });
      downstream.pipe(upstream);
      upstream.on('error', () => downstream.destroy());
      downstream.on('error', () => upstream.destroy());
      upstream.on('close', () => downstream.destroy());
      downstream.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayed = new BigQueryStorageReadClient({
      endpoint: { address: `127.0.0.1:${(relay.address() as net.AddressInfo).port}`, secure: false },
      retryDelayMs: 50,
    });
    try {
      const retries: { offset: number; error: Error }[] = [];
      const seen = new Uint8Array(bigRows);
      let count = 0;
      for await (const batch of relayed.readTable(table('storage_big'), {
        rowsPerBatch: 20_000,
        onRetry: (r) => retries.push(r),
      })) {
        for (const row of batch) {
          const id = row.id as number;
          if (seen[id]) throw new Error(`row ${id} came twice`);
          seen[id] = 1;
          count++;
        }
      }
      expect(count).toBe(bigRows);
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect((retries[0]!.error as Error & { code?: number }).code).toBe(status.UNAVAILABLE);
      expect(connections).toBeGreaterThanOrEqual(2);
    } finally {
      relayed.close();
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});
