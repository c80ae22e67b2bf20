import type { Consumer, EachBatchPayload, IHeaders, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import {
  avroContentType,
  commandHeader,
  defaultMaxCommandBytes,
  headerText,
} from '../../domain/commands/command-message.ts';
import type { OfflineStore } from '../../stores/offline/offline-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { DownsyncJournal } from '../downsync/downsync-journal.ts';
import { DownsyncPipeline, type DownsyncPipelineOptions } from '../downsync/downsync-pipeline.ts';
import type { SamplerStats } from '../downsync/downsync-sampler.ts';
import type { DownsyncWriterStats } from '../downsync/downsync-writer.ts';
import { createKafka, deadLetterTopicOf, type KafkaLog } from './command-kafka.ts';
import { type OffsetHold, OffsetTracker } from './command-offsets.ts';
import {
  CommandProcessor,
  type CommandRecord,
  type DeadLetterSink,
  type FeatureResolver,
  type ProcessorHooks,
  type ProcessorStats,
  type RejectedCommand,
  retrying,
} from './command-processor.ts';

export interface CommandConsumerOptions {
  brokers: string[];
  /** The commands topic. */
  topic: string;
  groupId: string;
  /** Default `<topic>.dead-letters`. */
  deadLetterTopic?: string;
  clientId?: string;
  /** Kafka group session timeout: a dead consumer's partitions move after this (default 30 s). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Partitions whose batches are processed at once (default 6). */
  partitionsConsumedConcurrently?: number;
  maxBytesPerPartition?: number;
  maxWaitTimeMs?: number;
  /** How often pending downsync rows are closed, writes started and offsets committed (default 200 ms). */
  tickMs?: number;
  commitIntervalMs?: number;
  maxCommandBytes?: number;
  /**
   * The topic carries domain events for features' `from_events` rules, not commands: each event
   * goes through the rules of every applied feature that reads the topic, and an event of a topic
   * no feature reads (its last feature moved away) is skipped rather than read as a command.
   */
  events?: boolean;
  downsync?: DownsyncPipelineOptions;
  /** After this long without a batch, a partition's pending downsync rows close by the wall clock (default 2 s). */
  downsyncIdleMs?: number;
  /** On stop, how long to wait for the batch in progress and the buffered rows (default 15 s, inside the worker's 20 s shutdown grace). */
  stopTimeoutMs?: number;
  log?: KafkaLog;
}

export interface CommandConsumerDeps {
  online: OnlineStore;
  offline: OfflineStore;
  resolver: FeatureResolver;
}

export interface CommandConsumerStats extends ProcessorStats {
  downsync: DownsyncWriterStats & { pending: number; buffered: number; movedOn: number };
  sampling: Record<string, SamplerStats>;
  /** Offsets held back by rows not yet written offline. */
  heldOffsets: number;
  commits: number;
  /** Last committed offset per `topic/partition` (the next offset to read). */
  committed: Record<string, number>;
  rebalances: number;
  assigned: string[];
}

export interface ConsumerHooks extends ProcessorHooks {
  onProgress?(stats: CommandConsumerStats): void;
}

function payloadText(value: Buffer | null, headers: IHeaders): string {
  if (!value) return '';
  const avro = headerText(headers, commandHeader.contentType)?.trim().toLowerCase() === avroContentType;
  const limit = 1_048_576;
  const part = value.length > limit ? value.subarray(0, limit) : value;
  if (!avro) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(part);
    } catch {
      // not text: base64 below
    }
  }
  return `base64:${part.toString('base64')}`;
}

