import { Client } from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, servers } from './servers.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cassandra smoke (cassandra-driver against the local server)', () => {
  const keyspace = `ferry_smoke_${process.pid}_${Date.now()}`;
  const table = `${keyspace}.features`;
  let client: Client;

  beforeAll(async () => {
    await requireServer('cassandra');
    client = new Client({
      contactPoints: [`${servers.cassandra.host}:${servers.cassandra.port}`],
      localDataCenter: 'datacenter1',
      encoding: { useBigIntAsLong: true },
    });
    await client.connect();
    await client.execute(
      `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
    );
    await client.execute(
      `CREATE TABLE ${table} (entity text, feature text, value double, PRIMARY KEY (entity, feature))`,
    );
  });
  afterAll(async () => {
    if (!client) return;
    try {
      await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    } finally {
      await client.shutdown();
    }
  });

  async function read(entity: string, feature: string) {
    const rs = await client.execute(
      `SELECT value, TTL(value) AS ttl, WRITETIME(value) AS writetime FROM ${table} WHERE entity = ? AND feature = ?`,
      [entity, feature],
      { prepare: true },
    );
    const row = rs.first();
    if (!row) return null;
    return {
      value: row.get('value') as number,
      ttl: row.get('ttl') as number | null,
      writetime: row.get('writetime') as bigint,
    };
  }

  async function write(entity: string, feature: string, value: number, using: string) {
    await client.execute(
      `INSERT INTO ${table} (entity, feature, value) VALUES (?, ?, ?) USING ${using}`,
      [entity, feature, value],
      { prepare: true },
    );
  }

  it('answers CQL as Cassandra 5.0', async () => {
    const rs = await client.execute('SELECT release_version FROM system.local');
    expect(String(rs.first()?.get('release_version'))).toMatch(/^5\.0\./);
  });

  it('writes with USING TTL and USING TIMESTAMP and reads them back', async () => {
    const ts = BigInt(Date.now()) * 1000n;
    await write('user:1', 'clicks_1h', 42.5, `TTL 600 AND TIMESTAMP ${ts}`);
    const got = await read('user:1', 'clicks_1h');
    expect(got?.value).toBe(42.5);
    expect(got?.writetime).toBe(ts);
    expect(got?.ttl).toBeGreaterThan(590);
    expect(got?.ttl).toBeLessThanOrEqual(600);
  });

  it('keeps the newest write: an older USING TIMESTAMP does not overwrite', async () => {
    const newer = BigInt(Date.now()) * 1000n;
    await write('user:2', 'ctr_1d', 2, `TIMESTAMP ${newer}`);
    await write('user:2', 'ctr_1d', 1, `TIMESTAMP ${newer - 1_000_000n}`);
    expect(await read('user:2', 'ctr_1d')).toEqual({ value: 2, ttl: null, writetime: newer });
    // a write with a later timestamp does win, so the check above can tell the two apart
    await write('user:2', 'ctr_1d', 3, `TIMESTAMP ${newer + 1n}`);
    expect(await read('user:2', 'ctr_1d')).toEqual({ value: 3, ttl: null, writetime: newer + 1n });
  });

  it('expires a row after its TTL', async () => {
    await write('user:3', 'session_len', 7, 'TTL 2');
    const before = await read('user:3', 'session_len');
    expect(before?.value).toBe(7);
    expect(before?.ttl).toBeGreaterThan(0);
    expect(before?.ttl).toBeLessThanOrEqual(2);
    // TTLs count whole seconds: 3 s after the write the row has surely expired
    await sleep(3_000);
    expect(await read('user:3', 'session_len')).toBeNull();
    const rs = await client.execute(`SELECT COUNT(*) AS n FROM ${table} WHERE entity = ?`, ['user:3'], {
      prepare: true,
    });
    expect(rs.first()?.get('n')).toBe(0n);
  });
});
