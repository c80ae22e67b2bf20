import {
  claimedFeatureName,
  decodeCommandMessage,
  defaultMaxCommandBytes,
  type MessageHeaders,
} from '../../domain/commands/command-message.ts';
import { CommandError, type ValidCommand } from '../../domain/commands/feature-command.ts';
import { validateCommand } from '../../domain/commands/validate-command.ts';
import { eventTimeField, type FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { EventMapper } from '../../domain/events/event-mapper.ts';
import { layoutOf } from '../../domain/kinds/feature-kinds.ts';
import { coerceValue } from '../../domain/values/coerce-value.ts';
import { type OnlineStore, OnlineStoreInputError } from '../../stores/online/online-store.ts';
import type { DownsyncPipeline } from '../downsync/downsync-pipeline.ts';
import type { DownsyncCandidate } from '../downsync/downsync-sampler.ts';
import { downsyncKeyId } from '../downsync/downsync-sampler.ts';
import type { OfflineRowValues } from '../downsync/downsync-writer.ts';
import { applyCommands } from './apply-command.ts';
import { type OffsetHold, OffsetTracker } from './command-offsets.ts';
import { retrying } from './command-retry.ts';

/** One message of the commands topic, as the consumer hands it over. */
export interface CommandRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: MessageHeaders;
  /** The message's timestamp (producer time unless the topic uses log-append time). */
  timestampMs: number;
}

/** A message that could not be applied, with why: it goes to dead letters. */
export interface RejectedCommand {
  record: CommandRecord;
  /** The feature it names (full name when resolved), or '' when unreadable. */
  feature: string;
  reason: string;
  /** A domain event the feature's rules could not map (else a command). */
  origin?: 'event';
}

/** How one feature's rules fared on the events of its topic. */
export interface EventRuleCounts {
  /** Events no rule of the feature matched. */
  skipped: number;
  /** By rule: events it mapped to a command, and events it matched but could not map. */
  mapped: Record<string, number>;
  failed: Record<string, number>;
}

export interface DeadLetterSink {
  /** Writes the rejected commands (topic and table); resolves only when both hold them. */
  write(rejected: readonly RejectedCommand[]): Promise<void>;
}

export interface FeatureResolver {
  resolve(name: string): Promise<{ definition: FeatureDefinition } | { problem: string }>;
  /** The rules of the features fed by domain events on `topic` (none: it carries commands). */
  eventMappers?(topic: string): Promise<readonly EventMapper[]>;
}

export interface AppliedCommand {
  record: CommandRecord;
  command: ValidCommand;
}

export interface ProcessorHooks {
  /** After the online write of these commands succeeded (they are readable now). */
  onApplied?(def: FeatureDefinition, applied: readonly AppliedCommand[], atMs: number): void;
}

export interface ProcessorStats {
  received: number;
  applied: number;
  /** Commands that waited for a downsync row of their key to be written before being applied. */
  parked: number;
  rejected: number;
  /** Online writes retried after a transient failure. */
  onlineRetries: number;
  /** Domain events by feature fed from them (from_events rules). */
  events: Record<string, EventRuleCounts>;
  /** Events of a topic that no applied feature reads (skipped). */
  unreadEvents: number;
  lastError?: string;
}

export { retrying } from './command-retry.ts';

interface Accepted {
  record: CommandRecord;
  def: FeatureDefinition;
  command: ValidCommand;
  /** Made by a feature's rules from a domain event (its dead letters are of origin `event`). */
  fromEvent?: boolean;
  /** downsyncKeyId of the command's keys, computed once when first needed. */
  keyId?: string;
}

const originOf = (a: Accepted): { origin?: 'event' } => (a.fromEvent ? { origin: 'event' } : {});

/**
 * An Aggregation event without `_event_id` is counted once by where Kafka keeps it (a redelivery
 * after a restart has the same topic, partition and offset), and by rule for a domain event.
 */
export function withKafkaEventId(
  def: FeatureDefinition,
  command: ValidCommand,
  record: Pick<CommandRecord, 'topic' | 'partition' | 'offset'>,
  rule?: string,
): ValidCommand {
  if (command.eventId !== undefined || layoutOf(def) !== 'aggregates') return command;
  const at = `${record.topic}/${record.partition}/${record.offset}`;
  return { ...command, eventId: rule === undefined ? at : `${at}/${rule}` };
}

interface ApplyBatch {
  runs: { run: Accepted[] }[];
  scheduled: Promise<{ ok: Set<Accepted>; bad: RejectedCommand[] }> | undefined;
}

