import { Packr } from 'msgpackr';
import type { KeyMeta } from '../../domain/aggregations/aggregation-state.ts';
import type { DistinctSketch } from '../../domain/aggregations/distinct-sketch.ts';
import type {
  AggregateEvent,
  FlatEvents,
  InputPartial,
  PartialAggregate,
  SeenValue,
} from '../../domain/aggregations/partial-aggregate.ts';

/**
 * The bytes of the aggregation state in both online stores: MessagePack (msgpackr, the encoder
 * LMDB's own package uses), which keeps numbers (±Infinity of an empty min/max too), text, bytes
 * and the sketches' register arrays as they are. Records are plain (no shared structures), so
 * any process decodes any value. A key row's layout is its first item: a Ferry reads the layouts up to
 * its own, and refuses a newer one rather than misread it (a Ferry from before the array layout
 * cannot read it at all: upgrade every worker and reader of a store together).
 */
const packr = new Packr({ useRecords: false, moreTypes: false });
/** Key rows are decoded straight from the store's reusable read buffer: their bytes (sketch registers) are copied out. */
const rowPackr = new Packr({ useRecords: false, moreTypes: false, copyBuffers: true });

export const encodePartial = (p: PartialAggregate): Buffer => packr.pack(p);
export const decodePartial = (b: Uint8Array): PartialAggregate => packr.unpack(b) as PartialAggregate;

export const encodeRawEvents = (events: readonly AggregateEvent[]): Buffer => packr.pack(events);
export const decodeRawEvents = (b: Uint8Array): AggregateEvent[] => packr.unpack(b) as AggregateEvent[];

/** A key's meta row with no events (a spilled key's, or a store's that keeps pieces apart). */
export const encodeMeta = (m: KeyMeta): Buffer => encodeKeyRow(m);

/** The first item of a key row's array: its layout (a row written before it was a map). */
const rowLayout = 2;

/**
 * The value of a key's meta row: its meta and, while the key is small (inline-aggregation.ts), the
 * events its state holds (the partials follow from them). One MessagePack array, positions instead
 * of names, which decodes in a third of the time of the map it was:
 * `[2, watermark, through, start, cut, sweptAt, atWatermark, lifetimeCount, lifetimeInputs, names, flat]`,
 * where `lifetimeInputs` is `[name, n, sum, min, max, last, sketch, recent]` per input, and `flat`
 * the events (FlatEvents), each time as its distance back from the watermark (fewer bytes).
 */
export function encodeKeyRow(meta: KeyMeta, inline?: readonly AggregateEvent[]): Buffer {
  const inputs: unknown[] = [];
  for (const name in meta.lifetime.inputs) {
    const ip = meta.lifetime.inputs[name]!;
    inputs.push(name, ip.n, ip.sum, ip.min, ip.max, ip.last ?? null, ip.sketch ?? null, ip.recent ?? null);
  }
  let names: string[] | null = null;
  let flat: unknown[] | null = null;
  if (inline !== undefined) {
    names = [];
    const index = new Map<string, number>();
    for (const e of inline)
      for (const name in e.values) if (!index.has(name)) index.set(name, names.push(name) - 1);
    flat = [];
    const base = timeBase(meta);
    for (const e of inline) {
      flat.push(base - e.t, e.id);
      for (const name of names) flat.push(e.values[name] ?? null);
    }
  }
  return packr.pack([
    rowLayout,
    meta.watermark,
    meta.through,
    meta.start ?? null,
    meta.cut ?? null,
    meta.sweptAt ?? null,
    meta.atWatermark ?? null,
    meta.lifetime.count,
    inputs,
    names,
    flat,
  ]);
}

/** A key row from its bytes; nothing decoded refers to them (they may be a read buffer the store reuses). */
export function decodeKeyRow(b: Uint8Array): { meta: KeyMeta; inline?: FlatEvents } {
  const row = rowPackr.unpack(b) as unknown[] | (KeyMeta & { _inline?: MapRowEvents });
  if (!Array.isArray(row)) return fromMapRow(row);
  if (row[0] !== rowLayout)
    throw new Error(
      `an aggregation key row of layout ${String(row[0])}, which this Ferry does not know (it reads layout ${rowLayout}): a newer Ferry wrote it`,
    );
  const [, watermark, through, start, cut, sweptAt, atWatermark, count, inputs, names, flat] = row as [
    number,
    number,
    number,
    number | null,
    number | null,
    number | null,
    string[] | null,
    number,
    unknown[],
    string[] | null,
    unknown[] | null,
  ];
  const lifetime: PartialAggregate = { count, inputs: {} };
  for (let i = 0; i < inputs.length; i += 8) {
    const ip: InputPartial = {
      n: inputs[i + 1] as number,
      sum: inputs[i + 2] as number,
      min: inputs[i + 3] as number,
      max: inputs[i + 4] as number,
    };
    if (inputs[i + 5] !== null) ip.last = inputs[i + 5] as SeenValue;
    if (inputs[i + 6] !== null) ip.sketch = inputs[i + 6] as DistinctSketch;
    if (inputs[i + 7] !== null) ip.recent = inputs[i + 7] as SeenValue[];
    lifetime.inputs[inputs[i] as string] = ip;
  }
  const meta: KeyMeta = { watermark, through, lifetime };
  if (start !== null) meta.start = start;
  if (cut !== null) meta.cut = cut;
  if (sweptAt !== null) meta.sweptAt = sweptAt;
  if (atWatermark !== null) meta.atWatermark = atWatermark;
  if (names === null || flat === null) return { meta };
  const stride = 2 + names.length;
  const base = timeBase(meta);
  for (let i = 0; i < flat.length; i += stride) flat[i] = base - (flat[i] as number);
  return { meta, inline: { names, flat } };
}

/** What a row's event times count back from: the newest of them (0 when it has none, as a key's first row may). */
const timeBase = (meta: KeyMeta) => (Number.isFinite(meta.watermark) ? meta.watermark : 0);

/** A row written as a map (before the array layout): its events as `{k: names, e: [[t, id, ...values]]}`. */
function fromMapRow(row: KeyMeta & { _inline?: MapRowEvents }): { meta: KeyMeta; inline?: FlatEvents } {
  const { _inline, ...meta } = row;
  if (_inline === undefined) return { meta };
  return { meta, inline: { names: _inline.k, flat: _inline.e.flat() } };
}

interface MapRowEvents {
  k: string[];
  e: unknown[][];
}
