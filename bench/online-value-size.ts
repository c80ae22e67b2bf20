/**
 * Stored size of one value of each sample feature: JSON against Avro (issue 4 asks for the
 * comparison; the seed talk reports up to 80% savings).
 *
 *   npx tsx bench/online-value-size.ts
 *
 * Columns:
 * - JSON: the value fields and `_last_updated_at_ms` as a JSON object (what a JSON store keeps).
 * - Avro rec: the feature's Avro record (domain/codec/avro-schema.ts) with the 8-byte schema
 *   fingerprint in front, i.e. one record per key.
 * - cells: what Ferry stores: one cell per field (1-byte type tag + the field's Avro
 *   encoding); the event time lives in Cassandra's write time, not in the value.
 * - LMDB entry: the embedded store's whole entry for the key (cells plus, per field, the
 *   event time and expiry as msgpack doubles), read back from a real LMDB file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import avro from 'avsc';
import { open } from 'lmdb';
import { valueRecordSchema } from '../domain/codec/avro-schema.ts';
import { eventTimeField, type FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import { coerceValue, type FieldValue, valueToJson } from '../domain/values/coerce-value.ts';
import { compileFeature } from '../stores/online/compiled-feature.ts';
import { openEmbeddedOnlineStore } from '../stores/online/embedded-online-store.ts';

/** Representative values of the sample features (what a real row looks like). */
const examples: Record<string, Record<string, unknown>> = {
  'azar-lounge::user-interaction': {
    sent_like_count_7d: 23,
    received_like_count_7d: 41,
    profile_view_count_7d: 310,
    like_back_ratio_7d: 0.3658536585365854,
    last_interaction_at: '2024-05-01T12:34:56Z',
  },
  'azar-lounge::user-stats': {
    card_impression_count_30d: 18_240,
    card_click_count_30d: 1_312,
    click_rate_30d: 0.07192982456140351,
    active_days_30d: 19,
  },
  'azar-match::rich-history': { user_gender: 'FEMALE', user_country_code: 'KR', user_language_code: 'ko' },
  'azar-match::match-feature': { recent_10min_match_count: 7, recent_10min_avg_chat_duration: 84.25 },
  'azar-match::recent-matches': {
    peer_user_id: 1_084_467_230,
    chat_duration_sec: 312,
    peer_country_code: 'JP',
  },
  'azar::user-profile': { gender: 'MALE', country_code: 'KR', age: 27, level: 12, avg_chat_sec: 143.5 },
  'live::hakuna-host-stat-v1': { gender: 'FEMALE', level: 37, country_code: 'KR', birthday: '1998-07-14' },
  'live::realtime-room-context': {
    host_user_id: '8812734410',
    has_guest: true,
    viewer_count: 1_532,
    recent_10min_gift_count: 48,
    vision_tags: ['indoor', 'singing', 'guitar'],
  },
  'live::live-room-context': { has_guest: true },
};

export interface ValueSizeRow {
  feature: string;
  fields: number;
  json: number;
  avroRecord: number;
  cells: number;
  lmdbEntry: number | null;
}

function exampleOf(def: FeatureDefinition): Record<string, FieldValue> {
  const given = examples[def.name] ?? {};
  const out: Record<string, FieldValue> = {};
  for (const f of def.fields) {
    if (f.isKey) continue;
    out[f.name] = coerceValue(f.type, given[f.name] ?? f.defaultValue);
  }
  return out;
}

export async function measureValueSizes(featuresDir = 'features'): Promise<ValueSizeRow[]> {
  const { definitions, errors } = await loadDefinitions([featuresDir]);
  if (errors.length > 0) throw new Error(`feature definitions do not load: ${JSON.stringify(errors[0])}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-size-'));
  const eventTimeMs = Date.now();
  const rows: ValueSizeRow[] = [];
  try {
    const store = await openEmbeddedOnlineStore({ path: dir });
    const keyOf = (def: FeatureDefinition) =>
      Object.fromEntries(
        def.keyFields.map((k) => {
          const f = def.fields.find((x) => x.name === k)!;
          return [k, f.type.kind === 'scalar' && f.type.scalar === 'Text' ? 'room-4471' : 1_084_467_230];
        }),
      );
    for (const def of definitions) {
      const values = exampleOf(def);
      const json = Buffer.byteLength(
        JSON.stringify({
          ...Object.fromEntries(
            def.fields.filter((f) => !f.isKey).map((f) => [f.name, valueToJson(f.type, values[f.name]!)]),
          ),
          [eventTimeField]: eventTimeMs,
        }),
      );
      const record = avro.Type.forSchema(valueRecordSchema(def)).toBuffer({
        ...values,
        [eventTimeField]: eventTimeMs,
      });
      const feature = compileFeature(def);
      const cells = feature.valueFields.reduce(
        (n, f) => n + (values[f.name] === null ? 0 : f.codec.encode(values[f.name]!).length),
        0,
      );
      await store.ensureFeature(def);
      if (def.featureType === 'Object')
        await store.writeObjects(def, [{ keys: keyOf(def), eventTimeMs, values }]);
      else await store.appendHistory(def, [{ keys: keyOf(def), eventTimeMs, values }]);
      rows.push({
        feature: def.name,
        fields: feature.valueFields.length,
        json,
        avroRecord: record.length + 8,
        cells,
        lmdbEntry: null,
      });
    }
    await store.close();
    // the raw bytes of each entry, as LMDB holds them
    const root = open({ path: dir, maxDbs: 1_100 });
    for (const row of rows) {
      const def = definitions.find((d) => d.name === row.feature)!;
      const db = root.openDB({
        name: `${def.featureType === 'Object' ? 'object' : 'history'}:${def.name}`,
        encoding: 'binary',
      });
      for (const { value } of db.getRange({})) row.lmdbEntry = (value as Buffer).length;
    }
    await root.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function formatValueSizes(rows: readonly ValueSizeRow[]): string {
  const pct = (a: number, b: number) => `${Math.round((1 - a / b) * 100)}%`;
  const lines = [
    '| feature | fields | JSON B | Avro record+fp B | cells B | cells vs JSON | LMDB entry B |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const total = { json: 0, avro: 0, cells: 0 };
  for (const r of rows) {
    total.json += r.json;
    total.avro += r.avroRecord;
    total.cells += r.cells;
    lines.push(
      `| ${r.feature} | ${r.fields} | ${r.json} | ${r.avroRecord} | ${r.cells} | −${pct(r.cells, r.json)} | ${r.lmdbEntry ?? '-'} |`,
    );
  }
  lines.push(
    `| **all ${rows.length}** | | ${total.json} | ${total.avro} (−${pct(total.avro, total.json)}) | ${total.cells} | −${pct(total.cells, total.json)} | |`,
  );
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(formatValueSizes(await measureValueSizes()));
}
