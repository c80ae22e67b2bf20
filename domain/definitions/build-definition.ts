import { buildAggregateField } from '../aggregations/aggregation-definition.ts';
import { checkFromEvents, type FromEventsSettings } from '../events/event-rules.ts';
import type { FeatureKind } from '../kinds/feature-kind.ts';
import { featureKinds } from '../kinds/feature-kinds.ts';
import { cronProblem } from './cron.ts';
import { parseDuration } from './duration.ts';
import {
  type AccessSettings,
  defaultSourceTable,
  defaultWatermarkColumn,
  eventIdField,
  eventTimeField,
  type FeatureDefinition,
  type FieldDefinition,
} from './feature-definition.ts';
import type { FeatureYaml } from './feature-yaml-schema.ts';
import { fieldTypeNames, formatFieldType, parseFieldType, valueMismatch } from './field-types.ts';
import type { LocatedMessage } from './issue-message.ts';

const featureName = /^([a-z0-9][a-z0-9_-]*)::([a-z0-9][a-z0-9_-]*?)(?:-v(\d+))?$/;
const fieldName = /^[A-Za-z][A-Za-z0-9_]*$/;
const serviceName = /^(\*|[A-Za-z0-9][A-Za-z0-9._-]*)$/;
const keyScalars = new Set(['Text', 'Long', 'Int']);

export interface BuildContext {
  file: string;
  line: number;
  /** Transform files that exist under `sql/` (names relative to it), when known. */
  transforms?: ReadonlySet<string>;
}

