import { describe, expect, it } from 'vitest';
import {
  DownsyncSampler,
  downsyncKeyId,
  type EmittedRow,
  intervalOf,
  isKeySampled,
  keyPhaseMs,
  keySampleValue,
} from '../../streaming/downsync/downsync-sampler.ts';

type Row = { v: number };
const min = 60_000;

/** A sampler whose holds are plain numbers, recording every release. */
function sampler(minIntervalMs: number, samplingRatio = 1, latenessMs = 0) {
  const released: number[] = [];
  const s = new DownsyncSampler<Row, number>({ minIntervalMs, samplingRatio, latenessMs }, (h) =>
    released.push(h),
  );
  return { s, released };
}

const ids = (rows: EmittedRow<Row, number>[]) => rows.map((r) => `${r.keyId}@${r.eventTimeMs}`);

describe('downsync sampling by key', () => {
  it('keeps the same keys on every run (pinned: changing the hash would reshuffle training samples)', () => {
    const kept = (ratio: number) =>
      Array.from({ length: 10_000 }, (_, i) => JSON.stringify([i])).filter((k) => isKeySampled(k, ratio));
    expect(kept(0.25)).toHaveLength(2526);
    expect(kept(0.5)).toHaveLength(5051);
    expect(kept(0.9)).toHaveLength(9053);
    expect(kept(1)).toHaveLength(10_000);
    expect(
      Array.from({ length: 20 }, (_, i) => i).filter((i) => isKeySampled(JSON.stringify([i]), 0.5)),
    ).toEqual([1, 2, 3, 4, 5, 7, 9, 10, 12, 13, 15, 18, 19]);
    // the seed's keys
    expect(isKeySampled('[1001]', 0.5)).toBe(true);
    expect(keySampleValue('["room-42"]')).toBeCloseTo(0.448272, 6);
  });

  it('nests: a key kept at a ratio is kept at every larger ratio (features join on the same keys)', () => {
    for (let i = 0; i < 5_000; i++) {
      const k = JSON.stringify([i]);
      if (isKeySampled(k, 0.1)) expect(isKeySampled(k, 0.3)).toBe(true);
      if (isKeySampled(k, 0.3)) expect(isKeySampled(k, 0.9)).toBe(true);
    }
  });

  it('key ids follow the definition order of the key fields', () => {
    expect(downsyncKeyId({ keyFields: ['a', 'b'] }, { b: 'x', a: 1 })).toBe('[1,"x"]');
  });

  it('a kept key keeps its complete sequence; a dropped key writes nothing', () => {
    const { s, released } = sampler(0, 0.25);
    const emitted: EmittedRow<Row, number>[] = [];
    let hold = 0;
    for (let step = 0; step < 20; step++)
      for (let k = 0; k < 1_000; k++)
        emitted.push(
          ...s.offer({
            keyId: JSON.stringify([k]),
            eventTimeMs: 1_000 + step,
            row: { v: step },
            hold: hold++,
          }),
        );
    const keptKeys = Array.from({ length: 1_000 }, (_, k) => JSON.stringify([k])).filter((k) =>
      isKeySampled(k, 0.25),
    );
    expect(keptKeys).toHaveLength(232);
    expect(emitted).toHaveLength(232 * 20);
    for (const k of keptKeys)
      expect(emitted.filter((r) => r.keyId === k).map((r) => r.row.v)).toEqual(
        Array.from({ length: 20 }, (_, i) => i),
      );
    expect(s.stats.notSampled).toBe((1_000 - 232) * 20);
    // every hold is either written (emitted) or released, once
    expect(released.length + emitted.length).toBe(20_000);
    expect(new Set([...released, ...emitted.map((r) => r.hold)]).size).toBe(20_000);
  });
});

