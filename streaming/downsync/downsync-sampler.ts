import { createHash } from 'node:crypto';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';

/**
 * Which rows downsync keeps: pure logic, no I/O, no clock of its own.
 *
 * - Sampling (`random_sampling_ratio`): a key is kept when the hash of its key id falls below
 *   the ratio. The hash depends only on the key values (not on the feature), so a kept key keeps
 *   its whole sequence, and every feature with a ratio of at least r keeps the keys that ratio r
 *   keeps: training can join sampled features on the same users.
 * - Interval (`min_interval_by_key`): intervals are fixed windows of event time (bucket =
 *   floor((event time + phase) / interval), where the phase comes from the key's hash so that
 *   the keys' windows do not all end at once; without phases they align to the epoch). Per key
 *   and bucket one row is written: the latest state of that bucket. It is held as *pending* until the bucket is closed, which happens when a row of
 *   a later bucket arrives for the key, or when the caller's clock for that key passes the bucket
 *   end plus the lateness allowance (so the last state before a quiet period is written too).
 *   A state arriving for a bucket already written (later than the lateness allowance) is dropped
 *   and counted as late; the next row of the key carries it, because rows are merged states.
 * - With no interval (0), every distinct state is written at once; a repeat of the same key and
 *   event time collapses.
 */

/** The key id downsync samples and collapses on: the key values in key-field order, as JSON. */
export function downsyncKeyId(
  def: Pick<FeatureDefinition, 'keyFields'>,
  keys: Record<string, unknown>,
): string {
  return JSON.stringify(def.keyFields.map((k) => keys[k] ?? null));
}

/**
 * Two numbers in [0, 1) from the key id's SHA-256 (stable across runs, machines and languages:
 * `SHA256(key_json)` in SQL gives the same): `sample` from its first 52 bits decides sampling,
 * `phase` from bits 64..111 shifts the key's intervals.
 */
export function keyHashValues(keyId: string): { sample: number; phase: number } {
  const h = createHash('sha256').update(keyId).digest();
  return { sample: (h.readUIntBE(0, 6) * 16 + (h[6]! >> 4)) / 2 ** 52, phase: h.readUIntBE(8, 6) / 2 ** 48 };
}

/** The sampling value of a key id: in [0, 1); a key is kept when it is below the ratio. */
export function keySampleValue(keyId: string): number {
  return keyHashValues(keyId).sample;
}

/**
 * Where a key's intervals start within the interval length, in ms. With phases, every key has
 * intervals of the same length but they do not all end at the same moment: the rows of all
 * keys do not close (and hit the warehouse) at once on every whole minute.
 */
export function keyPhaseMs(keyId: string, intervalMs: number): number {
  return Math.floor(keyHashValues(keyId).phase * intervalMs);
}

/** The interval a state of a key falls in: floor((event time + phase) / interval); the event time itself without an interval. */
export function intervalOf(eventTimeMs: number, intervalMs: number, phaseMs = 0): number {
  return intervalMs > 0 ? Math.floor((eventTimeMs + phaseMs) / intervalMs) : eventTimeMs;
}

/** Whether downsync keeps the key at this sampling ratio (every key when the ratio is 1). */
export function isKeySampled(keyId: string, ratio: number): boolean {
  return ratio >= 1 || keySampleValue(keyId) < ratio;
}

export interface DownsyncPolicy {
  /** `min_interval_by_key` in milliseconds; 0 writes every distinct state. */
  minIntervalMs: number;
  /** `random_sampling_ratio`, in (0, 1]. */
  samplingRatio: number;
  /** How long after its bucket ends a pending row still takes later states of that bucket. */
  latenessMs: number;
  /** Shift each key's intervals by its phase (keyPhaseMs); aligned to the epoch when false. */
  phased?: boolean;
}

/** A merged state offered for downsync: the row and the token that holds its source offset. */
export interface DownsyncCandidate<R, H> {
  keyId: string;
  /** The state's event time (`_last_updated_at_ms` of the merged value). */
  eventTimeMs: number;
  row: R;
  hold: H;
}

/** A row to write: the state of one key for one bucket, with the hold of its source offset. */
export interface EmittedRow<R, H> {
  keyId: string;
  eventTimeMs: number;
  bucket: number;
  row: R;
  hold: H;
}