function keyIdOf(a: Accepted): string {
  a.keyId ??= downsyncKeyId(a.def, a.command.keys);
  return a.keyId;
}

/**
 * Turns a batch of command messages into online writes, downsync rows and dead letters. Shared
 * by the Kafka consumer (and usable without Kafka): decode → resolve the feature → validate →
 * apply per feature in order → read the merged values back for downsync. A command that cannot
 * be applied goes to dead letters; a store that fails is retried until it answers.
 */
export class CommandProcessor {
  readonly stats: ProcessorStats = {
    received: 0,
    applied: 0,
    parked: 0,
    rejected: 0,
    onlineRetries: 0,
    events: {},
    unreadEvents: 0,
  };
  /** Keys with commands waiting, per feature and key: the chain that applies them in order. */
  private readonly parked = new Map<string, { tail: Promise<void>; count: number }>();
  private readonly applyQueue = new Map<string, ApplyBatch>();
  /** Largest event time applied per partition (`topic/partition`), set after each batch. */
  readonly streamTime = new Map<string, number>();

  constructor(
    private readonly deps: {
      online: OnlineStore;
      resolver: FeatureResolver;
      downsync: DownsyncPipeline<OffsetHold>;
      deadLetters: DeadLetterSink;
      tracker: OffsetTracker;
      maxCommandBytes?: number;
      /** The records are domain events for from_events rules (never commands). */
      events?: boolean;
      /** Longest wait for the offline write of rows closed before their keys move on (default 5 s). */
      barrierTimeoutMs?: number;
      signal?: AbortSignal;
      hooks?: ProcessorHooks;
      log?: (message: string) => void;
    },
  ) {}

  private log(message: string): void {
    this.deps.log?.(message);
  }

  /** Decodes and validates one message; returns the accepted command or the rejection. */
  async accept(record: CommandRecord): Promise<Accepted | RejectedCommand> {
    let featureName = '';
    try {
      const { command: raw, producer } = decodeCommandMessage(record.value, record.headers, {
        maxBytes: this.deps.maxCommandBytes,
      });
      featureName = raw.featureName;
      const resolved = await this.onlineRetry('feature registry', () =>
        this.deps.resolver.resolve(raw.featureName),
      );
      if ('problem' in resolved) throw new CommandError(resolved.problem);
      featureName = resolved.definition.name;
      const command = withKafkaEventId(
        resolved.definition,
        validateCommand(raw, resolved.definition, producer),
        record,
      );
      return { record, def: resolved.definition, command };
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      if (!featureName) {
        // the message is damaged: name the feature it claims, fully when that name is known
        const claimed = claimedFeatureName(record.value, record.headers, this.deps.maxCommandBytes);
        const resolved = claimed
          ? await this.deps.resolver.resolve(claimed).catch(() => undefined)
          : undefined;
        featureName = resolved && 'definition' in resolved ? resolved.definition.name : claimed;
      }
      return { record, feature: featureName, reason: e.message };
    }
  }

  /**
   * Maps one domain event by the rules of every feature its topic feeds: a command per rule that
   * matches (checked as a command from Kafka is), and per feature a rejection naming each rule
   * that matched but could not map. An event no rule of a feature matches is only counted.
   */
  acceptEvent(record: CommandRecord, mappers: readonly EventMapper[]): (Accepted | RejectedCommand)[] {
    const maxBytes = this.deps.maxCommandBytes ?? defaultMaxCommandBytes;
    const all = (reason: string): RejectedCommand[] =>
      mappers.map((m) => ({ record, feature: m.def.name, reason, origin: 'event' as const }));
    const value = record.value;
    if (value === null || value.length === 0) return all('empty message: no event in the value');
    if (value.length > maxBytes)
      return all(`event of ${value.length} bytes is over the ${maxBytes}-byte limit`);
    let event: unknown;
    try {
      event = JSON.parse(value.toString('utf8'));
    } catch (e) {
      return all(`not valid JSON: ${(e as Error).message}`);
    }
    const out: (Accepted | RejectedCommand)[] = [];
    for (const m of mappers) {
      let counts = this.stats.events[m.def.name];
      if (counts === undefined) {
        counts = { skipped: 0, mapped: {}, failed: {} };
        this.stats.events[m.def.name] = counts;
      }
      const outcomes = m.map(event);
      if (outcomes.length === 0) counts.skipped++;
      const failures: string[] = [];
      for (const o of outcomes) {
        if ('command' in o) {
          counts.mapped[o.rule] = (counts.mapped[o.rule] ?? 0) + 1;
          out.push({
            record,
            def: m.def,
            command: withKafkaEventId(m.def, o.command, record, o.rule),
            fromEvent: true,
          });
        } else {
          counts.failed[o.rule] = (counts.failed[o.rule] ?? 0) + 1;
          failures.push(`rule ${o.rule}: ${o.failure}`);
        }
      }
      if (failures.length > 0)
        out.push({ record, feature: m.def.name, reason: failures.join('; '), origin: 'event' });
    }
    return out;
  }