describe('downsync min_interval_by_key', () => {
  it('writes one row per key per interval: the latest state of the interval', () => {
    const { s } = sampler(min);
    const out: EmittedRow<Row, number>[] = [];
    // one state every 10 s for 10 minutes
    for (let i = 0; i < 60; i++)
      out.push(...s.offer({ keyId: 'k', eventTimeMs: i * 10_000, row: { v: i }, hold: i }));
    // 9 intervals closed by the next one's first state; the 10th is pending
    expect(out.map((r) => r.eventTimeMs)).toEqual(
      [50, 110, 170, 230, 290, 350, 410, 470, 530].map((x) => x * 1000),
    );
    expect(out.map((r) => r.row.v)).toEqual([5, 11, 17, 23, 29, 35, 41, 47, 53]);
    expect(s.pendingCount).toBe(1);
    expect(s.stats.superseded).toBe(50);
  });

  it('keeps the last state before a quiet period and writes it when its interval ends', () => {
    const { s } = sampler(min, 1, 2_000);
    for (const t of [61_000, 75_000, 90_000])
      expect(s.offer({ keyId: 'k', eventTimeMs: t, row: { v: t }, hold: t })).toEqual([]);
    // the interval [60 s, 120 s) ends at 120 s; 2 s of lateness allowance
    expect(s.due(() => 121_999, 121_999)).toEqual([]);
    expect(ids(s.due(() => 122_000, 122_000))).toEqual(['k@90000']);
    expect(s.pendingCount).toBe(0);
    expect(s.due(() => 500_000, 500_000)).toEqual([]);
  });

  it('within the lateness allowance a late state still joins its interval; after it, it is dropped as late', () => {
    const { s, released } = sampler(min, 1, 5_000);
    s.offer({ keyId: 'k', eventTimeMs: 10_000, row: { v: 1 }, hold: 1 });
    expect(s.due(() => 62_000, 62_000)).toEqual([]);
    s.offer({ keyId: 'k', eventTimeMs: 59_000, row: { v: 2 }, hold: 2 });
    expect(ids(s.due(() => 65_000, 65_000))).toEqual(['k@59000']);
    // after its interval was written: late (newer) and duplicate states are released, not written
    expect(s.offer({ keyId: 'k', eventTimeMs: 59_500, row: { v: 3 }, hold: 3 })).toEqual([]);
    expect(s.offer({ keyId: 'k', eventTimeMs: 59_000, row: { v: 2 }, hold: 4 })).toEqual([]);
    expect(s.stats.late).toBe(1);
    expect(s.stats.duplicates).toBe(1);
    expect(released).toEqual([1, 3, 4]);
    expect(s.pendingCount).toBe(0);
  });

  it('an older state arriving after a newer one of the interval does not replace it', () => {
    const { s, released } = sampler(min);
    s.offer({ keyId: 'k', eventTimeMs: 30_000, row: { v: 30 }, hold: 1 });
    s.offer({ keyId: 'k', eventTimeMs: 20_000, row: { v: 20 }, hold: 2 });
    s.offer({ keyId: 'k', eventTimeMs: 30_000, row: { v: 30 }, hold: 3 });
    expect(released).toEqual([2, 1]);
    const rows = s.drain();
    expect(rows.map((r) => [r.eventTimeMs, r.hold])).toEqual([[30_000, 3]]);
    expect(s.stats).toMatchObject({ stale: 1, duplicates: 1, emitted: 1 });
  });

  it('exact counts over many keys, phases and a sampling ratio', () => {
    const ratio = 0.5;
    const { s } = sampler(min, ratio, 1_000);
    const rows: EmittedRow<Row, number>[] = [];
    const expected: string[] = [];
    let hold = 0;
    for (let k = 0; k < 200; k++) {
      const keyId = JSON.stringify([k]);
      const step = 3_000 + (k % 17) * 1_000; // 3..19 s between states
      const phase = (k * 7_919) % 60_000;
      const times: number[] = [];
      for (let t = phase; t < 600_000; t += step) times.push(t);
      if (isKeySampled(keyId, ratio)) {
        // independently: the last time of each minute touched
        const lastOfMinute = new Map<number, number>();
        for (const t of times) lastOfMinute.set(Math.floor(t / min), t);
        for (const t of lastOfMinute.values()) expected.push(`${keyId}@${t}`);
      }
      for (const t of times) rows.push(...s.offer({ keyId, eventTimeMs: t, row: { v: t }, hold: hold++ }));
    }
    rows.push(...s.due(() => 601_000, 601_000));
    expect(s.pendingCount).toBe(0);
    expect(ids(rows).sort()).toEqual(expected.sort());
    // 89 of the 200 keys are kept; each touches all 10 minutes (states at most 19 s apart)
    expect(
      Array.from({ length: 200 }, (_, k) => JSON.stringify([k])).filter((k) => isKeySampled(k, ratio)),
    ).toHaveLength(89);
    expect(expected).toHaveLength(890);
    // at most one row per key and minute
    expect(new Set(rows.map((r) => `${r.keyId}/${r.bucket}`)).size).toBe(rows.length);
  });

  it('closes each pending row by the clock of its own stream (a replaying partition waits for its event time)', () => {
    const { s } = sampler(min, 1, 0);
    s.offer({ keyId: 'live', eventTimeMs: 1_000, row: { v: 1 }, hold: 1 });
    s.offer({ keyId: 'backlog', eventTimeMs: 2_000, row: { v: 2 }, hold: 2 });
    const clock = (h: number) => (h === 1 ? 120_000 : 30_000);
    expect(ids(s.due(clock, 120_000))).toEqual(['live@1000']);
    expect(ids(s.due(() => 60_000, 60_000))).toEqual(['backlog@2000']);
  });

  it('without an interval writes every distinct state and collapses repeats', () => {
    const { s } = sampler(0);
    const out = [1, 2, 2, 3, 1, 3, 4].flatMap((t, i) =>
      s.offer({ keyId: 'k', eventTimeMs: t, row: { v: t }, hold: i }),
    );
    expect(out.map((r) => r.eventTimeMs)).toEqual([1, 2, 3, 4]);
    expect(s.stats).toMatchObject({ duplicates: 2, stale: 1, emitted: 4 });
  });

  it('drops pending rows of a reassigned partition and releases their holds', () => {
    const { s, released } = sampler(min);
    s.offer({ keyId: 'a', eventTimeMs: 1, row: { v: 1 }, hold: 10 });
    s.offer({ keyId: 'b', eventTimeMs: 1, row: { v: 1 }, hold: 20 });
    expect(s.dropWhere((h) => h === 10)).toBe(1);
    expect(released).toEqual([10]);
    expect(s.drain().map((r) => r.keyId)).toEqual(['b']);
  });
});