export interface SamplerStats {
  offered: number;
  /** Keys the sampling ratio leaves out. */
  notSampled: number;
  /** Replaced by a later state of the same bucket (latest wins). */
  superseded: number;
  /** Same key and event time as the pending or last written row. */
  duplicates: number;
  /** Older than the pending state of the key. */
  stale: number;
  /** For a bucket already written. */
  late: number;
  emitted: number;
}

interface Pending<R, H> {
  keyId: string;
  bucket: number;
  eventTimeMs: number;
  row: R;
  hold: H;
  closeAtMs: number;
}

/**
 * The sampling and interval logic of one feature. `release(hold)` is called for every offered
 * hold that will never be written (not sampled, superseded, stale, duplicate, late, dropped):
 * its source offset no longer waits on downsync. Emitted rows keep their hold; the writer
 * releases it once the row is in the offline store.
 */
export class DownsyncSampler<R, H> {
  readonly stats: SamplerStats = {
    offered: 0,
    notSampled: 0,
    superseded: 0,
    duplicates: 0,
    stale: 0,
    late: 0,
    emitted: 0,
  };
  private readonly pending = new Map<string, Pending<R, H>>();
  /** Pending rows grouped by the time their bucket closes (few distinct values). */
  private readonly byClose = new Map<number, Map<string, Pending<R, H>>>();
  /** The last written bucket and event time of each key (bounded, oldest forgotten first). */
  private readonly written = new Map<string, { bucket: number; eventTimeMs: number }>();
  private readonly keyCache = new Map<string, { sampled: boolean; phaseMs: number }>();

