import { Packr } from 'msgpackr';
import type { KeyMeta } from '../../domain/aggregations/aggregation-state.ts';
import type { AggregateEvent, PartialAggregate } from '../../domain/aggregations/partial-aggregate.ts';
import type { FieldValue } from '../../domain/values/coerce-value.ts';

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
 * The value of a key's meta row: its meta and, while the key is small (inline-aggregation.ts), the
 * events its state holds: the partials follow from them. The events go as columns (the input
 * names once, then each event as [t, id, ...values]): half the bytes of objects, and faster to read.
 */
export function encodeKeyRow(meta: KeyMeta, inline?: readonly AggregateEvent[]): Buffer {
  if (inline === undefined) return encodeMeta(meta);
  const names: string[] = [];
  const index = new Map<string, number>();
  for (const e of inline)
    for (const name in e.values) if (!index.has(name)) index.set(name, names.push(name) - 1);
  const rows = inline.map((e) => {
    const row: unknown[] = [e.t, e.id];
    for (const name of names) row.push(e.values[name] ?? null);
    return row;
  });
  return packr.pack({ ...meta, _inline: { k: names, e: rows } });
}

export function decodeKeyRow(b: Uint8Array): { meta: KeyMeta; inline?: AggregateEvent[] } {
  const { _inline, ...meta } = packr.unpack(b) as KeyMeta & { _inline?: InlineColumns };
  if (_inline === undefined) return { meta };
  const { k, e } = _inline;
  const inline: AggregateEvent[] = new Array(e.length);
  for (let i = 0; i < e.length; i++) {
    const row = e[i]!;
    const values: Record<string, FieldValue> = {};
    for (let j = 0; j < k.length; j++) values[k[j]!] = row[2 + j] as FieldValue;
    inline[i] = { t: row[0] as number, id: row[1] as string, values };
  }
  return { meta, inline };
}

interface InlineColumns {
  k: string[];
  e: unknown[][];
}
