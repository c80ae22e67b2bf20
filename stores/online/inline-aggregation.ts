import type { AggregationSpec } from '../../domain/aggregations/aggregate-field.ts';
import { MINUTE } from '../../domain/aggregations/aggregate-field.ts';
import {
  type AggregationStateAccess,
  type KeyMeta,
  MemoryAggregationState,
} from '../../domain/aggregations/aggregation-state.ts';
import { type AggregationEngine, byTimeThenId } from '../../domain/aggregations/key-aggregation.ts';
import {
  type AggregateEvent,
  eventsOfFlat,
  type FlatEvents,
  type PartialAggregate,
} from '../../domain/aggregations/partial-aggregate.ts';
import { type decodeKeyRow, encodeKeyRow } from './aggregate-codec.ts';

/**
 * Both online stores keep a small key's Aggregation state inside its meta entry, as the events it
 * holds (the engine rebuilds the partials from them to write, and reads over them directly), until
 * that entry outgrows this size; then each piece gets an entry of its own. A store's cost is per
 * entry read: such a key's read costs what an Object read does, and its write one entry.
 */
export const inlineBytes = 8 * 1024;

/** A key's meta entry, decoded. */
export type KeyRow = ReturnType<typeof decodeKeyRow>;

/** Whether a key's state is inline (a key without an entry yet starts so). */
export const isInline = (row: KeyRow | undefined): boolean => row === undefined || row.inline !== undefined;

/** A memory state the engine writes to, from an inline key's entry (or none yet). */
export function inlineStateForWrite(
  engine: AggregationEngine,
  row: KeyRow | undefined,
): MemoryAggregationState {
  const state = new MemoryAggregationState();
  state.load(row?.meta);
  if (row?.inline) engine.loadEvents(state, eventsOfFlat(row.inline));
  return state;
}

/** The state a read goes over, from an inline key's entry: its meta and its events, nothing built. */
export function inlineStateForRead(
  row: KeyRow & { inline: NonNullable<KeyRow['inline']> },
): AggregationStateAccess {
  return new HeldEvents(row.meta, row.inline);
}

const notWritten = () => {
  throw new Error('a state held for a read is not written');
};

/** A key's state as its meta and its events whole: a read merges the events each window's range covers. */
class HeldEvents implements AggregationStateAccess {
  constructor(
    private readonly keyMeta: KeyMeta,
    private readonly events: FlatEvents,
  ) {}
  meta(): KeyMeta {
    return this.keyMeta;
  }
  heldEvents(): FlatEvents {
    return this.events;
  }
  // a read over held events asks for none of the pieces
  setMeta = notWritten;
  setRawMinute = notWritten;
  setBucket = notWritten;
  rawMinute(): undefined {
    return undefined;
  }
  bucket(): undefined {
    return undefined;
  }
  bucketRange(): Iterable<[number, PartialAggregate]> {
    return [];
  }
  rawRange(): Iterable<AggregateEvent> {
    return [];
  }
}

/**
 * The meta entry of an inline key after a write: its meta and the events its state still needs
 * (those of the longest window and its lateness, and those since the lifetime's fold; older ones
 * go, as the pieces a store with TTLs keeps expire), or undefined when that outgrows `inlineBytes`
 * (the store then gives each piece an entry of its own).
 */
export function inlineEntryOf(
  state: MemoryAggregationState,
  meta: KeyMeta,
  spec: AggregationSpec,
  nowMs: number,
): Buffer | undefined {
  const keepFrom = Math.min(
    nowMs - spec.bucketRetentionMs - MINUTE,
    spec.lifetime ? meta.through : Number.POSITIVE_INFINITY,
  );
  const events = [...state.raw.values()].flat().filter((e) => e.t >= keepFrom);
  events.sort(byTimeThenId);
  const value = encodeKeyRow(meta, events);
  return value.length <= inlineBytes ? value : undefined;
}

/**
 * Before an inline state moves to entries of its own: drops what a store with TTLs would have
 * expired (raw minutes past the raw horizon by the key's own clock, partials past the longest
 * window, day partials once folded and past it).
 */
export function expireForSpill(
  state: MemoryAggregationState,
  meta: KeyMeta,
  spec: AggregationSpec,
  nowMs: number,
): void {
  state.expire(
    nowMs,
    spec.rawHorizonMs,
    spec.bucketRetentionMs,
    spec.lifetime ? meta.through : Number.POSITIVE_INFINITY,
    Math.min(nowMs, meta.watermark),
  );
}
