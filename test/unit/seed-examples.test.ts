import { describe, expect, it } from 'vitest';
import { formatDefinitionError } from '../../domain/definitions/definition-error.ts';
import { loadDefinitions, loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';

// The YAML of the seed talk, exactly as its slides show it (the elided schemas of the
// upsync and downsync examples filled in with one field each).
const seedYaml = `live::hakuna-host-stat-v1:
  feature_type: Object
  owner: "shawn.s"
  schema:
    user_id:
      type: Text
      is_key_field: true
    gender:
      type: Text
      description: ""
      default_value: "MALE"
    level:
      type: Long
      description: ""
      default_value: 0
    country_code:
      type: Text
      description: ""
      default_value: "XX"
    birthday:
      type: Text
      description: ""
      default_value: "2000-01-01"
azar-match::rich-history:
  feature_type: History
  owner: "ray.l"
  schema:
    user_id:
      type: Long
      description: ""
      is_key_field: true
    user_gender:
      type: Text
      description: ""
      default_value: ""
    user_country_code:
      type: Text
      description: ""
      default_value: ""
    user_language_code:
      type: Text
      description: ""
      default_value: ""
azar-lounge::user-interaction:
  feature_type: Object
  owner: "shuki"
  schema:
    user_id:
      type: Long
      is_key_field: true
    like_count:
      type: Long
      default_value: 0
  upsync:
    enabled: true
    incremental_update: true
live::realtime-room-context:
  feature_type: Object
  owner: "owen.l"
  schema:
    live_room_id:
      type: Text
      is_key_field: true
    has_guest:
      type: Boolean
      default_value: false
  downsync:
    enabled: true
    min_interval_by_key: "1m"
    random_sampling_ratio: 0.9
`;

describe('the seed examples', () => {
  it('load as the slides write them, with the settings they state', () => {
    const { definitions, errors } = loadDefinitionsFromText('seed.yaml', seedYaml);
    expect(errors).toEqual([]);
    const byName = new Map(definitions.map((d) => [d.name, d]));
    const host = byName.get('live::hakuna-host-stat-v1')!;
    expect(host).toMatchObject({
      namespace: 'live',
      baseName: 'hakuna-host-stat',
      version: 1,
      featureType: 'Object',
      owner: 'shawn.s',
    });
    expect(host.keyFields).toEqual(['user_id']);
    expect(host.fields.map((f) => [f.name, f.defaultValue])).toEqual([
      ['user_id', undefined],
      ['gender', 'MALE'],
      ['level', 0],
      ['country_code', 'XX'],
      ['birthday', '2000-01-01'],
    ]);
    const history = byName.get('azar-match::rich-history')!;
    expect(history.featureType).toBe('History');
    expect(history.maxEntriesPerKey).toBe(100);
    const lounge = byName.get('azar-lounge::user-interaction')!;
    expect(lounge.upsync).toEqual({
      enabled: true,
      incremental: true,
      source: { kind: 'table', table: 'azar_lounge__user_interaction' },
      watermarkColumn: '_last_updated_at_ms',
    });
    expect(byName.get('live::realtime-room-context')!.downsync).toEqual({
      enabled: true,
      minIntervalByKeyMs: 60_000,
      randomSamplingRatio: 0.9,
    });
  });

  it('features/ holds them written out in full, and validates clean', async () => {
    const { definitions, errors } = await loadDefinitions(['features'], { cwd: process.cwd() });
    expect(errors.map(formatDefinitionError)).toEqual([]);
    const names = definitions.map((d) => d.name);
    for (const n of [
      'live::hakuna-host-stat-v1',
      'azar-match::rich-history',
      'azar-lounge::user-interaction',
      'live::realtime-room-context',
    ]) {
      expect(names).toContain(n);
    }
    expect(definitions.filter((d) => d.featureType === 'History').length).toBeGreaterThanOrEqual(2);
  });
});

describe('transforms named by upsync', () => {
  it('counts per-dialect files as the transform they provide', async () => {
    const { mkdtemp, mkdir, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { listTransforms } = await import('../../domain/definitions/load-definitions.ts');
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-sql-'));
    await mkdir(path.join(dir, 'a'));
    await writeFile(path.join(dir, 'a', 'one.sql'), 'select 1');
    await writeFile(path.join(dir, 'a', 'two.duckdb.sql'), 'select 2');
    await writeFile(path.join(dir, 'a', 'two.bigquery.sql'), 'select 2');
    expect([...(await listTransforms(dir))].sort()).toEqual(['a/one.sql', 'a/two.sql']);
  });
});
