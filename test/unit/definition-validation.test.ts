import { describe, expect, it } from 'vitest';
import { formatDefinitionError } from '../../domain/definitions/definition-error.ts';
import { loadDefinitions, loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';

const file = 'features/live.yaml';
const errorsOf = (yaml: string, transforms?: Set<string>) =>
  loadDefinitionsFromText(file, yaml, transforms ? { transforms } : {}).errors.map(formatDefinitionError);

/** A valid feature; each bad case below changes one thing in it. */
const head = `live::hakuna-host-stat-v1:
  feature_type: Object
  owner: "shawn.s"
  schema:
    user_id:
      type: Text
      is_key_field: true
`;

// Each case: a definition and the exact errors it must produce (file:line:column path: message).
const cases: [string, string, string[]][] = [
  [
    'default of the wrong type',
    `${head}    level:
      type: Long
      description: ""
      default_value: "high"
`,
    [
      'features/live.yaml:11:7 live::hakuna-host-stat-v1.schema.level.default_value: expected Long, got "high"',
    ],
  ],
  [
    'unknown field type',
    `${head}    level:
      type: Integer
`,
    [
      'features/live.yaml:9:7 live::hakuna-host-stat-v1.schema.level.type: unknown type "Integer" (known: Text, Long, Int, Double, Float, Boolean, Timestamp, Bytes, List<...>)',
    ],
  ],
  [
    'no key field',
    `live::x:
  feature_type: Object
  owner: a
  schema:
    level:
      type: Long
`,
    ['features/live.yaml:4:3 live::x.schema: at least one field must have is_key_field: true'],
  ],
  [
    'key field with a default',
    `live::x:
  feature_type: Object
  owner: a
  schema:
    user_id:
      type: Text
      is_key_field: true
      default_value: "u"
    level:
      type: Long
`,
    ['features/live.yaml:8:7 live::x.schema.user_id.default_value: a key field cannot have a default value'],
  ],
  [
    'key field of a list type',
    `live::x:
  feature_type: Object
  owner: a
  schema:
    ids:
      type: List<Long>
      is_key_field: true
    level:
      type: Long
`,
    ['features/live.yaml:6:7 live::x.schema.ids.type: a key field must be Text, Long or Int, got List<Long>'],
  ],
  [
    'unknown feature type',
    `live::x:
  feature_type: Objekt
  owner: a
  schema:
    user_id: {type: Text, is_key_field: true}
    level: {type: Long}
`,
    [
      'features/live.yaml:2:3 live::x.feature_type: expected one of Object, History, Aggregation, got "Objekt"',
    ],
  ],
  [
    'missing owner',
    `live::x:
  feature_type: Object
  schema:
    user_id: {type: Text, is_key_field: true}
    level: {type: Long}
`,
    ['features/live.yaml:1:1 live::x.owner: required key is missing'],
  ],
  [
    'misspelt key',
    `${head}    level:
      type: Long
      defualt_value: 0
`,
    [
      'features/live.yaml:10:7 live::hakuna-host-stat-v1.schema.level.defualt_value: unknown key "defualt_value"',
    ],
  ],
  [
    'is_key_field not a boolean',
    `live::x:
  feature_type: Object
  owner: a
  schema:
    user_id:
      type: Text
      is_key_field: "yes"
    level: {type: Long}
`,
    ['features/live.yaml:7:7 live::x.schema.user_id.is_key_field: expected true or false, got "yes"'],
  ],
  [
    'bad duration',
    `${head}    level: {type: Long}
  downsync:
    enabled: true
    min_interval_by_key: "1 minute"
`,
    [
      'features/live.yaml:11:5 live::hakuna-host-stat-v1.downsync.min_interval_by_key: expected a duration such as 30s, 1m, 6h or 30d, got "1 minute"',
    ],
  ],
  [
    'sampling ratio out of range',
    `${head}    level: {type: Long}
  downsync:
    enabled: true
    random_sampling_ratio: 1.5
`,
    [
      'features/live.yaml:11:5 live::hakuna-host-stat-v1.downsync.random_sampling_ratio: must be in (0, 1], got 1.5',
    ],
  ],
  [
    'sampling ratio of zero',
    `${head}    level: {type: Long}
  downsync:
    enabled: true
    random_sampling_ratio: 0
`,
    [
      'features/live.yaml:11:5 live::hakuna-host-stat-v1.downsync.random_sampling_ratio: must be in (0, 1], got 0',
    ],
  ],
  [
    'bad cron schedule',
    `${head}    level: {type: Long}
  upsync:
    enabled: true
    schedule: "0 25 * * *"
`,
    [
      'features/live.yaml:11:5 live::hakuna-host-stat-v1.upsync.schedule: bad cron schedule "0 25 * * *": hour "25" is outside 0-23',
    ],
  ],
  [
    'cron with six fields',
    `${head}    level: {type: Long}
  upsync:
    enabled: true
    schedule: "0 0 * * * *"
`,
    [
      'features/live.yaml:11:5 live::hakuna-host-stat-v1.upsync.schedule: bad cron schedule "0 0 * * * *": a cron expression has 5 fields (minute hour day-of-month month day-of-week), got 6',
    ],
  ],
  [
    'schedule without upsync enabled',
    `${head}    level: {type: Long}
  upsync:
    enabled: false
    schedule: "@daily"
`,
    [
      'features/live.yaml:11:5 live::hakuna-host-stat-v1.upsync.schedule: a schedule is set but upsync is not enabled',
    ],
  ],
  [
    'watermark column not in the schema',
    `${head}    level: {type: Long}
  upsync:
    enabled: true
    incremental_update: true
    watermark_column: updated_at
`,
    [
      'features/live.yaml:12:5 live::hakuna-host-stat-v1.upsync.watermark_column: watermark column "updated_at" is not a field of the schema',
    ],
  ],
  [
    'watermark column of the wrong type',
    `${head}    level: {type: Long}
    updated: {type: Text}
  upsync:
    enabled: true
    watermark_column: updated
`,
    [
      'features/live.yaml:12:5 live::hakuna-host-stat-v1.upsync.watermark_column: watermark column must be Long or Timestamp, got Text',
    ],
  ],
  [
    'upsync transform that does not exist',
    `${head}    level: {type: Long}
  upsync:
    enabled: true
    source:
      transform: live/host_stat.sql
`,
    [
      'features/live.yaml:12:7 live::hakuna-host-stat-v1.upsync.source.transform: no transform "live/host_stat.sql" in sql/',
    ],
  ],
  [
    'upsync source of neither shape',
    `${head}    level: {type: Long}
  upsync:
    enabled: true
    source:
      tabel: raw_hosts
`,
    [
      'features/live.yaml:11:5 live::hakuna-host-stat-v1.upsync.source: expected {transform: <file in sql/>} or {table: <table name>}',
    ],
  ],
  [
    'history block on an Object feature',
    `${head}    level: {type: Long}
  history:
    max_entries_per_key: 10
`,
    [
      'features/live.yaml:9:3 live::hakuna-host-stat-v1.history: only History features keep a history; remove this block or use feature_type: History',
    ],
  ],
  [
    'feature name without a namespace',
    `hakuna-host-stat:
  feature_type: Object
  owner: a
  schema:
    user_id: {type: Text, is_key_field: true}
    level: {type: Long}
`,
    [
      'features/live.yaml:1:1 hakuna-host-stat: feature name must look like namespace::feature-name (lower case, digits, - and _), got "hakuna-host-stat"',
    ],
  ],
  [
    'reserved event time field declared',
    `${head}    _last_updated_at_ms: {type: Long}
`,
    [
      'features/live.yaml:8:5 live::hakuna-host-stat-v1.schema._last_updated_at_ms: field name must start with a letter and hold letters, digits and _, got "_last_updated_at_ms"',
      'features/live.yaml:8:5 live::hakuna-host-stat-v1.schema._last_updated_at_ms: _last_updated_at_ms is kept by Ferry for every value; do not declare it',
    ],
  ],
  [
    'Int default out of 32-bit range',
    `${head}    age:
      type: Int
      default_value: 3000000000
`,
    [
      'features/live.yaml:10:7 live::hakuna-host-stat-v1.schema.age.default_value: expected Int (32-bit), got 3000000000',
    ],
  ],
  [
    'list default with a wrong item',
    `${head}    tags:
      type: List<Text>
      default_value: ["a", 2]
`,
    [
      'features/live.yaml:10:7 live::hakuna-host-stat-v1.schema.tags.default_value: item 1: expected Text, got 2',
    ],
  ],
  [
    'bad retention duration',
    `${head}    level: {type: Long}
  retention:
    online: forever
`,
    [
      'features/live.yaml:10:5 live::hakuna-host-stat-v1.retention.online: expected a duration such as 30s, 1m, 6h or 30d, got "forever"',
    ],
  ],
  [
    'bad service name in access',
    `${head}    level: {type: Long}
  access:
    readers: [ok-service, "bad service"]
`,
    ['features/live.yaml:10:27 live::hakuna-host-stat-v1.access.readers.1: bad service name "bad service"'],
  ],
  [
    'entry that is not a map',
    'live::x: 12\n',
    ['features/live.yaml:1:1 live::x: expected a map with feature_type, owner and schema, got 12'],
  ],
  [
    'YAML syntax error',
    'live::x:\n  feature_type: Object\n  tags: [a, b\n  owner: a\n',
    [
      'features/live.yaml:4:3 YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  ],
  [
    'duplicate key in one file',
    `live::x:
  feature_type: Object
  owner: a
  owner: b
  schema: {}
`,
    ['features/live.yaml:4:3 YAML syntax error: Map keys must be unique'],
  ],
  [
    'deprecated key field',
    `live::x:
  feature_type: Object
  owner: a
  schema:
    user_id:
      type: Text
      is_key_field: true
      deprecated: true
    level: {type: Long}
`,
    ['features/live.yaml:8:7 live::x.schema.user_id.deprecated: a key field cannot be deprecated'],
  ],
];

describe('feature definition validation', () => {
  it('has at least 20 distinct bad definitions', () => {
    expect(new Set(cases.map((c) => c[0])).size).toBeGreaterThanOrEqual(20);
  });

  it.each(cases)('%s', (_name, yaml, expected) => {
    expect(errorsOf(yaml, new Set(['live/other.sql']))).toEqual(expected);
  });

  it('reports every problem of a file in one run', () => {
    const yaml = `${head}    level:
      type: Long
      default_value: "high"
  downsync:
    enabled: true
    random_sampling_ratio: 2
live::y:
  feature_type: Object
  schema: {}
`;
    expect(errorsOf(yaml)).toEqual([
      'features/live.yaml:10:7 live::hakuna-host-stat-v1.schema.level.default_value: expected Long, got "high"',
      'features/live.yaml:13:5 live::hakuna-host-stat-v1.downsync.random_sampling_ratio: must be in (0, 1], got 2',
      'features/live.yaml:14:1 live::y.owner: required key is missing',
    ]);
  });

  it('reports a feature defined in two files, naming the first', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-defs-'));
    const one = `live::x:\n  feature_type: Object\n  owner: a\n  schema:\n    id: {type: Text, is_key_field: true}\n    v: {type: Long}\n`;
    await writeFile(path.join(dir, 'a.yaml'), one);
    await writeFile(path.join(dir, 'b.yaml'), `# second copy\n${one}`);
    const { definitions, errors } = await loadDefinitions(['.'], { cwd: dir });
    expect(definitions.map((d) => d.name)).toEqual(['live::x']);
    expect(errors.map(formatDefinitionError)).toEqual([
      'b.yaml:2:1 live::x: feature defined twice (first at a.yaml:1)',
    ]);
  });

  it('reports a path that does not exist', async () => {
    const { errors } = await loadDefinitions(['no-such-folder'], { cwd: '/tmp' });
    expect(errors.map(formatDefinitionError)).toEqual(['no-such-folder:1:1 no such file or folder']);
  });
});