  /**
   * Processes a batch in order. Resolves when every command is in the online store (or in dead
   * letters) and the downsync holds of its commands are taken; the caller then marks the
   * batch processed in the offset tracker.
   */
  async process(records: readonly CommandRecord[], heartbeat?: () => Promise<void>): Promise<void> {
    this.stats.received += records.length;
    const rejected: RejectedCommand[] = [];
    const byFeature = new Map<string, Accepted[]>();
    const newest = new Map<string, number>();
    const mappersOf = new Map<string, readonly EventMapper[]>();
    for (const record of records) {
      let mappers = mappersOf.get(record.topic);
      if (mappers === undefined) {
        const topic = record.topic;
        mappers =
          (await this.onlineRetry('feature registry', async () =>
            this.deps.resolver.eventMappers?.(topic),
          )) ?? [];
        mappersOf.set(topic, mappers);
      }
      if (mappers.length === 0 && this.deps.events) {
        this.stats.unreadEvents++;
        continue;
      }
      for (const a of mappers.length > 0 ? this.acceptEvent(record, mappers) : [await this.accept(record)]) {
        if ('reason' in a) {
          rejected.push(a);
          continue;
        }
        let list = byFeature.get(a.def.name);
        if (!list) {
          list = [];
          byFeature.set(a.def.name, list);
        }
        list.push(a);
        const tp = OffsetTracker.tp(record.topic, record.partition);
        newest.set(tp, Math.max(newest.get(tp) ?? 0, a.command.eventTimeMs));
      }
    }
    const work: Promise<void>[] = [];
    for (const list of byFeature.values()) work.push(this.applyFeature(list, rejected, heartbeat));
    await Promise.all(work);
    // the stream time moves only once the whole batch is applied: a pending row must not close
    // while a later state of its interval is still waiting further on in the batch
    for (const [tp, t] of newest) if (t > (this.streamTime.get(tp) ?? 0)) this.streamTime.set(tp, t);
    if (rejected.length > 0) {
      await retrying('dead letters', () => this.deps.deadLetters.write(rejected), {
        signal: this.deps.signal,
        onRetry: (e, n, wait) =>
          this.log(`dead-letter write failed (attempt ${n}, retry in ${wait} ms): ${e}`),
      });
      this.stats.rejected += rejected.length;
    }
  }

