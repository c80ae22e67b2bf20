import { BigQuery, type Dataset, type TableField } from '@google-cloud/bigquery';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigqueryProject, requireServer, servers } from './servers.ts';

// Runs against the local emulator (local-bigquery, see docs/bigquery-emulator.md). Only the
// endpoint and the credential-free auth client differ from a production client.
describe('bigquery smoke (@google-cloud/bigquery against the local emulator)', () => {
  let bq: BigQuery;
  let dataset: Dataset | undefined;
  const datasetId = `ferry_smoke_${process.pid}_${Date.now()}`;
  const ref = (table: string) => `\`${bigqueryProject}.${datasetId}.${table}\``;

  const schema: TableField[] = [
    { name: 'entity_id', type: 'STRING', mode: 'REQUIRED' },
    { name: 'event_ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
    { name: 'clicks', type: 'INT64' },
    { name: 'score', type: 'FLOAT64' },
    { name: 'active', type: 'BOOL' },
    { name: 'payload', type: 'BYTES' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
  ];

  beforeAll(async () => {
    await requireServer('bigquery');
    bq = new BigQuery({
      projectId: bigqueryProject,
      apiEndpoint: `http://${servers.bigquery.host}:${servers.bigquery.port}`,
      authClient: new PassThroughClient(),
    });
    [dataset] = await bq.createDataset(datasetId, { location: 'US' });
  });
  afterAll(async () => {
    await dataset?.delete({ force: true });
  });

  /** Runs a statement as a query job and returns its job statistics. */
  async function runJob(query: string, params?: Record<string, unknown>) {
    const [job] = await bq.createQueryJob(params ? { query, params } : { query });
    // job.promise() waits for DONE; getQueryResults({ maxResults: 0 }) would loop forever here
    // (the emulator answers it with pageToken "0", see docs/bigquery-emulator.md)
    await job.promise();
    const [metadata] = await job.getMetadata();
    return metadata.statistics?.query;
  }

  it('creates a partitioned, clustered table and streams rows into it', async () => {
    const [table] = await dataset!.createTable('events', {
      schema,
      timePartitioning: { type: 'DAY', field: 'event_ts' },
      clustering: { fields: ['entity_id'] },
    });
    const [metadata] = await table.getMetadata();
    expect(metadata.schema.fields.map((f: TableField) => [f.name, f.mode])).toEqual([
      ['entity_id', 'REQUIRED'],
      ['event_ts', 'REQUIRED'],
      ['clicks', 'NULLABLE'],
      ['score', 'NULLABLE'],
      ['active', 'NULLABLE'],
      ['payload', 'NULLABLE'],
      ['tags', 'REPEATED'],
    ]);
    expect(metadata.timePartitioning).toMatchObject({ type: 'DAY', field: 'event_ts' });
    expect(metadata.clustering).toEqual({ fields: ['entity_id'] });

    await table.insert([
      {
        entity_id: 'u1',
        event_ts: bq.timestamp('2026-01-01T00:00:00.123456Z'),
        clicks: 3,
        score: 0.5,
        active: true,
        payload: Buffer.from('hi').toString('base64'),
        tags: ['a', 'b'],
      },
      { entity_id: 'u2', event_ts: '2026-01-02T10:00:00Z', clicks: 7, score: 1.25, active: false, tags: [] },
      { entity_id: 'u3', event_ts: '2026-01-03T00:00:00Z', clicks: null, tags: ['c'] },
    ]);
    // a row without its REQUIRED fields is rejected
    await expect(table.insert([{ clicks: 1 }])).rejects.toMatchObject({ name: 'PartialFailureError' });

    const [rows] = await bq.query(`SELECT * FROM ${ref('events')} ORDER BY entity_id`);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({ entity_id: 'u1', clicks: 3, score: 0.5, active: true, tags: ['a', 'b'] });
    expect(rows[0].event_ts.value).toBe('2026-01-01T00:00:00.123456000Z');
    expect(Buffer.from(rows[0].payload).toString()).toBe('hi');
    expect(rows[1]).toMatchObject({ entity_id: 'u2', clicks: 7, active: false, tags: [] });
    expect(rows[2]).toMatchObject({ entity_id: 'u3', clicks: null, score: null, tags: ['c'] });
  });

  it('pages through 5,000 rows without skipping or repeating any', async () => {
    const total = 5000;
    const [table] = await dataset!.createTable('big', {
      schema: [
        { name: 'id', type: 'INT64' },
        { name: 'v', type: 'STRING' },
      ],
    });
    await table.insert(Array.from({ length: total }, (_, i) => ({ id: i + 1, v: `v${i + 1}` })));

    const [job] = await bq.createQueryJob({ query: `SELECT id FROM ${ref('big')} ORDER BY id` });
    const ids: number[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const [rows, next] = await job.getQueryResults({ maxResults: 1000, pageToken, autoPaginate: false });
      expect(rows.length).toBeLessThanOrEqual(1000);
      ids.push(...rows.map((r) => r.id as number));
      pageToken = next?.pageToken;
      pages += 1;
    } while (pageToken && pages <= 10);
    expect(pages).toBe(5);
    expect(ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));

    const streamed: number[] = [];
    await new Promise<void>((resolve, reject) => {
      bq.createQueryStream({ query: `SELECT id FROM ${ref('big')}` })
        .on('data', (row: { id: number }) => streamed.push(row.id))
        .on('error', reject)
        .on('end', () => resolve());
    });
    expect(streamed).toHaveLength(total);
    expect(new Set(streamed).size).toBe(total);
  });

  it('writes a query with a named parameter into a destination table (truncate, then append)', async () => {
    const destination = dataset!.table('active_users');
    const query = `SELECT entity_id, clicks FROM ${ref('events')} WHERE clicks >= @minClicks`;
    for (const [minClicks, writeDisposition] of [
      [1, 'WRITE_TRUNCATE'],
      [5, 'WRITE_TRUNCATE'],
      [3, 'WRITE_APPEND'],
    ] as const) {
      const [job] = await bq.createQueryJob({ query, params: { minClicks }, destination, writeDisposition });
      await job.promise();
    }
    // truncate to u1+u2, truncate to u2, append u1+u2
    const [rows] = await bq.query(`SELECT entity_id, clicks FROM ${ref('active_users')} ORDER BY entity_id`);
    expect(rows).toEqual([
      { entity_id: 'u1', clicks: 3 },
      { entity_id: 'u2', clicks: 7 },
      { entity_id: 'u2', clicks: 7 },
    ]);
  });

  it('runs DELETE and MERGE statements', async () => {
    const deleted = await runJob(`DELETE FROM ${ref('big')} WHERE id > @keep`, { keep: 4000 });
    expect(deleted?.numDmlAffectedRows).toBe('1000');
    const [[count]] = await bq.query(`SELECT COUNT(*) AS n, MAX(id) AS top FROM ${ref('big')}`);
    expect(count).toEqual({ n: 4000, top: 4000 });

    const merged = await runJob(
      `MERGE ${ref('events')} T
       USING (SELECT 'u1' AS entity_id, 100 AS clicks UNION ALL SELECT 'u9', 9) S
       ON T.entity_id = S.entity_id
       WHEN MATCHED THEN UPDATE SET clicks = S.clicks
       WHEN NOT MATCHED THEN INSERT (entity_id, event_ts, clicks) VALUES (S.entity_id, CURRENT_TIMESTAMP(), S.clicks)`,
    );
    expect(merged?.numDmlAffectedRows).toBe('2');
    const [rows] = await bq.query(`SELECT entity_id, clicks FROM ${ref('events')} ORDER BY entity_id`);
    expect(rows.map((r) => [r.entity_id, r.clicks])).toEqual([
      ['u1', 100],
      ['u2', 7],
      ['u3', null],
      ['u9', 9],
    ]);
  });

  it('rejects bad SQL with the line and column of the error', async () => {
    await expect(bq.query(`SELECT entity_id\nFROM ${ref('events')}\nWHERE WHERE clicks = 1`)).rejects.toThrow(
      /Syntax error: .* at \[3:\d+\]/,
    );
    await expect(bq.query(`SELECT no_such_column FROM ${ref('events')}`)).rejects.toThrow(
      /Unrecognized name: no_such_column/,
    );
  });
});