/** Dead letters go to the dead-letter topic (original bytes, reason header) and the offline table. */
class KafkaDeadLetterSink implements DeadLetterSink {
  private readonly onTopic = new WeakSet<RejectedCommand>();

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly offline: OfflineStore,
  ) {}

  async write(rejected: readonly RejectedCommand[]): Promise<void> {
    const toSend = rejected.filter((r) => !this.onTopic.has(r));
    if (toSend.length > 0) {
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: toSend.map((r) => ({
          key: r.record.key,
          value: r.record.value,
          headers: {
            ...r.record.headers,
            [commandHeader.reason]: r.reason,
            [commandHeader.source]: `${r.record.topic}/${r.record.partition}/${r.record.offset}`,
            ...(r.feature ? { [commandHeader.feature]: r.feature } : {}),
          },
        })),
      });
      for (const r of toSend) this.onTopic.add(r);
    }
    const now = Date.now();
    await this.offline.writeDeadLetters(
      rejected.map((r) => {
        const truncated = (r.record.value?.length ?? 0) > 1_048_576;
        const origin = r.origin ?? 'command';
        return {
          // one id per message (per feature, for an event several features read): a redelivered
          // poison message shares it
          id: `${origin}:${r.record.topic}:${r.record.partition}:${r.record.offset}${origin === 'event' ? `:${r.feature}` : ''}`,
          feature: r.feature,
          origin,
          reason: truncated ? `${r.reason} (payload cut to its first 1048576 bytes)` : r.reason,
          payload: payloadText(r.record.value, r.record.headers),
          occurredAtMs: now,
        };
      }),
    );
  }
}

/**
 * The Kafka side of the real-time path: a consumer group on the commands topic, batches handed
 * to the CommandProcessor, offsets committed by hand.
 *
 * Commit rule: a partition's committed offset never passes a command whose online write has
 * not succeeded, nor one whose offline (downsync) row is not written yet: pending and buffered
 * rows hold their source offset (OffsetTracker). After a restart or a rebalance the commands
 * from the committed offset are applied again (idempotent: event time wins) and their rows are
 * checked against the offline table before they are written.
 */
export class CommandConsumer {
  private readonly tracker = new OffsetTracker();
  private readonly replayUntil = new Map<string, number>();
  /** When each partition last finished a batch. */
  private readonly lastBatchAt = new Map<string, number>();
  /** Partitions with a batch in progress (never idle). */
  private readonly busy = new Map<string, number>();
  /** Whether a partition's last batch reached the end of the partition. */
  private readonly caughtUp = new Map<string, boolean>();
  /** When a fetch from the broker last succeeded (empty or not). */
  private lastFetchAt = 0;
  /** Since when fetches have succeeded without a gap (an outage or a stall starts it anew). */
  private fetchingSince = 0;
  private assigned = new Set<string>();
  private commits = 0;
  private rebalances = 0;
  private readonly committed = new Map<string, number>();

  constructor(
    private readonly deps: CommandConsumerDeps,
    private readonly options: CommandConsumerOptions,
  ) {}

  private log(message: string): void {
    (this.options.log ?? ((_l, m) => console.error(`[ferry commands] ${m}`)))('warn', message);
  }

