import { Packr } from 'msgpackr';
import type { KeyMeta, MemoryAggregationState } from '../../domain/aggregations/aggregation-state.ts';
import type { AggregateEvent, PartialAggregate } from '../../domain/aggregations/partial-aggregate.ts';
import { type BucketLevel, bucketLevels } from '../../domain/aggregations/window-plan.ts';

/**
 * The bytes of the aggregation state in both online stores: MessagePack (msgpackr, the encoder
 * LMDB's own package uses), which keeps numbers (±Infinity of an empty min/max too), text, bytes
 * and the sketches' register arrays as they are. Records are plain (no shared structures), so
 * any process decodes any value.
 */
const packr = new Packr({ useRecords: false, moreTypes: false });

export const encodePartial = (p: PartialAggregate): Buffer => packr.pack(p);
export const decodePartial = (b: Uint8Array): PartialAggregate => packr.unpack(b) as PartialAggregate;

export const encodeRawEvents = (events: readonly AggregateEvent[]): Buffer => packr.pack(events);
export const decodeRawEvents = (b: Uint8Array): AggregateEvent[] => packr.unpack(b) as AggregateEvent[];

export const encodeMeta = (m: KeyMeta): Buffer => packr.pack(m);
export const decodeMeta = (b: Uint8Array): KeyMeta => packr.unpack(b) as KeyMeta;

/**
 * The value of a key's meta row: its meta and, while the key is small (the Cassandra store keeps
 * its state so until it outgrows a size), the events its state holds: the partials follow from
 * them (`AggregationEngine.loadEvents`).
 */
export function encodeKeyRow(meta: KeyMeta, inline?: readonly AggregateEvent[]): Buffer {
  return inline === undefined ? encodeMeta(meta) : packr.pack({ ...meta, _inline: inline });
}

export function decodeKeyRow(b: Uint8Array): { meta: KeyMeta; inline?: AggregateEvent[] } {
  const { _inline, ...meta } = packr.unpack(b) as KeyMeta & { _inline?: AggregateEvent[] };
  return _inline === undefined ? { meta } : { meta, inline: _inline };
}
