import { formatDuration } from '../domain/definitions/duration.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { formatFieldType } from '../domain/definitions/field-types.ts';
import type { AppliedFeature } from '../stores/registry/applied-feature.ts';

/** A one-line summary of a feature's sync settings: `upsync incremental @ 0 * * * *, downsync 1m 90%`. */
export function syncSummary(def: FeatureDefinition): string {
  const parts: string[] = [];
  if (def.upsync?.enabled) {
    parts.push(
      `upsync ${def.upsync.incremental ? 'incremental' : 'full'}${def.upsync.schedule ? ` @ ${def.upsync.schedule}` : ''}`,
    );
  }
  if (def.downsync?.enabled) {
    parts.push(
      `downsync ${formatDuration(def.downsync.minIntervalByKeyMs)} ${Math.round(def.downsync.randomSamplingRatio * 100)}%`,
    );
  }
  if (def.fromEvents) parts.push(`from events on ${def.fromEvents.topic}`);
  return parts.join(', ') || '-';
}

/** The human description of an applied feature. */
export function describeFeature(a: AppliedFeature): string {
  const d = a.definition;
  const lines = [
    `${d.name}  (${d.featureType}, revision ${a.revision}, schema ${a.fingerprint})`,
    `  owner:       ${d.owner}`,
    ...(d.description ? [`  description: ${d.description}`] : []),
    ...(d.tags.length ? [`  tags:        ${d.tags.join(', ')}`] : []),
    `  applied:     ${new Date(a.appliedAtMs).toISOString()} (from ${d.origin.file}:${d.origin.line})`,
    '  fields:',
    ...d.fields.map(
      (f) =>
        `    ${f.name.padEnd(32)} ${formatFieldType(f.type).padEnd(14)} ${f.isKey ? 'key' : `default ${JSON.stringify(f.defaultValue)}`}${f.deprecated ? ' (deprecated)' : ''}`,
    ),
    `  sync:        ${syncSummary(d)}`,
    ...(d.upsync
      ? [
          `  upsync from: ${d.upsync.source.kind} ${d.upsync.source.kind === 'transform' ? d.upsync.source.transform : d.upsync.source.table}, watermark ${d.upsync.watermarkColumn}${d.upsync.maxRowsPerSecond ? `, at most ${d.upsync.maxRowsPerSecond} rows/s` : ''}`,
        ]
      : []),
    `  retention:   online ${d.retention.onlineMs ? formatDuration(d.retention.onlineMs) : 'forever'}, offline ${d.retention.offlineMs ? formatDuration(d.retention.offlineMs) : 'forever'}`,
    `  readers:     ${d.access.readers.join(', ')}`,
    `  writers:     ${d.access.writers.join(', ')}`,
    ...(d.maxEntriesPerKey ? [`  history:     at most ${d.maxEntriesPerKey} entries per key`] : []),
    ...(d.fromEvents
      ? [
          `  from events: topic ${d.fromEvents.topic}, event time ${d.fromEvents.eventTime}`,
          ...d.fromEvents.rules.flatMap((r) => [
            `    rule ${r.name}: ${r.method}${r.when ? ` when ${r.when}` : ' (every event)'}`,
            ...Object.entries({ ...r.keys, ...r.values }).map(([k, v]) => `      ${k} := ${String(v)}`),
          ]),
        ]
      : []),
  ];
  return lines.join('\n');
}