  constructor(
    readonly policy: DownsyncPolicy,
    private readonly release: (hold: H) => void,
    private readonly maxRemembered = 1_000_000,
  ) {
    if (!(policy.samplingRatio > 0 && policy.samplingRatio <= 1))
      throw new Error(`samplingRatio must be in (0, 1], got ${policy.samplingRatio}`);
    if (!(policy.minIntervalMs >= 0))
      throw new Error(`minIntervalMs must be >= 0, got ${policy.minIntervalMs}`);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private keyInfo(keyId: string): { sampled: boolean; phaseMs: number } {
    let info = this.keyCache.get(keyId);
    if (!info) {
      const { sample, phase } = keyHashValues(keyId);
      info = {
        sampled: this.policy.samplingRatio >= 1 || sample < this.policy.samplingRatio,
        phaseMs: this.policy.phased ? Math.floor(phase * this.policy.minIntervalMs) : 0,
      };
      // the hash is the costly part of a command's downsync: keep recent keys
      if (this.keyCache.size >= 200_000) this.keyCache.clear();
      this.keyCache.set(keyId, info);
    }
    return info;
  }

  /** The interval of a key's state at this event time. */
  bucketOf(keyId: string, eventTimeMs: number): number {
    return intervalOf(eventTimeMs, this.policy.minIntervalMs, this.keyInfo(keyId).phaseMs);
  }

  /** Whether the key is kept. */
  isSampled(keyId: string): boolean {
    return this.keyInfo(keyId).sampled;
  }

  /** Offers a state; returns the rows that it closes (the key's pending row of an earlier bucket, or itself without an interval). */
  offer(c: DownsyncCandidate<R, H>): EmittedRow<R, H>[] {
    this.stats.offered++;
    if (!this.isSampled(c.keyId)) {
      this.stats.notSampled++;
      this.release(c.hold);
      return [];
    }
    const bucket = this.bucketOf(c.keyId, c.eventTimeMs);
    const out: EmittedRow<R, H>[] = [];
    const p = this.pending.get(c.keyId);
    if (p) {
      if (bucket === p.bucket) {
        if (c.eventTimeMs < p.eventTimeMs) {
          this.stats.stale++;
          this.release(c.hold);
        } else {
          if (c.eventTimeMs === p.eventTimeMs) this.stats.duplicates++;
          else this.stats.superseded++;
          this.release(p.hold);
          p.eventTimeMs = c.eventTimeMs;
          p.row = c.row;
          p.hold = c.hold;
        }
        return out;
      }
      if (bucket < p.bucket) {
        this.stats.stale++;
        this.release(c.hold);
        return out;
      }
      out.push(this.emit(p));
    }
    const last = this.written.get(c.keyId);
    if (last && bucket <= last.bucket) {
      if (bucket === last.bucket && c.eventTimeMs === last.eventTimeMs) this.stats.duplicates++;
      else if (bucket === last.bucket && c.eventTimeMs > last.eventTimeMs) this.stats.late++;
      else this.stats.stale++;
      this.release(c.hold);
      return out;
    }
    if (this.policy.minIntervalMs === 0) {
      out.push(this.emitNew(c, bucket));
      return out;
    }
    const entry: Pending<R, H> = {
      keyId: c.keyId,
      bucket,
      eventTimeMs: c.eventTimeMs,
      row: c.row,
      hold: c.hold,
      closeAtMs: this.closeAt(c.keyId, bucket),
    };
    this.pending.set(c.keyId, entry);
    let group = this.byClose.get(entry.closeAtMs);
    if (!group) {
      group = new Map();
      this.byClose.set(entry.closeAtMs, group);
    }
    group.set(c.keyId, entry);
    return out;
  }

  /**
   * Closes the pending rows whose bucket has ended: `clock(hold)` is the time of the stream the
   * row came from (wall clock when it is caught up, its event-time progress while it replays a
   * backlog); `maxClock` bounds every clock value and lets whole groups be skipped; `skip` keeps
   * the rows of keys whose next commands wait to be applied.
   */
  due(clock: (hold: H) => number, maxClock: number, skip?: (keyId: string) => boolean): EmittedRow<R, H>[] {
    const out: EmittedRow<R, H>[] = [];
    for (const [closeAt, group] of this.byClose) {
      if (closeAt > maxClock) continue;
      for (const p of group.values())
        if (clock(p.hold) >= closeAt && !skip?.(p.keyId)) out.push(this.emit(p));
    }
    return out;
  }

  /** The bucket of the key's pending row, if it has one. */
  pendingBucket(keyId: string): number | undefined {
    return this.pending.get(keyId)?.bucket;
  }

  /** Closes the pending rows of these keys now (their next state is in a later interval). */
  close(keyIds: Iterable<string>): EmittedRow<R, H>[] {
    const out: EmittedRow<R, H>[] = [];
    for (const k of keyIds) {
      const p = this.pending.get(k);
      if (p) out.push(this.emit(p));
    }
    return out;
  }

  /** Emits every pending row now (end of a test or of a finite run). */
  drain(): EmittedRow<R, H>[] {
    return [...this.pending.values()].map((p) => this.emit(p));
  }

  /** Forgets the pending rows whose hold matches (their source partition was reassigned); releases them. */
  dropWhere(test: (hold: H) => boolean): number {
    let n = 0;
    for (const p of [...this.pending.values()]) {
      if (!test(p.hold)) continue;
      this.unlink(p);
      this.release(p.hold);
      n++;
    }
    return n;
  }

  /** Forgets which buckets were written (after a reassignment the new owner may write them again). */
  forgetWritten(): void {
    this.written.clear();
  }

  /** When a pending row of this bucket closes: its end plus the lateness (phased: rounded up to 100 ms, to group rows). */
  private closeAt(keyId: string, bucket: number): number {
    const end =
      (bucket + 1) * this.policy.minIntervalMs - this.keyInfo(keyId).phaseMs + this.policy.latenessMs;
    return this.policy.phased ? Math.ceil(end / 100) * 100 : end;
  }

  private unlink(p: Pending<R, H>): void {
    this.pending.delete(p.keyId);
    const group = this.byClose.get(p.closeAtMs);
    group?.delete(p.keyId);
    if (group?.size === 0) this.byClose.delete(p.closeAtMs);
  }

  private emit(p: Pending<R, H>): EmittedRow<R, H> {
    this.unlink(p);
    return this.emitNew(p, p.bucket);
  }

  private emitNew(
    c: { keyId: string; eventTimeMs: number; row: R; hold: H },
    bucket: number,
  ): EmittedRow<R, H> {
    this.stats.emitted++;
    this.written.delete(c.keyId);
    this.written.set(c.keyId, { bucket, eventTimeMs: c.eventTimeMs });
    if (this.written.size > this.maxRemembered) {
      const oldest = this.written.keys().next().value;
      if (oldest !== undefined) this.written.delete(oldest);
    }
    return { keyId: c.keyId, eventTimeMs: c.eventTimeMs, bucket, row: c.row, hold: c.hold };
  }
}
