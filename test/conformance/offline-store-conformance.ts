import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { type FieldType, parseFieldType, scalarTypes } from '../../domain/definitions/field-types.ts';
import { loadDefinitions, loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { TransformError } from '../../domain/transforms/transform-error.ts';
import { TransformDefinitionError } from '../../domain/transforms/transform-file.ts';
import { createSampleSources, sampleLogicalDate } from '../../samples/sample-sources.ts';
import { featureTableName } from '../../stores/offline/column-types.ts';
import {
  type ColumnSpec,
  type IncrementalCursor,
  type IncrementalPage,
  type IncrementalReadOptions,
  type NullWatermarkReport,
  type OfflineRow,
  type OfflineStore,
  OfflineStoreInputError,
} from '../../stores/offline/offline-store.ts';

/**
 * The semantics every offline store must keep (issue 5), run against each implementation:
 * test/unit/duckdb-offline-store.test.ts (DuckDB) and
 * test/integration/bigquery-offline-store.test.ts (the BigQuery emulator).
 *
 * `open(sqlDir)` returns a store whose SQL folder is `sqlDir` (a copy of the project's `sql/` plus
 * the transforms below); tables live in a namespace (file, dataset) that is fresh for the run.
 */
export interface OfflineStoreHarness {
  open(sqlDir: string): Promise<OfflineStore>;
  /** Runs after the store is closed (drop the dataset, remove files). */
  teardown?(): Promise<void>;
  /** Known limits of a test server; each is asserted in the weaker form it allows (see OfflineStoreGap). */
  gaps?: readonly OfflineStoreGap[];
}

/**
 * - `insert-repeated-bytes`: tabledata.insertAll stores the items of a List<Bytes> column as their
 *   base64 text instead of the decoded bytes (the BigQuery emulator); List<Bytes> values computed
 *   in the warehouse are still checked.
 */
export type OfflineStoreGap = 'insert-repeated-bytes';

const repoSqlDir = path.resolve(import.meta.dirname, '../../sql');
const featuresDir = path.resolve(import.meta.dirname, '../../features');

/** Transforms only the suite uses, written into the temporary SQL folder under `conformance/`. */
const testTransforms: Record<string, string> = {
  'params_replace.sql': `-- Parameters land in the output (replace mode).
-- ferry:destination conf_params_replace
-- ferry:write_mode replace
-- ferry:params logical_date, window_start, window_end
SELECT
  CAST(@logical_date AS STRING) AS logical_date,
  UNIX_MILLIS(@window_start) AS window_start_ms,
  UNIX_MILLIS(@window_end) AS window_end_ms;
`,
  'params_append.sql': `-- ferry:destination conf_params_append
-- ferry:write_mode append
-- ferry:params logical_date, window_end
SELECT
  CAST(@logical_date AS STRING) AS logical_date,
  UNIX_MILLIS(@window_end) AS _last_updated_at_ms,
  n
FROM (SELECT 1 AS n UNION ALL SELECT 2 AS n) AS numbers
`,
  'append_mismatch.sql': `-- ferry:destination conf_params_append
-- ferry:write_mode append
-- ferry:params logical_date
SELECT CAST(@logical_date AS STRING) AS logical_date, 1 AS other
`,
  // line 7 names a column that does not exist
  'broken_column.sql': `-- A transform whose query names a column that does not exist.
-- ferry:destination conf_broken
-- ferry:write_mode replace
-- ferry:params logical_date
SELECT
  id,
  no_such_column AS level,
  @logical_date AS d
FROM conf_source
`,
  // line 6 is a syntax error
  'broken_syntax.sql': `-- ferry:destination conf_broken
-- ferry:write_mode replace

SELECT
  id
  FORM conf_source
WHERE id > 0
`,
  'undeclared_param.sql': `-- ferry:destination conf_broken
-- ferry:params logical_date
SELECT @logical_date AS d,
  @window_end AS e
`,
  'dialect.sql': `-- ferry:destination conf_dialect
SELECT 'generic' AS picked
`,
  'dialect.duckdb.sql': `-- ferry:destination conf_dialect
SELECT 'duckdb' AS picked
`,
  'dialect.bigquery.sql': `-- ferry:destination conf_dialect
SELECT 'bigquery' AS picked
`,
  'precision.sql': `-- Sub-millisecond timestamps come back floored to the millisecond; lists of bytes decode.
-- ferry:destination conf_precision
SELECT
  TIMESTAMP '2024-03-10 09:30:00.250999' AS ts,
  TIMESTAMP '1969-12-31 23:59:59.999500' AS before_epoch,
  [TIMESTAMP '2024-03-10 09:30:00.000001', TIMESTAMP '2024-03-10 09:30:00.999999'] AS list,
  [FROM_BASE64('AAE='), FROM_BASE64('')] AS bytes_list
`,
};

const L = (scalar: string): FieldType => parseFieldType(scalar)!;

async function collect(pages: AsyncIterable<IncrementalPage>): Promise<IncrementalPage[]> {
  const out: IncrementalPage[] = [];
  for await (const p of pages) out.push(p);
  return out;
}

const idsOf = (pages: IncrementalPage[]) => pages.flatMap((p) => p.rows.map((r) => r.id as number));

/** Watermarks with long runs of equal values, so that runs straddle page boundaries of 7. */
function tieRows(): Record<string, unknown>[] {
  const runs: [number, number][] = [
    [1000, 3],
    [2000, 17],
    [3000, 1],
    [4000, 12],
    [5000, 7],
    [6000, 1],
    [7000, 9],
  ];
  const rows: Record<string, unknown>[] = [];
  let id = 0;
  for (const [wm, n] of runs) {
    for (let i = 0; i < n; i++) {
      id++;
      // keys deliberately not in id order, and shared across watermarks
      rows.push({
        id,
        k: `k${String((id * 7) % 23).padStart(2, '0')}`,
        _last_updated_at_ms: wm,
        payload: `row ${id}`,
      });
    }
  }
  // shuffled insertion order: the store must sort
  return rows.sort((a, b) => (((a.id as number) * 31) % 53) - (((b.id as number) * 31) % 53));
}

const tieColumns: ColumnSpec[] = [
  { name: 'id', type: L('Long') },
  { name: 'k', type: L('Text') },
  { name: '_last_updated_at_ms', type: L('Long') },
  { name: 'payload', type: L('Text') },
];

/** Row 1 of the type-mapping case: edge values of every Ferry type, scalars and lists. */
export function edgeValuesRow(): Record<string, unknown> {
  return {
    user_id: 1,
    v_text: 'héllo \'quoted\' "double" \\ 🚀',
    v_long: Number.MAX_SAFE_INTEGER,
    v_int: 2 ** 31 - 1,
    v_double: 0.1,
    v_float: 1.5,
    v_boolean: true,
    v_timestamp: 1710063000250,
    v_bytes: Buffer.from([0, 1, 2, 253, 254, 255]),
    l_text: ['a', '', 'c,d'],
    l_long: [-Number.MAX_SAFE_INTEGER, 0, 42],
    l_int: [-(2 ** 31), 7],
    l_double: [1e300, -2.5e-300, 0],
    l_float: [0.1, -3.25],
    l_boolean: [true, false, true],
    l_timestamp: [0, -1, 253402300799999],
    l_bytes: [Buffer.from('AA==', 'base64'), Buffer.alloc(0)],
    _last_updated_at_ms: 100,
  };
}

/** A feature with every scalar type and a list of each (conformance::all-types). */
export function typeDef(): FeatureDefinition {
  const schema = [
    '    user_id: { type: Long, is_key_field: true }',
    ...scalarTypes.map((s) => `    v_${s.toLowerCase()}: { type: ${s} }`),
    ...scalarTypes.map((s) => `    l_${s.toLowerCase()}: { type: "List<${s}>" }`),
  ].join('\n');
  const { definitions, errors } = loadDefinitionsFromText(
    'conformance.yaml',
    `conformance::all-types:\n  feature_type: Object\n  owner: test\n  schema:\n${schema}\n`,
  );
  if (errors.length) throw new Error(JSON.stringify(errors));
  return definitions[0]!;
}

function retentionDef(extraField = false): FeatureDefinition {
  const { definitions, errors } = loadDefinitionsFromText(
    'conformance.yaml',
    `conformance::retained-v1:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    region: { type: Text, is_key_field: true }
    level: { type: Long, default_value: 0 }
${extraField ? '    score: { type: Double, default_value: 0 }\n' : ''}  retention:
    offline: 30d
`,
  );
  if (errors.length) throw new Error(JSON.stringify(errors));
  return definitions[0]!;
}

/** A feature whose value fields have the given types (for the widening tests). */
function widenDef(types: Record<string, string>): FeatureDefinition {
  const fields = Object.entries(types)
    .map(([n, t]) => `    ${n}: { type: ${JSON.stringify(t)} }\n`)
    .join('');
  const { definitions, errors } = loadDefinitionsFromText(
    'conformance.yaml',
    `conformance::widened:\n  feature_type: Object\n  owner: test\n  schema:\n    user_id: { type: Long, is_key_field: true }\n${fields}`,
  );
  if (errors.length) throw new Error(JSON.stringify(errors));
  return definitions[0]!;
}

export function describeOfflineStoreConformance(
  name: string,
  harness: () => Promise<OfflineStoreHarness> | OfflineStoreHarness,
): void {
  describe(`offline store conformance: ${name}`, () => {
    let store: OfflineStore;
    let h: OfflineStoreHarness;
    let dir: string;
    let sqlDir: string;

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'ferry-offline-conf-'));
      sqlDir = path.join(dir, 'sql');
      cpSync(repoSqlDir, sqlDir, { recursive: true });
      mkdirSync(path.join(sqlDir, 'conformance'), { recursive: true });
      for (const [file, text] of Object.entries(testTransforms))
        writeFileSync(path.join(sqlDir, 'conformance', file), text);
      h = await harness();
      store = await h.open(sqlDir);
    });

    afterAll(async () => {
      await store?.close();
      await h?.teardown?.();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    describe('incremental reads', () => {
      beforeAll(async () => {
        await store.ensureTable('conf_ties', tieColumns);
        await store.appendRows('conf_ties', tieRows());
      });

      const read = (options: Partial<IncrementalReadOptions> = {}) =>
        collect(
          store.readIncremental('conf_ties', {
            watermarkColumn: '_last_updated_at_ms',
            pageSize: 7,
            ...options,
          }),
        );

      it('delivers every row once, in watermark order, in full pages, with runs of equal watermarks straddling page boundaries', async () => {
        for (const tieBreaker of [undefined, ['k', 'id']]) {
          const pages = await read(tieBreaker ? { tieBreaker } : {});
          const ids = idsOf(pages);
          expect(ids).toHaveLength(50);
          expect(new Set(ids).size).toBe(50);
          expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
          const wms = pages.flatMap((p) => p.rows.map((r) => r._last_updated_at_ms as number));
          expect(wms).toEqual([...wms].sort((a, b) => a - b));
          expect(pages.map((p) => p.rows.length)).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
          // the 17 rows at 2000 span pages 1-3: a run really straddles boundaries
          expect(pages[1]!.rows.every((r) => r._last_updated_at_ms === 2000)).toBe(true);
          if (tieBreaker) {
            const keys = pages.flatMap((p) =>
              p.rows.map((r) => `${r._last_updated_at_ms}|${r.k}|${String(r.id).padStart(3, '0')}`),
            );
            expect(keys).toEqual([...keys].sort());
          }
        }
      });

      it('page cursors without a tie-breaker only advance to complete watermarks', async () => {
        const pages = await read();
        // runs: 1000×3, 2000×17, 3000×1, 4000×12, 5000×7, 6000×1, 7000×9 cut into pages of 7
        expect(pages.map((p) => p.cursor?.watermark)).toEqual([
          1000, 1000, 3000, 3000, 4000, 6000, 6000, 7000,
        ]);
        expect(pages.every((p) => p.cursor!.tie === undefined)).toBe(true);
        // wherever a page ends, the cursor is the last row's watermark when the next row's is greater
        for (let i = 0; i < pages.length; i++) {
          const last = pages[i]!.last.watermark;
          const next = pages[i + 1]?.rows[0]?._last_updated_at_ms as number | undefined;
          if (next === undefined || next > last) expect(pages[i]!.cursor).toEqual({ watermark: last });
          else expect(pages[i]!.cursor!.watermark).toBeLessThan(last);
        }
      });

      it('resumes from every page cursor without skipping; with a tie-breaker without repeating', async () => {
        for (const tieBreaker of [undefined, ['k', 'id']]) {
          const options = tieBreaker ? { tieBreaker } : {};
          const pages = await read(options);
          for (let i = 0; i < pages.length; i++) {
            // persisted as JSON, as a caller would
            const cursor = JSON.parse(JSON.stringify(pages[i]!.cursor)) as IncrementalCursor;
            const delivered = idsOf(pages.slice(0, i + 1));
            const resumed = idsOf(await read({ ...options, after: cursor, pageSize: 5 }));
            const union = new Set([...delivered, ...resumed]);
            expect(union.size, `resume after page ${i + 1}`).toBe(50);
            expect(new Set(resumed).size).toBe(resumed.length);
            const repeated = resumed.filter((id) => delivered.includes(id));
            if (tieBreaker) expect(repeated, `resume after page ${i + 1}`).toEqual([]);
            else {
              // only rows of the one watermark value the page boundary cut through come again
              const cut = pages[i]!.last.watermark;
              const rows = await store.readRows('conf_ties', { orderBy: ['id'] });
              const wmOf = new Map(rows.map((r) => [r.id as number, r._last_updated_at_ms as number]));
              for (const id of repeated) expect(wmOf.get(id)).toBe(cut);
            }
          }
        }
      });

      it('resumes exactly from a position inside a run of equal watermarks', async () => {
        const all = idsOf(await read({ tieBreaker: ['k', 'id'], pageSize: 100 }));
        const pages = await read({ tieBreaker: ['k', 'id'], pageSize: 10 });
        expect(pages[0]!.cursor!.watermark).toBe(2000);
        expect(pages[0]!.cursor!.tie).toHaveLength(2);
        const rest = idsOf(await read({ tieBreaker: ['k', 'id'], after: pages[0]!.cursor! }));
        expect([...idsOf(pages.slice(0, 1)), ...rest]).toEqual(all);
      });

      it('sees rows appended after a cursor on the next read', async () => {
        await store.ensureTable('conf_resume', tieColumns);
        await store.appendRows('conf_resume', [
          { id: 1, k: 'a', _last_updated_at_ms: 10 },
          { id: 2, k: 'b', _last_updated_at_ms: 20 },
        ]);
        const first = await collect(
          store.readIncremental('conf_resume', { watermarkColumn: '_last_updated_at_ms', pageSize: 10 }),
        );
        const cursor = first.at(-1)!.cursor!;
        expect(cursor).toEqual({ watermark: 20 });
        await store.appendRows('conf_resume', [
          { id: 3, k: 'c', _last_updated_at_ms: 20 }, // late row at the cursor's watermark: not seen (watermark semantics)
          { id: 4, k: 'd', _last_updated_at_ms: 30 },
          { id: 5, k: 'e', _last_updated_at_ms: 25 },
        ]);
        const next = await collect(
          store.readIncremental('conf_resume', {
            watermarkColumn: '_last_updated_at_ms',
            pageSize: 10,
            after: cursor,
          }),
        );
        expect(idsOf(next)).toEqual([5, 4]);
        expect(next.at(-1)!.cursor).toEqual({ watermark: 30 });
        const none = await collect(
          store.readIncremental('conf_resume', {
            watermarkColumn: '_last_updated_at_ms',
            pageSize: 10,
            after: { watermark: 30 },
          }),
        );
        expect(none).toEqual([]);
      });

      it('reports rows with a NULL watermark instead of dropping them silently', async () => {
        await store.ensureTable('conf_nulls', tieColumns);
        await store.appendRows('conf_nulls', [
          { id: 1, k: 'a', _last_updated_at_ms: 10 },
          { id: 2, k: 'b', _last_updated_at_ms: null },
          { id: 3, k: 'c', _last_updated_at_ms: 30 },
          { id: 4, k: 'd' },
          { id: 5, k: 'e', _last_updated_at_ms: 20 },
        ]);
        const reports: NullWatermarkReport[] = [];
        const pages = await collect(
          store.readIncremental('conf_nulls', {
            watermarkColumn: '_last_updated_at_ms',
            pageSize: 2,
            onNullWatermarks: (r) => {
              reports.push(r);
            },
          }),
        );
        expect(idsOf(pages)).toEqual([1, 5, 3]);
        expect(reports).toHaveLength(1);
        expect(reports[0]!.count).toBe(2);
        expect(reports[0]!.table).toBe('conf_nulls');
        expect(reports[0]!.sample.map((r) => r.id).sort()).toEqual([2, 4]);
        // reported even when no row is after the cursor
        const again: NullWatermarkReport[] = [];
        const none = await collect(
          store.readIncremental('conf_nulls', {
            watermarkColumn: '_last_updated_at_ms',
            pageSize: 2,
            after: { watermark: 30 },
            onNullWatermarks: (r) => {
              again.push(r);
            },
          }),
        );
        expect(none).toEqual([]);
        expect(again.map((r) => r.count)).toEqual([2]);
        // a table without NULL watermarks reports nothing
        const quiet: NullWatermarkReport[] = [];
        await collect(
          store.readIncremental('conf_ties', {
            watermarkColumn: '_last_updated_at_ms',
            pageSize: 100,
            onNullWatermarks: (r) => {
              quiet.push(r);
            },
          }),
        );
        expect(quiet).toEqual([]);
      });

      it('reads a Timestamp watermark column in milliseconds, with a projection', async () => {
        const cols: ColumnSpec[] = [
          { name: 'id', type: L('Long') },
          { name: 'seen_at', type: L('Timestamp') },
          { name: 'note', type: L('Text') },
        ];
        await store.ensureTable('conf_ts_wm', cols);
        const base = Date.parse('2024-03-10T00:00:00.000Z');
        await store.appendRows(
          'conf_ts_wm',
          [0, 1, 1, 1, 2, 3, 3].map((d, i) => ({ id: i + 1, seen_at: base + d, note: `n${i}` })),
        );
        const pages = await collect(
          store.readIncremental('conf_ts_wm', {
            watermarkColumn: 'seen_at',
            pageSize: 2,
            tieBreaker: ['id'],
            columns: ['id'],
          }),
        );
        expect(pages.flatMap((p) => p.rows)).toEqual(
          [0, 1, 1, 1, 2, 3, 3].map((d, i) => ({ id: i + 1, seen_at: base + d })),
        );
        expect(pages[0]!.cursor).toEqual({ watermark: base + 1, tie: [2] });
        const rest = await collect(
          store.readIncremental('conf_ts_wm', {
            watermarkColumn: 'seen_at',
            pageSize: 10,
            tieBreaker: ['id'],
            after: pages[0]!.cursor!,
          }),
        );
        expect(idsOf(rest)).toEqual([3, 4, 5, 6, 7]);
      });

      it('can stop early and keep working', async () => {
        for await (const page of store.readIncremental('conf_ties', {
          watermarkColumn: '_last_updated_at_ms',
          pageSize: 3,
        })) {
          expect(page.rows).toHaveLength(3);
          break;
        }
        expect(idsOf(await read())).toHaveLength(50);
      });

      it('rejects a bad read', async () => {
        const bad = (table: string, options: Partial<IncrementalReadOptions>) =>
          collect(
            store.readIncremental(table, { watermarkColumn: '_last_updated_at_ms', pageSize: 5, ...options }),
          );
        await expect(bad('conf_no_such_table', {})).rejects.toThrow(/conf_no_such_table/);
        await expect(bad('conf_ties', { watermarkColumn: 'payload' })).rejects.toThrow(/Long or Timestamp/);
        await expect(bad('conf_ties', { pageSize: 0 })).rejects.toThrow(/pageSize/);
        await expect(bad('conf_ties', { tieBreaker: ['nope'] })).rejects.toThrow(/nope/);
      });
    });

    describe('type mapping', () => {
      it('round trips every field type, with edge values, NULLs and lists', async () => {
        const def = typeDef();
        const { table } = await store.ensureFeatureTables(def);
        const rows: Record<string, unknown>[] = [
          edgeValuesRow(),
          {
            user_id: 2,
            v_text: '',
            v_long: -Number.MAX_SAFE_INTEGER,
            v_int: -(2 ** 31),
            v_double: -1.7976931348623157e308,
            v_float: 0.1, // not a 32-bit float: stored as the nearest one
            v_boolean: false,
            v_timestamp: -1, // 1969-12-31T23:59:59.999Z
            v_bytes: Buffer.alloc(0),
            l_text: [],
            l_long: [],
            l_int: [],
            l_double: [],
            l_float: [],
            l_boolean: [],
            l_timestamp: [],
            l_bytes: [],
            _last_updated_at_ms: 200,
          },
          // every value NULL (lists read back as [])
          { user_id: 3, _last_updated_at_ms: 300 },
          // JSON-style input: ISO timestamps (micro digits dropped), base64 bytes, digit-string Long
          {
            user_id: 4,
            v_long: '9007199254740991',
            v_timestamp: '2024-03-10T09:30:00.250999Z',
            v_bytes: 'AAEC',
            l_timestamp: ['1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z'],
            _last_updated_at_ms: 400,
          },
        ];
        expect(await store.appendRows(table, rows)).toBe(4);
        const back = await store.readRows(table, { orderBy: ['user_id'] });
        if (h.gaps?.includes('insert-repeated-bytes')) {
          expect(back[0]!.l_bytes).toEqual([Buffer.from('AA=='), Buffer.alloc(0)]); // the gap, as it is
          back[0]!.l_bytes = rows[0]!.l_bytes as Buffer[];
        }
        const nulls = Object.fromEntries([
          ...scalarTypes.map((s) => [`v_${s.toLowerCase()}`, null]),
          ...scalarTypes.map((s) => [`l_${s.toLowerCase()}`, []]),
        ]);
        expect(back).toEqual([
          { ...rows[0], l_float: [Math.fround(0.1), -3.25], _event_time: 100 },
          { ...rows[1], v_float: Math.fround(0.1), _event_time: 200 },
          { ...nulls, user_id: 3, _last_updated_at_ms: 300, _event_time: 300 },
          {
            ...nulls,
            user_id: 4,
            v_long: Number.MAX_SAFE_INTEGER,
            v_timestamp: 1710063000250,
            v_bytes: Buffer.from([0, 1, 2]),
            l_timestamp: [0, 253402300799999],
            _last_updated_at_ms: 400,
            _event_time: 400,
          },
        ]);
        expect(Buffer.isBuffer(back[0]!.v_bytes)).toBe(true);
        expect(back[0]!.l_float).toEqual([Math.fround(0.1), -3.25]);
      });

      it('describes tables back in Ferry types', async () => {
        const def = typeDef();
        const described = await store.describeTable(featureTableName(def));
        expect(described).toBeDefined();
        const byName = new Map(described!.map((c) => [c.name, c.type]));
        // exact: BigQuery's single integer and float types carry the Ferry type in the field description
        for (const f of def.fields) expect(byName.get(f.name), f.name).toEqual(f.type);
        expect(byName.get('_last_updated_at_ms')).toEqual(L('Long'));
        expect(byName.get('_event_time')).toEqual(L('Timestamp'));
        expect(await store.describeTable('conf_never_created')).toBeUndefined();
      });

      it('reads values computed in the warehouse: sub-millisecond timestamps floored, lists of bytes', async () => {
        const r = await store.runTransform('conformance/precision.sql', { logicalDate: '2024-03-10' });
        expect(r.rowsWritten).toBe(1);
        expect(await store.readRows('conf_precision')).toEqual([
          {
            ts: 1710063000250,
            before_epoch: -1,
            list: [1710063000000, 1710063000999],
            bytes_list: [Buffer.from([0, 1]), Buffer.alloc(0)],
          },
        ]);
      });
    });

    describe('tables', () => {
      it('creates a feature table idempotently and adds fields the definition gains', async () => {
        const def = retentionDef();
        const tables = await store.ensureFeatureTables(def);
        expect(tables).toEqual({ table: 'conformance__retained_v1', deadLetterTable: 'ferry_dead_letters' });
        await store.ensureFeatureTables(def);
        expect((await store.describeTable(tables.table))!.map((c) => c.name)).toEqual([
          'user_id',
          'region',
          'level',
          '_last_updated_at_ms',
          '_event_time',
        ]);
        await store.ensureFeatureTables(retentionDef(true));
        expect((await store.describeTable(tables.table))!.map((c) => c.name)).toContain('score');
        expect(await store.describeTable('ferry_dead_letters')).toBeDefined();
      });

      it('refuses to change a column type', async () => {
        await store.ensureTable('conf_retype', [{ name: 'a', type: L('Long') }]);
        await expect(store.ensureTable('conf_retype', [{ name: 'a', type: L('Text') }])).rejects.toThrow(
          /column a/,
        );
      });

      it('widens columns in place as Avro promotes (issue 19): stored values read as the new type', async () => {
        const before = {
          a: 'Int',
          b: 'Float',
          c: 'Int',
          d: 'Long',
          e: 'List<Int>',
          g: 'List<Float>',
        };
        const after = {
          a: 'Long',
          b: 'Double',
          c: 'Double',
          d: 'Double',
          e: 'List<Long>',
          g: 'List<Double>',
        };
        const v1 = widenDef(before);
        const v2 = widenDef(after);
        const { table } = await store.ensureFeatureTables(v1);
        const t = Date.parse('2024-03-10T00:00:00Z');
        const old = {
          user_id: 1,
          a: 2_000_000_000,
          b: 0.1,
          c: -7,
          d: 9_007_199_254_740_991,
          e: [1, -2],
          g: [0.5, 0.1],
          _last_updated_at_ms: t,
        };
        await store.appendRows(table, [old]);
        await store.ensureFeatureTables(v2);
        const described = new Map((await store.describeTable(table))!.map((c) => [c.name, c.type]));
        for (const [n, type] of Object.entries(after)) expect(described.get(n), n).toEqual(L(type));
        // values too large for the old types fit now
        const wide = {
          user_id: 2,
          a: 30_000_000_000,
          b: 1e300,
          c: 0.25,
          d: 1.5,
          e: [2 ** 40],
          g: [1e300],
          _last_updated_at_ms: t + 1,
        };
        await store.appendRows(table, [wide]);
        const rows = await store.readRows(table, { orderBy: ['user_id'] });
        expect(rows.map(({ _event_time: _e, ...r }) => r)).toEqual([
          { ...old, b: Math.fround(0.1), g: [0.5, Math.fround(0.1)] },
          wide,
        ]);
        // applying v2 again changes nothing; a column narrowed back is refused (a narrower value still
        // fits a wider column: the registry, not the warehouse, refuses Long → Int) and nothing changes
        await store.ensureFeatureTables(v2);
        await expect(store.ensureFeatureTables(v1)).rejects.toThrow(/column c holds Double, not Int/);
        expect((await store.describeTable(table))!.find((c) => c.name === 'c')!.type).toEqual(L('Double'));
        expect(await store.readRows(table, { orderBy: ['user_id'] })).toHaveLength(2);
      });

      it('appends in batches and checks every row before writing any', async () => {
        await store.ensureTable('conf_batches', tieColumns);
        const rows = Array.from({ length: 2345 }, (_, i) => ({
          id: i + 1,
          k: `k${i % 10}`,
          _last_updated_at_ms: 1000 + (i % 17),
        }));
        expect(await store.appendRows('conf_batches', rows, { batchSize: 500 })).toBe(2345);
        const pages = await collect(
          store.readIncremental('conf_batches', { watermarkColumn: '_last_updated_at_ms', pageSize: 1000 }),
        );
        expect(new Set(idsOf(pages)).size).toBe(2345);

        const bad = [
          ...rows.slice(0, 3).map((r) => ({ ...r, id: r.id + 10_000 })),
          { id: 'x', k: 'k', _last_updated_at_ms: 1 },
        ];
        const err = await store.appendRows('conf_batches', bad, { batchSize: 2 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OfflineStoreInputError);
        expect((err as OfflineStoreInputError).rowIndex).toBe(3);
        expect((err as OfflineStoreInputError).column).toBe('id');
        const unknown = await store.appendRows('conf_batches', [{ id: 1, nope: 1 }]).catch((e: unknown) => e);
        expect(unknown).toBeInstanceOf(OfflineStoreInputError);
        expect((unknown as Error).message).toMatch(/nope/);
        expect((await store.readRows('conf_batches')).length).toBe(2345);
        expect(await store.appendRows('conf_batches', [])).toBe(0);
      });
    });

    describe('retention', () => {
      it('deletes exactly the rows before the cutoff, by the event-time column', async () => {
        const def = retentionDef();
        const { table } = await store.ensureFeatureTables(def);
        const cutoff = Date.parse('2024-03-10T12:00:00.000Z');
        const day = 86_400_000;
        const times = [
          cutoff - 40 * day,
          cutoff - 2 * day,
          cutoff - day + 1,
          cutoff - 1,
          cutoff,
          cutoff + 1,
          cutoff + day,
        ];
        await store.appendRows(
          table,
          times.map((t, i) => ({ user_id: i + 1, region: 'kr', level: i, _last_updated_at_ms: t })),
        );
        expect(await store.deleteOlderThan(table, '_event_time', cutoff)).toBe(4);
        const left = await store.readRows(table, { orderBy: ['user_id'] });
        expect(left.map((r) => r._last_updated_at_ms)).toEqual([cutoff, cutoff + 1, cutoff + day]);
        expect(await store.deleteOlderThan(table, '_event_time', cutoff)).toBe(0);
      });

      it('deletes by a Long epoch-millisecond column too', async () => {
        await store.ensureTable('conf_retention_long', tieColumns);
        await store.appendRows(
          'conf_retention_long',
          [5, 9, 10, 11].map((t, i) => ({ id: i, k: 'k', _last_updated_at_ms: t })),
        );
        expect(await store.deleteOlderThan('conf_retention_long', '_last_updated_at_ms', 10)).toBe(2);
        expect(
          (await store.readRows('conf_retention_long', { orderBy: ['id'] })).map(
            (r) => r._last_updated_at_ms,
          ),
        ).toEqual([10, 11]);
      });
    });

    describe('dead letters', () => {
      it('writes dead letters and reads them back by feature and time range', async () => {
        const t = Date.parse('2024-03-10T00:00:00Z');
        const written = await store.writeDeadLetters([
          {
            feature: 'conf::a',
            origin: 'upsync',
            reason: 'level: expected Long, got "high"',
            payload: '{"level":"high"}',
            occurredAtMs: t + 2000,
          },
          {
            feature: 'conf::a',
            origin: 'command',
            reason: 'unknown field x',
            payload: '{"x":"ü 🚀"}',
            occurredAtMs: t,
          },
          {
            id: 'fixed-id',
            feature: 'conf::a',
            origin: 'upsync',
            reason: 'r3',
            payload: '',
            occurredAtMs: t + 1000,
          },
          {
            feature: 'conf::b',
            origin: 'command',
            reason: 'other feature',
            payload: '{}',
            occurredAtMs: t + 1000,
          },
        ]);
        expect(written).toHaveLength(4);
        expect(new Set(written.map((l) => l.id)).size).toBe(4);
        expect(written[2]!.id).toBe('fixed-id');

        const all = await store.readDeadLetters('conf::a');
        expect(all.map((l) => l.reason)).toEqual([
          'unknown field x',
          'r3',
          'level: expected Long, got "high"',
        ]);
        expect(all[0]).toEqual(written[1]);
        expect(all[0]!.payload).toBe('{"x":"ü 🚀"}');
        expect((await store.readDeadLetters('conf::a', { fromMs: t + 1000 })).map((l) => l.reason)).toEqual([
          'r3',
          'level: expected Long, got "high"',
        ]);
        expect(
          (await store.readDeadLetters('conf::a', { fromMs: t, toMs: t + 2000 })).map((l) => l.reason),
        ).toEqual(['unknown field x', 'r3']);
        expect(await store.readDeadLetters('conf::a', { limit: 1 })).toHaveLength(1);
        expect((await store.readDeadLetters('conf::b')).map((l) => l.origin)).toEqual(['command']);
        expect(await store.readDeadLetters('conf::none')).toEqual([]);
      });

      it('keeps each id once, deletes dead letters by id, and ignores unknown ids', async () => {
        const t = Date.parse('2024-03-11T00:00:00Z');
        const letter = (id: string, reason: string, feature = 'conf::del') => ({
          id,
          feature,
          origin: 'upsync' as const,
          reason,
          payload: '{}',
          occurredAtMs: t,
        });
        // the same id twice in a write, and again in a later write (a retried page; a consumer
        // that re-reads its uncommitted tail after a crash): the table keeps one copy
        await store.writeDeadLetters([
          letter('d1', 'a'),
          letter('d2', 'b'),
          letter('d2', 'b'),
          letter('d3', 'c'),
          letter('keep', 'd', 'conf::del-other'),
        ]);
        await store.writeDeadLetters([letter('d2', 'b'), letter('d1', 'a')]);
        expect((await store.readDeadLetters('conf::del')).map((l) => l.id)).toEqual(['d1', 'd2', 'd3']);
        expect(await store.deleteDeadLetters([])).toBe(0);
        expect(await store.deleteDeadLetters(['d2', 'no-such-id'])).toBe(1);
        expect((await store.readDeadLetters('conf::del')).map((l) => l.id)).toEqual(['d1', 'd3']);
        expect(await store.deleteDeadLetters(['d1', 'd3'])).toBe(2);
        expect(await store.readDeadLetters('conf::del')).toEqual([]);
        // other features' letters are untouched
        expect((await store.readDeadLetters('conf::del-other')).map((l) => l.id)).toEqual(['keep']);
      });
    });

    describe('transforms', () => {
      it('binds the parameters and replaces the destination', async () => {
        const a = await store.runTransform('conformance/params_replace.sql', { logicalDate: '2024-03-10' });
        expect(a).toMatchObject({ destination: 'conf_params_replace', writeMode: 'replace', rowsWritten: 1 });
        expect(a.file).toMatch(/conformance[/\\]params_replace\.sql$/);
        const hour = Date.parse('2024-03-11T05:00:00Z');
        await store.runTransform('conformance/params_replace.sql', {
          logicalDate: '2024-03-11',
          windowStart: hour,
          windowEnd: hour + 3_600_000,
        });
        expect(await store.readRows('conf_params_replace')).toEqual([
          { logical_date: '2024-03-11', window_start_ms: hour, window_end_ms: hour + 3_600_000 },
        ]);
      });

      it('appends to the destination, creating it on the first run', async () => {
        await store.dropTable('conf_params_append');
        const first = await store.runTransform('conformance/params_append.sql', {
          logicalDate: '2024-03-10',
        });
        expect(first.rowsWritten).toBe(2);
        const second = await store.runTransform('conformance/params_append.sql', {
          logicalDate: '2024-03-11',
        });
        expect(second).toMatchObject({ writeMode: 'append', rowsWritten: 2 });
        const rows = await store.readRows('conf_params_append', { orderBy: ['logical_date', 'n'] });
        const d10 = Date.parse('2024-03-11T00:00:00Z');
        expect(rows).toEqual([
          { logical_date: '2024-03-10', _last_updated_at_ms: d10, n: 1 },
          { logical_date: '2024-03-10', _last_updated_at_ms: d10, n: 2 },
          { logical_date: '2024-03-11', _last_updated_at_ms: d10 + 86_400_000, n: 1 },
          { logical_date: '2024-03-11', _last_updated_at_ms: d10 + 86_400_000, n: 2 },
        ]);
        const err = await store
          .runTransform('conformance/append_mismatch.sql', { logicalDate: '2024-03-12' })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TransformError);
        expect((err as Error).message).toMatch(
          /append_mismatch\.sql:4: .*missing _last_updated_at_ms, n; not in the table: other/,
        );
        expect(await store.readRows('conf_params_append')).toHaveLength(4);
      });

      it('reports a failing transform with its file and line', async () => {
        await store.ensureTable('conf_source', [{ name: 'id', type: L('Long') }]);
        const column = await store
          .runTransform('conformance/broken_column.sql', { logicalDate: '2024-03-10' })
          .catch((e: unknown) => e);
        expect(column).toBeInstanceOf(TransformError);
        const c = column as TransformError;
        expect(c.file).toMatch(/conformance[/\\]broken_column\.sql$/);
        expect(c.line).toBe(7);
        expect(c.message).toMatch(/broken_column\.sql:7(:\d+)?: /);
        expect(c.message).toMatch(/no_such_column/);
        expect(c.message).toContain('no_such_column AS level');

        const syntax = await store
          .runTransform('conformance/broken_syntax.sql', { logicalDate: '2024-03-10' })
          .catch((e: unknown) => e);
        expect(syntax).toBeInstanceOf(TransformError);
        expect((syntax as TransformError).line).toBe(6);
        expect((syntax as Error).message).toMatch(/broken_syntax\.sql:6(:\d+)?: /);

        const undeclared = await store
          .runTransform('conformance/undeclared_param.sql', { logicalDate: '2024-03-10' })
          .catch((e: unknown) => e);
        expect(undeclared).toBeInstanceOf(TransformDefinitionError);
        expect((undeclared as Error).message).toMatch(
          /undeclared_param\.sql:4: @window_end is used but not declared/,
        );

        await expect(
          store.runTransform('conformance/nope.sql', { logicalDate: '2024-03-10' }),
        ).rejects.toThrow(/no such transform/);
        await expect(
          store.runTransform('conformance/params_replace.sql', { logicalDate: '2024-02-30' }),
        ).rejects.toThrow(/real date/);
      });

      it('picks the per-dialect file when there is one', async () => {
        const r = await store.runTransform('conformance/dialect.sql', { logicalDate: '2024-03-10' });
        expect(r.file).toMatch(new RegExp(`dialect\\.${store.dialect}\\.sql$`));
        expect(await store.readRows('conf_dialect')).toEqual([{ picked: store.dialect }]);
      });
    });

    describe('sample transforms', () => {
      let defs: Map<string, FeatureDefinition>;
      beforeAll(async () => {
        const loaded = await loadDefinitions([featuresDir]);
        defs = new Map(loaded.definitions.map((d) => [d.name, d]));
        expect(await createSampleSources(store)).toEqual({
          raw_users: 7,
          raw_match_events: 7,
          raw_lounge_events: 14,
        });
      });

      const at = (iso: string) => Date.parse(iso);
      const windowEnd = at('2024-03-11T00:00:00Z');

      /** The output carries exactly the feature's keys, value fields and `_last_updated_at_ms`. */
      const expectFeatureColumns = (feature: string, rows: OfflineRow[]) => {
        const def = defs.get(feature)!;
        expect(def, feature).toBeDefined();
        expect(def.upsync?.source.kind).toBe('transform');
        for (const row of rows) {
          expect(Object.keys(row).sort()).toEqual(
            [...def.fields.map((f) => f.name), '_last_updated_at_ms'].sort(),
          );
        }
      };

      it('azar/user_profile.sql', async () => {
        const r = await store.runTransform('azar/user_profile.sql', { logicalDate: sampleLogicalDate });
        expect(r).toMatchObject({
          destination: 'azar__user_profile__upsync',
          writeMode: 'replace',
          rowsWritten: 4,
        });
        expect(defs.get('azar::user-profile')!.upsync!.source).toEqual({
          kind: 'transform',
          transform: r.name,
        });
        const rows = await store.readRows(r.destination, { orderBy: ['user_id'] });
        expect(rows).toEqual([
          {
            user_id: 1,
            gender: 'F',
            country_code: 'KR',
            age: 29,
            level: 4,
            avg_chat_sec: 100,
            _last_updated_at_ms: at('2024-03-10T09:30:00.250Z'),
          },
          {
            user_id: 2,
            gender: 'M',
            country_code: 'US',
            age: 24,
            level: 7,
            avg_chat_sec: 60,
            _last_updated_at_ms: at('2024-03-10T18:15:00.125Z'),
          },
          {
            user_id: 4,
            gender: 'F',
            country_code: 'DE',
            age: 23,
            level: 1,
            avg_chat_sec: null,
            _last_updated_at_ms: at('2024-03-10T23:59:59.999Z'),
          },
          {
            user_id: 6,
            gender: null,
            country_code: null,
            age: null,
            level: null,
            avg_chat_sec: 50,
            _last_updated_at_ms: at('2024-03-10T12:00:00Z'),
          },
        ]);
        expectFeatureColumns('azar::user-profile', rows);
      });

      it('azar-lounge/user_interaction.sql', async () => {
        const r = await store.runTransform('azar-lounge/user_interaction.sql', {
          logicalDate: sampleLogicalDate,
        });
        expect(r).toMatchObject({
          destination: 'azar_lounge__user_interaction__upsync',
          writeMode: 'replace',
          rowsWritten: 4,
        });
        const rows = await store.readRows(r.destination, { orderBy: ['user_id'] });
        const row = (
          user_id: number,
          sent: number,
          received: number,
          views: number,
          ratio: number,
          last: string,
        ) => ({
          user_id,
          sent_like_count_7d: sent,
          received_like_count_7d: received,
          profile_view_count_7d: views,
          like_back_ratio_7d: ratio,
          last_interaction_at: at(last),
          _last_updated_at_ms: windowEnd,
        });
        expect(rows).toEqual([
          row(10, 1, 2, 2, 0.5, '2024-03-10T08:00:00Z'),
          row(20, 1, 1, 0, 1, '2024-03-10T09:00:00Z'),
          row(30, 1, 0, 0, 0, '2024-03-09T09:00:00Z'),
          row(40, 0, 0, 0, 0, '2024-03-03T12:00:00Z'),
        ]);
        expectFeatureColumns('azar-lounge::user-interaction', rows);
      });

      it('azar-lounge/user_stats.sql (append: one snapshot per run)', async () => {
        await store.dropTable('azar_lounge__user_stats__upsync');
        const r = await store.runTransform('azar-lounge/user_stats.sql', { logicalDate: sampleLogicalDate });
        expect(r).toMatchObject({
          destination: 'azar_lounge__user_stats__upsync',
          writeMode: 'append',
          rowsWritten: 6,
        });
        const row = (
          user_id: number,
          imp: number,
          clk: number,
          rate: number,
          days: number,
          wm = windowEnd,
        ) => ({
          user_id,
          card_impression_count_30d: imp,
          card_click_count_30d: clk,
          click_rate_30d: rate,
          active_days_30d: days,
          _last_updated_at_ms: wm,
        });
        const first = [
          row(10, 3, 1, 1 / 3, 4),
          row(20, 0, 0, 0, 1),
          row(30, 0, 0, 0, 1),
          row(40, 0, 0, 0, 1),
          row(50, 0, 0, 0, 1),
          row(70, 0, 0, 0, 0),
        ];
        const rows = await store.readRows(r.destination, { orderBy: ['_last_updated_at_ms', 'user_id'] });
        expect(rows).toEqual(first);
        expectFeatureColumns('azar-lounge::user-stats', rows);

        // the next day's run appends its snapshot; user 70's last event left the window before it
        const next = await store.runTransform('azar-lounge/user_stats.sql', { logicalDate: '2024-03-11' });
        expect(next.rowsWritten).toBe(5);
        const both = await store.readRows(r.destination, { orderBy: ['_last_updated_at_ms', 'user_id'] });
        expect(both.slice(0, 6)).toEqual(first);
        expect(both.slice(6).map((x) => x.user_id)).toEqual([10, 20, 30, 40, 50]);

        // and the upsync reads only the newest snapshot after the first one's cursor
        const pages = await collect(
          store.readIncremental(r.destination, {
            watermarkColumn: '_last_updated_at_ms',
            tieBreaker: ['user_id'],
            pageSize: 4,
            after: { watermark: windowEnd },
          }),
        );
        expect(pages.flatMap((p) => p.rows.map((x) => x.user_id))).toEqual([10, 20, 30, 40, 50]);
      });
    });
  });
}
