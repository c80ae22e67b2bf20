import { Packr } from 'msgpackr';
import type { KeyMeta } from '../../domain/aggregations/aggregation-state.ts';
import type { AggregateEvent, PartialAggregate } from '../../domain/aggregations/partial-aggregate.ts';

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
