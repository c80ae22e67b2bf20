import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { KeyMeta } from '../../domain/aggregations/aggregation-state.ts';
import { addHash, emptySketch } from '../../domain/aggregations/distinct-sketch.ts';
import { type AggregateEvent, eventsOfFlat } from '../../domain/aggregations/partial-aggregate.ts';
import { decodeKeyRow, encodeKeyRow } from '../../stores/online/aggregate-codec.ts';

const t0 = Date.parse('2026-11-02T10:00:00Z');

const meta: KeyMeta = {
  watermark: t0 + 5_000,
  through: Date.parse('2026-11-01T00:00:00Z'),
  lifetime: {
    count: 7,
    inputs: {
      chat_duration: { n: 6, sum: 410.5, min: -3, max: 200 },
      peer: {
        n: 0,
        sum: 0,
        min: Number.POSITIVE_INFINITY,
        max: Number.NEGATIVE_INFINITY,
        last: { v: 'kr', t: t0 - 10, id: 'e9' },
        sketch: addHash(emptySketch(), 12345),
        recent: [
          { v: 'kr', t: t0 - 10, id: 'e9' },
          { v: 'jp', t: t0 - 20, id: 'e8' },
        ],
      },
    },
  },
  start: t0 - 86_400_000,
  cut: t0 - 3_600_000,
  sweptAt: t0,
  atWatermark: ['e11', 'e12'],
};

const events: AggregateEvent[] = [
  { t: t0 - 60_000, id: 'e10', values: { chat_duration: 12 } },
  { t: t0 + 5_000, id: 'e11', values: { peer: 'kr' } },
  { t: t0 + 5_000, id: 'e12', values: { chat_duration: 0.25, peer: null } },
];

describe('aggregate key row codec', () => {
  it('keeps every meta field, every kind of input partial and the events (absent values as null)', () => {
    const row = decodeKeyRow(encodeKeyRow(meta, events));
    expect({ ...row.meta, lifetime: JSON.parse(JSON.stringify(row.meta.lifetime)) }).toEqual({
      ...meta,
      lifetime: JSON.parse(JSON.stringify(meta.lifetime)),
    });
    expect([...(row.meta.lifetime.inputs.peer!.sketch as { exact: number[] }).exact]).toEqual([12345]);
    expect(row.meta.lifetime.inputs.peer!.min).toBe(Number.POSITIVE_INFINITY);
    expect(eventsOfFlat(row.inline!)).toEqual([
      { t: t0 - 60_000, id: 'e10', values: { chat_duration: 12, peer: null } },
      { t: t0 + 5_000, id: 'e11', values: { chat_duration: null, peer: 'kr' } },
      { t: t0 + 5_000, id: 'e12', values: { chat_duration: 0.25, peer: null } },
    ]);
  });

  it('a meta without events or optional fields stays so', () => {
    const bare: KeyMeta = { watermark: t0, through: t0 - 86_400_000, lifetime: { count: 0, inputs: {} } };
    expect(decodeKeyRow(encodeKeyRow(bare))).toEqual({ meta: bare });
    // a key with an empty inline list is inline (no events yet), not spilled
    expect(decodeKeyRow(encodeKeyRow(bare, [])).inline).toEqual({ names: [], flat: [] });
  });

  it('reads a row written as a map, before the array layout', () => {
    const packr = new Packr({ useRecords: false, moreTypes: false });
    const { atWatermark: _, ...old } = meta;
    const written = packr.pack({
      ...old,
      _inline: { k: ['chat_duration'], e: [[t0 - 60_000, 'e10', 12]] },
    });
    const row = decodeKeyRow(written);
    expect(row.meta.watermark).toBe(meta.watermark);
    expect(row.meta.lifetime.count).toBe(7);
    expect(eventsOfFlat(row.inline!)).toEqual([{ t: t0 - 60_000, id: 'e10', values: { chat_duration: 12 } }]);
    expect(decodeKeyRow(packr.pack(old)).inline).toBeUndefined();
  });

  it('refuses a row of a layout it does not know, naming it, rather than misread it', () => {
    const packr = new Packr({ useRecords: false, moreTypes: false });
    expect(() => decodeKeyRow(packr.pack([3, 1, 2]))).toThrow(/layout 3, which this Ferry does not know/);
  });
});