  /** Splits one feature's commands where a sampled key moves to a later downsync interval. */
  private async segments(def: FeatureDefinition, list: Accepted[]): Promise<Accepted[][]> {
    if (list.length < 2) return [list];
    const sampler = await this.deps.downsync.sampler(def);
    const out: Accepted[][] = [];
    let current: Accepted[] = [];
    const bucketOf = new Map<string, number>();
    for (const a of list) {
      const keyId = keyIdOf(a);
      if (!sampler.isSampled(keyId)) {
        current.push(a);
        continue;
      }
      const bucket = sampler.bucketOf(keyId, a.command.eventTimeMs);
      const prev = bucketOf.get(keyId);
      if (prev !== undefined && prev !== bucket) {
        out.push(current);
        current = [];
        bucketOf.clear();
      }
      bucketOf.set(keyId, bucket);
      current.push(a);
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  private async applyFeature(
    list: Accepted[],
    rejected: RejectedCommand[],
    heartbeat?: () => Promise<void>,
  ): Promise<void> {
    const def = list[0]!.def;
    const downsync = this.deps.downsync.enabled(def);
    for (const segment of downsync ? await this.segments(def, list) : [list]) {
      // keys that must first write a downsync row of an earlier interval wait aside (parked),
      // in order, while the rest of the segment is applied now
      const now = downsync ? await this.parkWaiting(def, segment) : segment;
      const applied = await this.applyOnline(def, now, rejected);
      this.stats.applied += applied.length;
      this.deps.hooks?.onApplied?.(def, applied, Date.now());
      if (downsync && applied.length > 0) await this.downsync(def, applied);
      await heartbeat?.();
    }
  }

  private parkId(def: FeatureDefinition, keyId: string): string {
    return `${def.name}\u0000${keyId}`;
  }

  /** Whether commands of this key wait to be applied (its downsync row must not close yet). */
  isParked(def: FeatureDefinition, keyId: string): boolean {
    return this.parked.has(this.parkId(def, keyId));
  }

  /**
   * Takes out of a segment the commands of sampled keys that may not be applied yet: keys with a
   * row of an earlier interval still to be written (their online value must not move on before
   * it is durable) and keys that already have commands waiting (order per key). Those commands
   * hold their offsets and are applied once the rows are written; returns the others.
   */
  private async parkWaiting(def: FeatureDefinition, segment: Accepted[]): Promise<Accepted[]> {
    const sampler = await this.deps.downsync.sampler(def);
    const now: Accepted[] = [];
    const waiting = new Map<string, Accepted[]>();
    for (const a of segment) {
      const keyId = keyIdOf(a);
      let list = waiting.get(keyId);
      if (
        !list &&
        sampler.isSampled(keyId) &&
        (this.isParked(def, keyId) ||
          this.deps.downsync.holdsEarlierRow(def, keyId, sampler.bucketOf(keyId, a.command.eventTimeMs)))
      ) {
        list = [];
        waiting.set(keyId, list);
      }
      if (list) list.push(a);
      else now.push(a);
    }
    for (const [keyId, commands] of waiting) this.park(def, keyId, commands);
    return now;
  }

  private park(def: FeatureDefinition, keyId: string, commands: Accepted[]): void {
    const id = this.parkId(def, keyId);
    const holds = commands.map((a) => this.hold(a.record));
    this.stats.parked += commands.length;
    let entry = this.parked.get(id);
    if (!entry) {
      entry = { tail: Promise.resolve(), count: 0 };
      this.parked.set(id, entry);
    }
    entry.count += commands.length;
    const e = entry;
    e.tail = e.tail
      .then(() => this.applyParked(def, keyId, commands))
      .catch((err: Error) =>
        this.log(`${def.name}: waiting commands of ${keyId} not applied: ${err.message}`),
      )
      .finally(() => {
        for (const h of holds) this.deps.tracker.release(h);
        e.count -= commands.length;
        if (e.count === 0 && this.parked.get(id) === e) this.parked.delete(id);
      });
  }

  /** Applies one key's waiting commands, interval by interval, each after its barrier. */
  private async applyParked(def: FeatureDefinition, keyId: string, commands: Accepted[]): Promise<void> {
    const sampler = await this.deps.downsync.sampler(def);
    let i = 0;
    while (i < commands.length) {
      const bucket = sampler.bucketOf(keyId, commands[i]!.command.eventTimeMs);
      let j = i + 1;
      while (j < commands.length && sampler.bucketOf(keyId, commands[j]!.command.eventTimeMs) === bucket) j++;
      const run = commands.slice(i, j);
      if (this.deps.downsync.holdsEarlierRow(def, keyId, bucket))
        await this.deps.downsync.advance(def, keyId, bucket, this.deps.barrierTimeoutMs ?? 5_000);
      const rejected: RejectedCommand[] = [];
      const applied = await this.applyBatched(def, run, rejected);
      this.stats.applied += applied.length;
      this.deps.hooks?.onApplied?.(def, applied, Date.now());
      if (applied.length > 0) await this.downsync(def, applied);
      if (rejected.length > 0) {
        await retrying('dead letters', () => this.deps.deadLetters.write(rejected), {
          signal: this.deps.signal,
        });
        this.stats.rejected += rejected.length;
      }
      i = j;
    }
  }

  /** Gathers the waiting commands that are ready (of many keys) into one online write. */
  private applyBatched(
    def: FeatureDefinition,
    run: Accepted[],
    rejected: RejectedCommand[],
  ): Promise<Accepted[]> {
    let batch = this.applyQueue.get(def.name);
    if (!batch) {
      const created: ApplyBatch = { runs: [], scheduled: undefined };
      batch = created;
      this.applyQueue.set(def.name, created);
      created.scheduled = new Promise((r) => setImmediate(r)).then(async () => {
        this.applyQueue.delete(def.name);
        const all = created.runs.flatMap((x) => x.run);
        const bad: RejectedCommand[] = [];
        const ok = new Set(await this.applyOnline(def, all, bad));
        return { ok, bad };
      });
    }
    batch.runs.push({ run });
    return batch.scheduled!.then(({ ok, bad }) => {
      const mine = new Set(run);
      rejected.push(...bad.filter((r) => run.some((a) => a.record === r.record)));
      return [...mine].filter((a) => ok.has(a));
    });
  }

  /** Resolves when no command waits to be applied. */
  async settle(): Promise<void> {
    while (this.parked.size > 0) await Promise.all([...this.parked.values()].map((e) => e.tail));
  }

  private onlineRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retrying(what, fn, {
      signal: this.deps.signal,
      fatal: (e) => e instanceof OnlineStoreInputError,
      onRetry: (e, n, wait) => {
        this.stats.onlineRetries++;
        this.stats.lastError = `${what}: ${(e as Error).message}`;
        if (n === 1 || n % 10 === 0)
          this.log(`${what} failed (attempt ${n}, retry in ${wait} ms): ${(e as Error).message}`);
      },
    });
  }

  /** Applies the commands; ones the store refuses as bad input go to `rejected`. Returns the applied ones. */
  private async applyOnline(
    def: FeatureDefinition,
    segment: Accepted[],
    rejected: RejectedCommand[],
  ): Promise<Accepted[]> {
    const commands = segment.map((a) => a.command);
    try {
      const late = await this.onlineRetry(`online write of ${def.name}`, () =>
        applyCommands(this.deps.online, def, commands),
      );
      if (late.length === 0) return segment;
      // Aggregation events too late to count: dead letters with the reason
      const refused = new Set(late.map((r) => r.index));
      for (const r of late) {
        const a = segment[r.index]!;
        rejected.push({ record: a.record, feature: def.name, reason: r.reason, ...originOf(a) });
      }
      return segment.filter((_, i) => !refused.has(i));
    } catch (e) {
      if (!(e instanceof OnlineStoreInputError)) throw e;
    }
    // one command is bad input and nothing was written: apply one by one to find it
    const ok: Accepted[] = [];
    for (const a of segment) {
      try {
        const [late] = await this.onlineRetry(`online write of ${def.name}`, () =>
          applyCommands(this.deps.online, def, [a.command]),
        );
        if (late) rejected.push({ record: a.record, feature: def.name, reason: late.reason, ...originOf(a) });
        else ok.push(a);
      } catch (e) {
        if (!(e instanceof OnlineStoreInputError)) throw e;
        rejected.push({
          record: a.record,
          feature: def.name,
          reason: `online store refused it: ${e.message}`,
        });
      }
    }
    return ok;
  }

  /** Offers the sampled keys of an applied segment to downsync (Object values are read back later). */
  private async downsync(def: FeatureDefinition, applied: Accepted[]): Promise<void> {
    const sampler = await this.deps.downsync.sampler(def);
    // the last command of each sampled key in this segment stands for the key
    const last = new Map<string, Accepted>();
    for (const a of applied) {
      const keyId = keyIdOf(a);
      if (!sampler.isSampled(keyId)) continue;
      last.delete(keyId);
      last.set(keyId, a);
    }
    if (last.size === 0) return;
    const candidates: DownsyncCandidate<OfflineRowValues, OffsetHold>[] = [];
    for (const [keyId, a] of last) {
      if (layoutOf(def) !== 'entries') {
        // the key only: the merged value (an Aggregation's values as of the event) is read back
        // when the interval's row closes
        candidates.push({
          keyId,
          eventTimeMs: a.command.eventTimeMs,
          row: { ...a.command.keys },
          hold: this.hold(a.record),
        });
        continue;
      }
      // History: the appended entry is the row (defaults filled); a deleted key has no row
      if (a.command.method !== 'APPEND') continue;
      const row: OfflineRowValues = { ...a.command.keys };
      for (const f of def.fields) {
        if (f.isKey) continue;
        row[f.name] = a.command.values[f.name] ?? coerceValue(f.type, f.defaultValue);
      }
      row[eventTimeField] = a.command.eventTimeMs;
      candidates.push({ keyId, eventTimeMs: a.command.eventTimeMs, row, hold: this.hold(a.record) });
    }
    await this.deps.downsync.offer(def, candidates);
  }

  private hold(record: CommandRecord): OffsetHold {
    return this.deps.tracker.hold(OffsetTracker.tp(record.topic, record.partition), record.offset);
  }
}