/** Applies the checks that span fields and produces the normalised definition. */
export function buildDefinition(
  name: string,
  raw: FeatureYaml,
  ctx: BuildContext,
): { definition?: FeatureDefinition; problems: LocatedMessage[] } {
  const problems: LocatedMessage[] = [];
  const problem = (path: (string | number)[], message: string) => problems.push({ path, message });

  const m = featureName.exec(name);
  if (!m) {
    problem(
      [],
      `feature name must look like namespace::feature-name (lower case, digits, - and _), got "${name}"`,
    );
  }

  const fields: FieldDefinition[] = [];
  const kind: FeatureKind = featureKinds[raw.feature_type];
  const aggregating = kind.onlineLayout === 'aggregates';
  /** Aggregate fields wait for the inputs they read: their position in `fields`, name and YAML. */
  const pending: [number, string, (typeof raw.schema)[string]][] = [];
  let badTypes = 0;
  for (const [fname, f] of Object.entries(raw.schema)) {
    const at = ['schema', fname];
    if (!fieldName.test(fname)) {
      problem(at, `field name must start with a letter and hold letters, digits and _, got "${fname}"`);
    }
    if (fname === eventTimeField || fname === eventIdField)
      problem(at, `${fname} is kept by Ferry for every value; do not declare it`);
    if (f.aggregate !== undefined) {
      if (!aggregating)
        problem(
          [...at, 'aggregate'],
          'only Aggregation features have aggregate fields (feature_type: Aggregation)',
        );
      else if (f.is_key_field) problem([...at, 'aggregate'], 'a key field cannot aggregate');
      else pending.push([fields.length, fname, f]);
      continue;
    }
    if (f.type === undefined) {
      problem(
        at,
        'type is required (Text, Long, Int, Double, Float, Boolean, Timestamp, Bytes or List<...>)',
      );
      badTypes++;
      continue;
    }
    const type = parseFieldType(f.type);
    if (!type) {
      problem(
        [...at, 'type'],
        `unknown type "${f.type}" (known: ${fieldTypeNames.slice(0, 8).join(', ')}, List<...>)`,
      );
      badTypes++;
      continue;
    }
    const isKey = f.is_key_field === true;
    if (isKey) {
      if (type.kind !== 'scalar' || !keyScalars.has(type.scalar)) {
        problem([...at, 'type'], `a key field must be Text, Long or Int, got ${formatFieldType(type)}`);
      }
      if (f.default_value !== undefined)
        problem([...at, 'default_value'], 'a key field cannot have a default value');
      if (f.deprecated) problem([...at, 'deprecated'], 'a key field cannot be deprecated');
    } else if (f.default_value !== undefined && f.default_value !== null) {
      const why = valueMismatch(type, f.default_value);
      if (why) problem([...at, 'default_value'], why);
    }
    fields.push({
      name: fname,
      type,
      isKey,
      defaultValue: isKey ? undefined : (f.default_value ?? null),
      description: f.description ?? '',
      deprecated: f.deprecated === true,
    });
  }
  if (aggregating) {
    const inputs = new Map(fields.filter((f) => !f.isKey).map((f) => [f.name, f]));
    // positions shift as aggregate fields go in; insert in order
    let inserted = 0;
    for (const [index, fname, f] of pending) {
      const built = buildAggregateField(fname, f.aggregate!, f.type, f.default_value, inputs, problem);
      if (!built) continue;
      fields.splice(index + inserted++, 0, {
        name: fname,
        type: built.type,
        isKey: false,
        defaultValue: built.defaultValue,
        description: f.description ?? '',
        deprecated: f.deprecated === true,
        aggregate: built.aggregate,
      });
    }
    if (raw.upsync !== undefined)
      problem(
        ['upsync'],
        'an Aggregation feature is fed by events (from_events rules or APPEND commands); its history comes from from_events.backfill',
      );
    if (badTypes === 0 && pending.length === 0)
      problem(
        ['schema'],
        'an Aggregation feature needs at least one field with aggregate: {function, of, window}',
      );
  }
  const keyFields = fields.filter((f) => f.isKey).map((f) => f.name);
  if (keyFields.length === 0) problem(['schema'], 'at least one field must have is_key_field: true');
  if (badTypes === 0 && fields.length > 0 && fields.every((f) => f.isKey) && kind.needsValueField) {
    problem(['schema'], `an ${kind.name} feature needs at least one value field besides its keys`);
  }

  const retention: FeatureDefinition['retention'] = {};
  for (const which of ['online', 'offline'] as const) {
    const text = raw.retention?.[which];
    if (text === undefined) continue;
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0) {
      problem(['retention', which], `expected a duration such as 30s, 1m, 6h or 30d, got "${text}"`);
    } else retention[`${which}Ms`] = ms;
  }

  let upsync: FeatureDefinition['upsync'];
  if (raw.upsync) {
    const u = raw.upsync;
    if (u.schedule !== undefined) {
      const why = cronProblem(u.schedule);
      if (why) problem(['upsync', 'schedule'], `bad cron schedule "${u.schedule}": ${why}`);
    }
    const source: NonNullable<FeatureDefinition['upsync']>['source'] =
      u.source && 'transform' in u.source
        ? { kind: 'transform', transform: u.source.transform }
        : { kind: 'table', table: u.source?.table ?? defaultSourceTable(name) };
    if (source.kind === 'transform' && ctx.transforms && !ctx.transforms.has(source.transform)) {
      problem(['upsync', 'source', 'transform'], `no transform "${source.transform}" in sql/`);
    }
    const watermarkColumn = u.watermark_column ?? defaultWatermarkColumn;
    if (watermarkColumn !== eventTimeField) {
      const wf = fields.find((f) => f.name === watermarkColumn);
      if (!wf) {
        problem(
          ['upsync', 'watermark_column'],
          `watermark column "${watermarkColumn}" is not a field of the schema`,
        );
      } else if (wf.type.kind !== 'scalar' || !['Long', 'Timestamp'].includes(wf.type.scalar)) {
        problem(
          ['upsync', 'watermark_column'],
          `watermark column must be Long or Timestamp, got ${formatFieldType(wf.type)}`,
        );
      }
    }
    if (u.schedule !== undefined && !u.enabled) {
      problem(['upsync', 'schedule'], 'a schedule is set but upsync is not enabled');
    }
    upsync = {
      enabled: u.enabled,
      incremental: u.incremental_update === true,
      source,
      watermarkColumn,
      ...(u.schedule !== undefined ? { schedule: u.schedule } : {}),
      ...(u.max_rows_per_second !== undefined ? { maxRowsPerSecond: u.max_rows_per_second } : {}),
    };
  }

  let downsync: FeatureDefinition['downsync'];
  if (raw.downsync) {
    const d = raw.downsync;
    let minIntervalByKeyMs = 0;
    if (d.min_interval_by_key !== undefined) {
      const ms = parseDuration(d.min_interval_by_key);
      if (ms === undefined) {
        problem(
          ['downsync', 'min_interval_by_key'],
          `expected a duration such as 30s, 1m, 6h or 30d, got "${d.min_interval_by_key}"`,
        );
      } else minIntervalByKeyMs = ms;
    }
    const ratio = d.random_sampling_ratio ?? 1;
    if (!(ratio > 0 && ratio <= 1)) {
      problem(['downsync', 'random_sampling_ratio'], `must be in (0, 1], got ${ratio}`);
    }
    if (
      d.enabled &&
      upsync?.enabled &&
      upsync.source.kind === 'table' &&
      upsync.source.table === defaultSourceTable(name)
    ) {
      // downsync writes the feature's own offline table; reading it back as the upsync source would loop
      problem(['upsync', 'source'], 'upsync reads the table that downsync writes; name another source');
    }
    downsync = { enabled: d.enabled, minIntervalByKeyMs, randomSamplingRatio: ratio };
  }

  for (const other of Object.values(featureKinds)) {
    if (other === kind) continue;
    for (const [block, refusal] of Object.entries(other.ownBlocks))
      if (raw[block as keyof typeof raw] !== undefined) problem([block], refusal);
  }

  let fromEvents: FromEventsSettings | undefined;
  if (raw.from_events !== undefined)
    fromEvents = checkFromEvents(raw.from_events, fields, kind.writeMethod, (path, message, offset) =>
      problems.push({ path, message, ...(offset !== undefined ? { offset } : {}) }),
    );

  const access: AccessSettings = {
    readers: raw.access?.readers ?? ['*'],
    writers: raw.access?.writers ?? ['*'],
  };
  for (const which of ['readers', 'writers'] as const) {
    access[which].forEach((s, i) => {
      if (!serviceName.test(s)) problem(['access', which, i], `bad service name "${s}"`);
    });
  }

  if (problems.length > 0 || !m) return { problems };
  return {
    problems,
    definition: {
      name,
      namespace: m[1]!,
      baseName: m[2]!,
      ...(m[3] !== undefined ? { version: Number(m[3]) } : {}),
      featureType: raw.feature_type,
      owner: raw.owner,
      description: raw.description ?? '',
      tags: raw.tags ?? [],
      fields,
      keyFields,
      ...(upsync ? { upsync } : {}),
      ...(downsync ? { downsync } : {}),
      retention,
      access,
      ...kind.build(raw, problem),
      ...(fromEvents ? { fromEvents } : {}),
      origin: { file: ctx.file, line: ctx.line },
    },
  };
}
