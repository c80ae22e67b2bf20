import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { schemaFingerprint, valueRecordSchema } from '../../domain/codec/avro-schema.ts';
import { compareDefinitions } from '../../domain/definitions/definition-evolution.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';

const v1Yaml = `live::room:
  feature_type: Object
  owner: owen
  schema:
    room_id: {type: Text, is_key_field: true}
    viewers: {type: Long, default_value: 0}
    title: {type: Text, default_value: ""}
`;

function def(yaml: string): FeatureDefinition {
  const { definitions, errors } = loadDefinitionsFromText('f.yaml', yaml);
  expect(errors).toEqual([]);
  return definitions[0]!;
}

const v1 = def(v1Yaml);
const withField = (extra: string) => def(v1Yaml + extra);

describe('definition evolution', () => {
  it('an identical definition has no changes', () => {
    expect(compareDefinitions(v1, def(v1Yaml))).toEqual([]);
  });

  it('adding a field with a default, or changing owner, description, default or access, is compatible', () => {
    const v2 = def(
      v1Yaml.replace('owner: owen', 'owner: dana').replace('default_value: 0', 'default_value: 5') +
        '    has_guest: {type: Boolean, default_value: false}\n  access:\n    readers: [app]\n',
    );
    const changes = compareDefinitions(v1, v2);
    expect(changes.map((c) => c.path)).toEqual([
      'owner',
      'schema.viewers.default_value',
      'schema.has_guest',
      'access',
    ]);
    expect(changes.every((c) => c.incompatible === undefined)).toBe(true);
  });

  it('deprecating a field is compatible, and so is removing a field deprecated before', () => {
    const deprecated = def(
      v1Yaml.replace(
        'title: {type: Text, default_value: ""}',
        'title: {type: Text, default_value: "", deprecated: true}',
      ),
    );
    expect(compareDefinitions(v1, deprecated).filter((c) => c.incompatible)).toEqual([]);
    const removed = def(v1Yaml.replace('    title: {type: Text, default_value: ""}\n', ''));
    expect(compareDefinitions(deprecated, removed)).toEqual([
      { path: 'schema.title', before: 'Text', after: undefined },
    ]);
  });

  it.each([
    [
      'narrowing a type (Long → Int)',
      v1Yaml.replace('viewers: {type: Long', 'viewers: {type: Int'),
      'schema.viewers.type',
      'changing a field type makes stored values unreadable',
    ],
    [
      'changing a type to another kind (Long → Text)',
      v1Yaml
        .replace('viewers: {type: Long', 'viewers: {type: Text')
        .replace('default_value: 0', 'default_value: ""'),
      'schema.viewers.type',
      'changing a field type makes stored values unreadable',
    ],
    [
      'a scalar becoming a list (Long → List<Long>)',
      v1Yaml.replace(
        'viewers: {type: Long, default_value: 0',
        'viewers: {type: List<Long>, default_value: []',
      ),
      'schema.viewers.type',
      'changing a field type makes stored values unreadable',
    ],
    [
      'widening a key field (Text keys stay; an Int key may not become Long)',
      v1Yaml.replace('room_id: {type: Text', 'room_id: {type: Long'),
      'schema.room_id.type',
      "changing a key field's type changes every stored key",
    ],
    [
      'removing a field that is not deprecated',
      v1Yaml.replace('    title: {type: Text, default_value: ""}\n', ''),
      'schema.title',
      'a field must be deprecated (deprecated: true) in an applied version before it is removed',
    ],
    [
      'renaming the key field',
      v1Yaml.replace('room_id:', 'live_room_id:'),
      'schema (key fields)',
      'adding, removing or renaming key fields changes every stored key',
    ],
    [
      'adding a key field',
      `${v1Yaml}    shard: {type: Int, is_key_field: true}\n`,
      'schema (key fields)',
      'adding, removing or renaming key fields changes every stored key',
    ],
    [
      'changing the feature type',
      v1Yaml.replace('feature_type: Object', 'feature_type: History'),
      'feature_type',
      'changing the feature type changes how values are stored',
    ],
    [
      'adding a field without a default',
      `${v1Yaml}    rank: {type: Long}\n`,
      'schema.rank',
      'a field added to an applied feature needs a default_value',
    ],
  ])('%s is incompatible', (_name, yaml, path, reason) => {
    const changes = compareDefinitions(v1, def(yaml));
    expect(changes.find((c) => c.path === path)?.incompatible).toBe(reason);
  });

  it.each([
    ['Int', 'Long'],
    ['Int', 'Float'],
    ['Int', 'Double'],
    ['Long', 'Float'],
    ['Long', 'Double'],
    ['Float', 'Double'],
    ['List<Int>', 'List<Long>'],
    ['List<Float>', 'List<Double>'],
  ])('widening %s → %s is compatible, with a note saying what apply does', (from, to) => {
    const yaml = (t: string) =>
      `${v1Yaml}    score: {type: ${t}, default_value: ${t.startsWith('List') ? '[]' : '0'}}\n`;
    const changes = compareDefinitions(def(yaml(from)), def(yaml(to)));
    expect(changes).toEqual([
      {
        path: 'schema.score.type',
        before: from,
        after: to,
        note: `widened: stored ${from} values read as ${to}; the offline column is altered`,
      },
    ]);
  });

  it.each([
    ['Long', 'Int'],
    ['Double', 'Float'],
    ['Double', 'Long'],
    ['Float', 'Int'],
    ['Int', 'Timestamp'],
    ['Long', 'Timestamp'],
    ['Int', 'Text'],
    ['List<Long>', 'List<Int>'],
  ])('narrowing or changing %s → %s stays refused', (from, to) => {
    const yaml = (t: string) => `${v1Yaml}    score: {type: ${t}}\n`;
    const changes = compareDefinitions(def(yaml(from)), def(yaml(to)));
    expect(changes.map((c) => c.incompatible)).toEqual([
      'changing a field type makes stored values unreadable',
    ]);
  });

  it('values written under the old schema decode under the new one (Avro resolution)', () => {
    const v2 = withField(
      '    has_guest: {type: Boolean, default_value: false}\n    tags: {type: List<Text>, default_value: []}\n',
    );
    const oldType = avro.Type.forSchema(valueRecordSchema(v1));
    const newType = avro.Type.forSchema(valueRecordSchema(v2));
    expect(schemaFingerprint(valueRecordSchema(v1))).not.toBe(schemaFingerprint(valueRecordSchema(v2)));
    const written = oldType.toBuffer({ viewers: 42, title: 'hello', _last_updated_at_ms: 1_700_000_000_000 });
    const decoded = newType.fromBuffer(written, newType.createResolver(oldType));
    expect({ ...decoded }).toEqual({
      viewers: 42,
      title: 'hello',
      has_guest: null,
      tags: null,
      _last_updated_at_ms: 1_700_000_000_000,
    });
  });
});