  /**
   * Consumes until `signal` aborts, then stops cleanly: no new batches, the batch in progress
   * finishes, written rows are flushed, offsets committed, the group left. Rejects when the
   * Kafka client gives up (a non-retriable error); the caller restarts it.
   */
  async run(signal: AbortSignal, hooks: ConsumerHooks = {}): Promise<CommandConsumerStats> {
    const o = this.options;
    const topic = o.topic;
    const kafka = createKafka(o.brokers, o.clientId ?? `ferry-commands-${o.groupId}`, { log: o.log });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const consumer: Consumer = kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: o.heartbeatIntervalMs ?? 3_000,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: o.maxWaitTimeMs ?? 100,
      maxBytesPerPartition: o.maxBytesPerPartition ?? 1_048_576,
      retry: { initialRetryTime: 300, maxRetryTime: 5_000, retries: 10, restartOnFailure: async () => true },
    });
    // processing retries stop when the stop has waited long enough
    const hardStop = new AbortController();
    const pipeline = new DownsyncPipeline<OffsetHold>(
      this.deps.offline,
      this.deps.online,
      (h) => this.tracker.release(h),
      (h) => h.offset < (this.replayUntil.get(h.tp) ?? Number.POSITIVE_INFINITY),
      o.downsync,
      (m) => this.log(m),
      hardStop.signal,
      new DownsyncJournal(this.deps.online),
    );
    const processor = new CommandProcessor({
      online: this.deps.online,
      resolver: this.deps.resolver,
      downsync: pipeline,
      deadLetters: new KafkaDeadLetterSink(
        producer,
        o.deadLetterTopic ?? deadLetterTopicOf(topic),
        this.deps.offline,
      ),
      tracker: this.tracker,
      maxCommandBytes: o.maxCommandBytes ?? defaultMaxCommandBytes,
      events: o.events ?? false,
      signal: hardStop.signal,
      hooks,
      log: (m) => this.log(m),
    });

    let stopping = false;
    let inflight = 0;
    let idle: (() => void) | undefined;
    let fatal: ((e: Error) => void) | undefined;
    const failed = new Promise<never>((_, reject) => {
      fatal = reject;
    });
    failed.catch(() => {});

    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // the group resumes every assigned partition from its committed offset: start over
      this.rebalances++;
      this.tracker.reset();
      pipeline.dropPending((h) => !this.tracker.isCurrent(h));
      this.replayUntil.clear();
      this.lastBatchAt.clear();
      this.caughtUp.clear();
      processor.streamTime.clear();
      this.assigned = new Set(
        (e.payload.memberAssignment[topic] ?? []).map((p) => OffsetTracker.tp(topic, p)),
      );
    });
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
      for (const t of e.payload.topics)
        for (const p of t.partitions) {
          const tp = OffsetTracker.tp(t.topic, p.partition);
          this.tracker.committedAt(tp, Number(p.offset));
          this.committed.set(tp, Number(p.offset));
        }
      this.commits++;
    });
    // fetches follow each other within maxWaitTime when the partitions are quiet; a longer gap
    // is a broker that could not be reached (or a stalled consumer): what came before it is not
    // evidence of quiet
    const fetchGapMs = Math.max(2_000, 3 * (o.maxWaitTimeMs ?? 100));
    consumer.on(consumer.events.FETCH, () => {
      const now = Date.now();
      if (now - this.lastFetchAt > fetchGapMs) this.fetchingSince = now;
      this.lastFetchAt = now;
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) fatal?.(e.payload.error);
      else this.log(`consumer restarts after: ${e.payload.error.message}`);
    });

    const stats = (): CommandConsumerStats => ({
      ...processor.stats,
      downsync: {
        ...pipeline.writer.stats,
        pending: pipeline.pendingCount(),
        buffered: pipeline.writer.bufferedRows,
        movedOn: pipeline.movedOn,
      },
      sampling: pipeline.samplerStats(),
      heldOffsets: this.tracker.heldCount(),
      commits: this.commits,
      committed: Object.fromEntries(this.committed),
      rebalances: this.rebalances,
      assigned: [...this.assigned].sort(),
    });

    let committing: Promise<void> | undefined;
    const commit = (): Promise<void> => {
      if (committing) return committing;
      const list = this.tracker.toCommit().filter((c) => this.assigned.has(c.tp));
      if (list.length === 0) return Promise.resolve();
      committing = consumer
        .commitOffsets(
          list.map((c) => ({
            topic,
            partition: Number(c.tp.slice(c.tp.lastIndexOf('/') + 1)),
            offset: String(c.offset),
          })),
        )
        .catch((e: Error) => this.log(`offset commit failed (retried on the next tick): ${e.message}`))
        .finally(() => {
          committing = undefined;
        });
      return committing;
    };

    // A partition's downsync clock is its stream time (the newest event time applied from it), so
    // a backlog or a replay of old commands closes intervals by event time. Once the partition is
    // caught up and quiet for `idleMs`, with fetches from the broker succeeding without a gap for
    // at least `idleMs` up to now (so an outage, or the first fetch after one, is not taken for
    // quiet: producers may still be sending what the outage held back), the wall clock closes
    // what is left: the last state before a quiet period.
    const idleMs = o.downsyncIdleMs ?? 2_000;
    const clock = (h: OffsetHold): number => {
      const now = Date.now();
      const streamTime = Math.min(processor.streamTime.get(h.tp) ?? 0, now);
      const quietSince = this.lastBatchAt.get(h.tp);
      const idle =
        quietSince !== undefined &&
        this.caughtUp.get(h.tp) === true &&
        !this.busy.get(h.tp) &&
        now - quietSince >= idleMs &&
        now - this.fetchingSince >= idleMs &&
        now - this.lastFetchAt <= fetchGapMs;
      return idle ? now : streamTime;
    };
    let lastCommitAt = 0;
    const tick = () => {
      const now = Date.now();
      pipeline
        .tick(clock, now, now, (def, keyId) => processor.isParked(def, keyId))
        .catch((e: Error) => this.log(`downsync flush: ${e.message}`));
      if (now - lastCommitAt >= (o.commitIntervalMs ?? 500)) {
        lastCommitAt = now;
        void commit();
      }
      hooks.onProgress?.(stats());
    };

    const eachBatch = async ({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> => {
      if (stopping || batch.isEmpty()) return;
      const tp = OffsetTracker.tp(batch.topic, batch.partition);
      if (!this.assigned.has(tp)) return;
      inflight++;
      this.busy.set(tp, (this.busy.get(tp) ?? 0) + 1);
      try {
        const generation = this.tracker.currentGeneration;
        if (!this.replayUntil.has(tp)) this.replayUntil.set(tp, Number(batch.highWatermark));
        await pipeline.writer.waitForRoom(hardStop.signal);
        const records: CommandRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: Number(m.offset),
          key: m.key,
          value: m.value,
          headers: m.headers ?? {},
          timestampMs: Number(m.timestamp),
        }));
        try {
          await processor.process(records, heartbeat);
        } catch (e) {
          if (stopping) return;
          throw e;
        }
        const last = Number(batch.lastOffset());
        // a rebalance during the batch started a new generation: its state begins anew
        if (this.tracker.currentGeneration === generation) {
          this.tracker.processed(tp, last);
          this.caughtUp.set(tp, last + 1 >= Number(batch.highWatermark));
        }
        resolveOffset(batch.lastOffset());
        await heartbeat();
      } finally {
        this.busy.set(tp, (this.busy.get(tp) ?? 1) - 1);
        this.lastBatchAt.set(tp, Date.now());
        inflight--;
        if (inflight === 0) idle?.();
      }
    };

    await producer.connect();
    let timer: NodeJS.Timeout | undefined;
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: o.partitionsConsumedConcurrently ?? 6,
        eachBatch,
      });
      timer = setInterval(tick, o.tickMs ?? 200);
      const stopped = new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await Promise.race([stopped, failed]);

      // clean stop: no new batches, finish the one in progress, write what is emitted, commit
      stopping = true;
      const deadline = Date.now() + (o.stopTimeoutMs ?? 15_000);
      consumer.pause([{ topic }]);
      if (inflight > 0) {
        const drained = new Promise<void>((resolve) => {
          idle = resolve;
        });
        const late = setTimeout(() => hardStop.abort(), Math.max(0, deadline - Date.now()));
        await drained;
        clearTimeout(late);
      }
      clearInterval(timer);
      timer = undefined;
      // commands waiting for a downsync row are applied; rows being read back reach the writer
      const untilDeadline = () =>
        new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref());
      await Promise.race([processor.settle(), untilDeadline()]);
      await Promise.race([pipeline.settle(), untilDeadline()]);
      const flushed = await pipeline.writer.flushAll(deadline);
      if (!flushed) this.log('stopped with downsync rows unwritten: their offsets stay uncommitted');
      await retrying(
        'final offset commit',
        () => commitOrThrow(consumer, topic, this.tracker, this.assigned),
        {
          signal: AbortSignal.timeout(Math.max(1_000, deadline - Date.now())),
        },
      ).catch((e: Error) => this.log(e.message));
      return stats();
    } finally {
      if (timer) clearInterval(timer);
      hardStop.abort();
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
    }
  }
}

async function commitOrThrow(
  consumer: Consumer,
  topic: string,
  tracker: OffsetTracker,
  assigned: Set<string>,
): Promise<void> {
  const list = tracker.toCommit().filter((c) => assigned.has(c.tp));
  if (list.length === 0) return;
  await consumer.commitOffsets(
    list.map((c) => ({
      topic,
      partition: Number(c.tp.slice(c.tp.lastIndexOf('/') + 1)),
      offset: String(c.offset),
    })),
  );
}
