import { encodeCommandMessage, type MessageHeaders } from '../../domain/commands/command-message.ts';
import type { ValidCommand } from '../../domain/commands/feature-command.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitions } from '../../domain/definitions/load-definitions.ts';
import type { OfflineStore } from '../../stores/offline/offline-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { type OffsetHold, OffsetTracker } from '../../streaming/commands/command-offsets.ts';
import {
  CommandProcessor,
  type CommandRecord,
  type DeadLetterSink,
  type ProcessorHooks,
  type RejectedCommand,
} from '../../streaming/commands/command-processor.ts';
import { staticResolver } from '../../streaming/commands/feature-resolver.ts';
import { DownsyncJournal } from '../../streaming/downsync/downsync-journal.ts';
import {
  DownsyncPipeline,
  type DownsyncPipelineOptions,
} from '../../streaming/downsync/downsync-pipeline.ts';

/**
 * The definitions of `features/` without online or offline retention: the seed's commands carry
 * event times of November 2023, which every retention of the examples has expired by now.
 */
export async function definitionsWithoutRetention(): Promise<FeatureDefinition[]> {
  const { definitions, errors } = await loadDefinitions(['features']);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  return definitions.map((d) => ({ ...d, retention: {} }));
}

/** Dead letters kept in memory. */
export class MemoryDeadLetters implements DeadLetterSink {
  readonly letters: RejectedCommand[] = [];
  async write(rejected: readonly RejectedCommand[]): Promise<void> {
    this.letters.push(...rejected);
  }
}

/** Kafka-like records of one partition, numbered from `firstOffset`. */
export function records(
  values: readonly (string | Buffer | { value: Buffer; headers?: MessageHeaders })[],
  options: { topic?: string; partition?: number; firstOffset?: number } = {},
): CommandRecord[] {
  return values.map((v, i) => {
    const m = typeof v === 'string' || Buffer.isBuffer(v) ? { value: Buffer.from(v), headers: {} } : v;
    return {
      topic: options.topic ?? 'commands',
      partition: options.partition ?? 0,
      offset: (options.firstOffset ?? 0) + i,
      key: null,
      value: m.value,
      headers: m.headers ?? {},
      timestampMs: Date.now(),
    };
  });
}

export function commandText(def: FeatureDefinition, cmd: Omit<ValidCommand, 'feature'>): Buffer {
  return encodeCommandMessage(def, { ...cmd, feature: def.name }).value;
}

/** A processor over the given stores with an offset tracker, a downsync pipeline and memory dead letters. */
export function harness(
  online: OnlineStore,
  offline: OfflineStore,
  definitions: readonly FeatureDefinition[],
  options: {
    downsync?: DownsyncPipelineOptions;
    suspect?: (h: OffsetHold) => boolean;
    hooks?: ProcessorHooks;
    /** Keep rows of keys that move on in the online store's journal (as the Kafka consumer does). */
    journal?: boolean;
  } = {},
) {
  const tracker = new OffsetTracker();
  const deadLetters = new MemoryDeadLetters();
  const pipeline = new DownsyncPipeline<OffsetHold>(
    offline,
    online,
    (h) => tracker.release(h),
    options.suspect ?? (() => false),
    options.downsync,
    undefined,
    undefined,
    options.journal ? new DownsyncJournal(online) : undefined,
  );
  const processor = new CommandProcessor({
    online,
    resolver: staticResolver(definitions),
    downsync: pipeline,
    deadLetters,
    tracker,
    hooks: options.hooks,
  });
  /**
   * Processes a batch and marks it processed, as the consumer does; then (unless `settle` is
   * false) waits for the commands that waited for a downsync row of their key.
   */
  const process = async (batch: CommandRecord[], settle = true) => {
    await processor.process(batch);
    const last = batch[batch.length - 1];
    if (last) tracker.processed(OffsetTracker.tp(last.topic, last.partition), last.offset);
    if (settle) await processor.settle();
  };
  return { tracker, deadLetters, pipeline, processor, process };
}