describe('downsync intervals shifted by a phase per key', () => {
  function phased(samplingRatio = 1) {
    const released: number[] = [];
    const s = new DownsyncSampler<Row, number>(
      { minIntervalMs: min, samplingRatio, latenessMs: 0, phased: true },
      (h) => released.push(h),
    );
    return { s, released };
  }

  it('pins the phase of a key (changing the hash would move every key’s intervals)', () => {
    expect(keyPhaseMs('[1001]', 60_000)).toBe(1_087);
    expect(keyPhaseMs('["room-42"]', 30_000)).toBe(12_402);
    expect(intervalOf(120_000 - 1_088, 60_000, 1_087)).toBe(1);
    expect(intervalOf(120_000 - 1_087, 60_000, 1_087)).toBe(2);
  });

  it('still writes one row per key and interval, the latest of it: exact counts', () => {
    const { s } = phased(0.5);
    const rows: EmittedRow<Row, number>[] = [];
    const expected: string[] = [];
    let hold = 0;
    for (let k = 0; k < 300; k++) {
      const keyId = JSON.stringify([k]);
      const times = Array.from({ length: 40 }, (_, i) => 1_000 * (i * (5 + (k % 11)) + (k % 7)));
      if (isKeySampled(keyId, 0.5)) {
        const last = new Map<number, number>();
        for (const t of times) last.set(intervalOf(t, min, keyPhaseMs(keyId, min)), t);
        for (const t of last.values()) expected.push(`${keyId}@${t}`);
      }
      for (const t of times) rows.push(...s.offer({ keyId, eventTimeMs: t, row: { v: t }, hold: hold++ }));
    }
    rows.push(...s.due(() => Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
    expect(ids(rows).sort()).toEqual(expected.sort());
    expect(expected).toHaveLength(1_003);
    expect(new Set(rows.map((r) => `${r.keyId}/${r.bucket}`)).size).toBe(rows.length);
  });

  it('spreads the closing of the rows over the interval instead of closing them all on the minute', () => {
    const { s } = phased();
    for (let k = 0; k < 6_000; k++)
      s.offer({ keyId: JSON.stringify([k]), eventTimeMs: 600_000, row: { v: k }, hold: k });
    const perSecond: number[] = [];
    for (let t = 600_000; t <= 720_000; t += 1_000) perSecond.push(s.due(() => t, t).length);
    expect(perSecond.reduce((a, b) => a + b, 0)).toBe(6_000);
    // about 100 a second over the minute; never more than a few percent at once
    expect(Math.max(...perSecond)).toBeLessThan(200);
    expect(perSecond.filter((n) => n > 0).length).toBeGreaterThan(55);
    const aligned = sampler(min).s;
    for (let k = 0; k < 6_000; k++)
      aligned.offer({ keyId: JSON.stringify([k]), eventTimeMs: 600_000, row: { v: k }, hold: k });
    expect(aligned.due(() => 660_000, 660_000)).toHaveLength(6_000);
  });
});
