import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { DuckDbOfflineStore } from '../../stores/offline/duckdb-offline-store.ts';
import type { OfflineStore } from '../../stores/offline/offline-store.ts';
import { openEmbeddedOnlineStore } from '../../stores/online/embedded-online-store.ts';
import { type OnlineStore, OnlineStoreInputError } from '../../stores/online/online-store.ts';
import { OffsetTracker } from '../../streaming/commands/command-offsets.ts';
import { intervalOf, isKeySampled, keyPhaseMs } from '../../streaming/downsync/downsync-sampler.ts';
import { seedCommands } from '../fixtures/seed-commands.ts';
import { commandText, definitionsWithoutRetention, harness, records } from './command-test-harness.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-commands-'));
let online: OnlineStore;
let offline: DuckDbOfflineStore;
let defs: FeatureDefinition[];
const byName = (n: string) => defs.find((d) => d.name === n)!;
const tp = OffsetTracker.tp('commands', 0);

beforeAll(async () => {
  defs = await definitionsWithoutRetention();
  online = await openEmbeddedOnlineStore({ path: path.join(dir, 'online') });
  offline = await DuckDbOfflineStore.open({ path: ':memory:', sqlDir: 'sql' });
  for (const d of defs) await online.ensureFeature(d);
});

afterAll(async () => {
  await online.close();
  await offline.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('command processor (embedded stores)', () => {
  it('applies the seed commands, sends a poison message to dead letters and downsyncs the sampled keys', async () => {
    const h = harness(online, offline, defs, { downsync: { maxAgeMs: 0 } });
    const poison =
      '{"feature_name":"user-profile","method":"UPDATE","keys":{"user_id":"x"},"values":{"level":1,"_last_updated_at_ms":1}}';
    await h.process(
      records([
        seedCommands.userProfileLevel,
        seedCommands.guestEntrance,
        poison,
        seedCommands.guestLeave,
        seedCommands.matchWindow,
        Buffer.from([0xff, 0x00]),
      ]),
    );
    const [profile] = await online.readObjects(byName('azar::user-profile'), [{ user_id: 1001 }]);
    expect(profile).toMatchObject({
      found: true,
      values: { level: 7, gender: 'UNKNOWN' },
      lastUpdatedAtMs: 1_700_000_000_000,
    });
    const [room] = await online.readObjects(byName('live::live-room-context'), [{ live_room_id: 'room-42' }]);
    expect(room).toMatchObject({
      found: true,
      values: { has_guest: false },
      lastUpdatedAtMs: 1_700_000_120_000,
    });
    const [match] = await online.readObjects(byName('azar-match::match-feature'), [{ user_id: 1001 }]);
    expect(match!.values).toEqual({ recent_10min_match_count: 5, recent_10min_avg_chat_duration: 71.4 });

    expect(h.deadLetters.letters.map((l) => [l.record.offset, l.feature, l.reason])).toEqual([
      [2, 'azar::user-profile', 'keys.user_id: expected Long, got "x"'],
      [5, '', expect.stringMatching(/^not valid JSON/)],
    ]);
    // rows wait for their interval and hold their offsets; the room's first row was written
    // before the leave moved the room into a later interval, so the oldest hold is the leave's
    expect(h.pipeline.pendingCount()).toBe(2);
    expect(h.pipeline.writer.stats.written).toBe(1);
    expect(h.tracker.toCommit()).toEqual([{ tp, offset: 3 }]);
    await h.pipeline.drainPending();
    expect(await h.pipeline.writer.flushAll()).toBe(true);
    expect(h.tracker.toCommit()).toEqual([{ tp, offset: 6 }]);

    const rooms = await offline.readRows('live__live_room_context', { orderBy: ['_last_updated_at_ms'] });
    expect(rooms.map(({ _ingested_at, ...r }) => r)).toEqual([
      {
        live_room_id: 'room-42',
        has_guest: true,
        _last_updated_at_ms: 1_700_000_060_000,
        _event_time: 1_700_000_060_000,
      },
      {
        live_room_id: 'room-42',
        has_guest: false,
        _last_updated_at_ms: 1_700_000_120_000,
        _event_time: 1_700_000_120_000,
      },
    ]);
    expect(isKeySampled('[1001]', 0.5)).toBe(true);
    const matches = await offline.readRows('azar_match__match_feature');
    expect(matches).toHaveLength(1);
    expect(matches[0]).toMatchObject({
      user_id: 1001,
      recent_10min_match_count: 5,
      recent_10min_avg_chat_duration: 71.4,
      _last_updated_at_ms: 1_700_000_720_000,
    });
    expect(typeof matches[0]!._ingested_at).toBe('number');
  });

  it('keeps the newest value by event time when one key’s updates arrive out of order', async () => {
    const h = harness(online, offline, defs);
    const d = byName('azar::user-profile');
    const at = (t: number, level: number) =>
      commandText(d, { method: 'UPDATE', keys: { user_id: 77 }, values: { level }, eventTimeMs: t });
    await h.process(records([at(3_000, 3), at(1_000, 1), at(5_000, 5), at(2_000, 2)]));
    const [r] = await online.readObjects(d, [{ user_id: 77 }]);
    expect(r).toMatchObject({ values: { level: 5 }, lastUpdatedAtMs: 5_000 });
  });

  it('offline rows of a redelivered batch are written once', async () => {
    const d = byName('live::live-room-context');
    const batch = records(
      Array.from({ length: 40 }, (_, i) =>
        commandText(d, {
          method: 'UPDATE',
          keys: { live_room_id: `replay-${i % 8}` },
          values: { has_guest: i % 2 === 0 },
          eventTimeMs: 1_800_000_000_000 + i * 10_000,
        }),
      ),
    );
    const first = harness(online, offline, defs, { downsync: { maxAgeMs: 0 } });
    await first.process(batch);
    await first.pipeline.drainPending();
    await first.pipeline.writer.flushAll();
    // a restart delivers the batch again: the rows are checked against the table
    const again = harness(online, offline, defs, { downsync: { maxAgeMs: 0 }, suspect: () => true });
    await again.process(batch);
    await again.pipeline.drainPending();
    await again.pipeline.writer.flushAll();
    const rows = (await offline.readRows('live__live_room_context')).filter((r) =>
      String(r.live_room_id).startsWith('replay-'),
    );
    // 30 s interval, 10 s apart, each room every 80 s: every state is the last of its interval
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => `${r.live_room_id}@${r._last_updated_at_ms}`)).size).toBe(40);
    // the replay reads back each room's current (last) state: for its first 4 intervals that
    // state is already in a later one (those rows were written the first time), so they are
    // dropped; the last interval's row is the one already in the table
    expect(again.pipeline.movedOn).toBe(32);
    expect(again.pipeline.writer.stats).toMatchObject({ written: 0, deduplicated: 8 });
  });

  it('retries a failing offline write and holds the offsets until it succeeds', async () => {
    let failures = 2;
    const flaky: OfflineStore = Object.create(offline);
    flaky.appendRows = async (table, rows, o) => {
      if (failures-- > 0) throw new Error('warehouse unavailable');
      return offline.appendRows(table, rows, o);
    };
    const d = byName('azar-match::match-feature');
    const h = harness(online, flaky, defs, { downsync: { maxAgeMs: 0, retryInitialMs: 10 } });
    const keys = Array.from({ length: 20 }, (_, i) => 5_000 + i).filter((k) =>
      isKeySampled(JSON.stringify([k]), 0.5),
    );
    await h.process(
      records(
        keys.map((k) =>
          commandText(d, {
            method: 'UPDATE',
            keys: { user_id: k },
            values: { recent_10min_match_count: k },
            eventTimeMs: 1_900_000_000_000,
          }),
        ),
        { firstOffset: 100 },
      ),
    );
    await h.pipeline.drainPending();
    await h.pipeline.writer.flushDue(Date.now());
    expect(h.pipeline.writer.stats.failedWrites).toBe(1);
    expect(h.tracker.toCommit()).toEqual([{ tp, offset: 100 }]);
    expect(await h.pipeline.writer.flushAll(Date.now() + 5_000)).toBe(true);
    expect(h.pipeline.writer.stats.failedWrites).toBe(2);
    expect(h.tracker.toCommit()).toEqual([{ tp, offset: 100 + keys.length }]);
    const rows = (await offline.readRows('azar_match__match_feature')).filter(
      (r) => (r.user_id as number) >= 5_000,
    );
    expect(rows.map((r) => r.user_id).sort()).toEqual(keys);
  });

  it('a command the online store refuses as bad input goes to dead letters; the others of its batch are applied', async () => {
    const d = byName('azar::user-profile');
    const picky: OnlineStore = Object.create(online);
    picky.writeObjects = async (def, writes) => {
      if (writes.some((w) => w.keys.user_id === 13))
        throw new OnlineStoreInputError(def.name, 'level', 'unlucky');
      return online.writeObjects(def, writes);
    };
    const h = harness(picky, offline, defs);
    const cmd = (user_id: number) =>
      commandText(d, {
        method: 'UPDATE',
        keys: { user_id },
        values: { level: 100 + user_id },
        eventTimeMs: 9_000,
      });
    await h.process(records([cmd(12), cmd(13), cmd(14)]));
    expect(h.deadLetters.letters.map((l) => [l.record.offset, l.reason])).toEqual([
      [1, 'online store refused it: azar::user-profile.level: unlucky'],
    ]);
    const rows = await online.readObjects(d, [{ user_id: 12 }, { user_id: 13 }, { user_id: 14 }]);
    expect(rows.map((r) => r.found)).toEqual([true, false, true]);
  });

  it('retries an online store that is down and goes on when it answers', async () => {
    let down = 3;
    const d = byName('azar::user-profile');
    const sometimes: OnlineStore = Object.create(online);
    sometimes.writeObjects = async (def, writes) => {
      if (down-- > 0) throw new Error('connection refused');
      return online.writeObjects(def, writes);
    };
    const h = harness(sometimes, offline, defs);
    await h.process(
      records([
        commandText(d, {
          method: 'UPDATE',
          keys: { user_id: 4242 },
          values: { age: 30 },
          eventTimeMs: 9_000,
        }),
      ]),
    );
    expect(h.processor.stats.onlineRetries).toBe(3);
    const [r] = await online.readObjects(d, [{ user_id: 4242 }]);
    expect(r!.values.age).toBe(30);
  });
});

describe('commands of a key whose downsync row is not written yet wait; the others do not', () => {
  it('applies the rest of the batch at once and the waiting key once its row is written', async () => {
    const d = byName('live::live-room-context'); // 30 s interval, every key kept
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let gated = false;
    const slow: typeof offline = Object.create(offline);
    slow.appendRows = async (table, rows, o) => {
      if (gated) await gate;
      return offline.appendRows(table, rows, o);
    };
    const h = harness(online, slow, defs);
    const t0 = 1_900_000_000_000 - (1_900_000_000_000 % 60_000);
    const cmd = (room: string, t: number, guest: boolean) =>
      commandText(d, {
        method: 'UPDATE',
        keys: { live_room_id: room },
        values: { has_guest: guest },
        eventTimeMs: t,
      });
    await h.process(records([cmd('wait-a', t0, true)]));
    gated = true;
    // 'wait-a' moves to its next interval (its first row must be written first); 'free-b' is new
    await h.process(
      records([cmd('wait-a', t0 + 120_000, false), cmd('free-b', t0 + 120_000, true)], { firstOffset: 1 }),
      false,
    );
    const [a, b] = await online.readObjects(d, [{ live_room_id: 'wait-a' }, { live_room_id: 'free-b' }]);
    expect(a!.values.has_guest).toBe(true);
    expect(b!.found).toBe(true);
    expect(h.processor.isParked(d, '["wait-a"]')).toBe(true);
    expect(h.tracker.toCommit()).toEqual([{ tp, offset: 0 }]);
    open();
    await h.processor.settle();
    const [a2] = await online.readObjects(d, [{ live_room_id: 'wait-a' }]);
    expect(a2!.values.has_guest).toBe(false);
    expect(h.processor.stats.parked).toBe(1);
    const rows = (await offline.readRows('live__live_room_context')).filter(
      (r) => r.live_room_id === 'wait-a',
    );
    expect(rows.map((r) => r.has_guest)).toEqual([true]);
    // the row of wait-a's first interval is written: only the pending rows hold offsets now
    expect(h.tracker.toCommit()).toEqual([{ tp, offset: 1 }]);
  });
});

/**
 * 20 live rooms (`<prefix>-<k>`), a state every 10 s for 5 minutes (3 states per 30 s interval),
 * as Kafka records in batches of 37; and, computed independently, the offline rows downsync must
 * leave: per room, the last state of each of its (phase-shifted) 30 s intervals.
 */
function roomWorkload(prefix: string, base: number) {
  const d = byName('live::live-room-context'); // 30 s interval, every key kept
  const room = (k: number) => `${prefix}-${k}`;
  const all = records(
    Array.from({ length: 30 * 20 }, (_, i) => {
      const j = Math.floor(i / 20);
      const k = i % 20;
      return commandText(d, {
        method: 'UPDATE',
        keys: { live_room_id: room(k) },
        values: { has_guest: j % 2 === 0 },
        eventTimeMs: base + j * 10_000 + k,
      });
    }),
  );
  const batches = (from: number) =>
    Array.from({ length: Math.ceil((all.length - from) / 37) }, (_, b) =>
      all.slice(from + b * 37, from + (b + 1) * 37),
    );
  const expected: string[] = [];
  for (let k = 0; k < 20; k++) {
    const phase = keyPhaseMs(JSON.stringify([room(k)]), 30_000);
    const last = new Map<number, number>();
    for (let j = 0; j < 30; j++) last.set(intervalOf(base + j * 10_000 + k, 30_000, phase), j);
    for (const j of last.values()) expected.push(`${room(k)}@${base + j * 10_000 + k}=${j % 2 === 0}`);
  }
  /** The rows of these rooms in the offline table, as `room@event time=has_guest`. */
  const stored = async () =>
    (await offline.readRows('live__live_room_context'))
      .filter((r) => String(r.live_room_id).startsWith(`${prefix}-`))
      .map((r) => `${r.live_room_id}@${r._last_updated_at_ms}=${r.has_guest}`);
  return { all, batches, expected, stored };
}

describe('crash and replay (embedded stores)', () => {
  it.each([3, 7, 11, 15])(
    'a consumer that dies after batch %i and restarts from its committed offset writes each interval’s row once',
    async (crashAfter) => {
      const base = 1_800_000_000_000 - (1_800_000_000_000 % 30_000) + crashAfter * 3_600_000;
      const { all, batches, expected, stored } = roomWorkload(`crash-${crashAfter}`, base);
      const first = harness(online, offline, defs);
      let done = 0;
      for (const [b, batch] of batches(0).slice(0, crashAfter).entries()) {
        await first.process(batch);
        // the writer flushes by age: now and then, not after every batch
        if (b % 4 === 0) await first.pipeline.writer.flushDue(Number.POSITIVE_INFINITY);
        done = batch[batch.length - 1]!.offset + 1;
      }
      // killed: pending and buffered rows are lost; the last commit is what the tracker allowed
      const committed = first.tracker.toCommit()[0]?.offset ?? 0;
      expect(committed).toBeLessThan(done);
      const second = harness(online, offline, defs, { suspect: (h) => h.offset < done });
      for (const batch of batches(committed)) await second.process(batch);
      await second.pipeline.drainPending();
      expect(await second.pipeline.writer.flushAll()).toBe(true);
      expect(second.tracker.toCommit()).toEqual([{ tp, offset: all.length }]);

      expect((await stored()).sort()).toEqual(expected.sort());
    },
  );
});

describe('downsync journal (embedded stores)', () => {
  it.each([5, 12])(
    'keys move on while the warehouse hangs; a consumer that dies after batch %i leaves rows in the journal and the next one writes each interval row once',
    async (crashAfter) => {
      const table = 'live__live_room_context';
      const base = 1_800_000_000_000 - (1_800_000_000_000 % 30_000) + (crashAfter + 100) * 3_600_000;
      const { all, batches, expected, stored } = roomWorkload(`journal-${crashAfter}`, base);
      // the first consumer's warehouse never answers an append of this table
      let appendsSeen = 0;
      const hanging = new Proxy(offline, {
        get(target, prop, receiver) {
          if (prop === 'appendRows')
            return (t: string, rows: readonly Record<string, unknown>[]) => {
              if (t !== table) return target.appendRows(t, rows);
              appendsSeen++;
              return new Promise<never>(() => {});
            };
          return Reflect.get(target, prop, receiver);
        },
      }) as OfflineStore;
      const first = harness(online, hanging, defs, { journal: true });
      let done = 0;
      for (const [b, batch] of batches(0).slice(0, crashAfter).entries()) {
        // without the journal this would wait for the warehouse as soon as a key moves on
        await first.process(batch);
        if (b % 4 === 0) void first.pipeline.writer.flushDue(Number.POSITIVE_INFINITY);
        done = batch[batch.length - 1]!.offset + 1;
      }
      const journaled = await online.listMeta(`downsync-journal/${table}/`);
      expect(journaled.length).toBeGreaterThan(0);
      expect(appendsSeen).toBeGreaterThan(0);
      // killed: nothing reached the warehouse; no offset past the unwritten rows was allowed
      const committed = first.tracker.toCommit()[0]?.offset ?? 0;
      expect(committed).toBeLessThan(done);

      const second = harness(online, offline, defs, { suspect: (h) => h.offset < done, journal: true });
      for (const batch of batches(committed)) await second.process(batch);
      await second.pipeline.drainPending();
      expect(await second.pipeline.writer.flushAll()).toBe(true);
      expect(second.tracker.toCommit()).toEqual([{ tp, offset: all.length }]);

      expect((await stored()).sort()).toEqual(expected.sort());
      // every journal entry is removed once its row is written
      await second.pipeline.journalRemovalsSettled();
      expect(await online.listMeta(`downsync-journal/${table}/`)).toEqual([]);
    },
  );
});

describe('offset tracker', () => {
  it('commits up to the oldest held offset, in any release order', () => {
    const t = new OffsetTracker();
    const a = t.hold('t/0', 3);
    const b = t.hold('t/0', 5);
    t.processed('t/0', 9);
    expect(t.toCommit()).toEqual([{ tp: 't/0', offset: 3 }]);
    t.release(b);
    expect(t.toCommit()).toEqual([{ tp: 't/0', offset: 3 }]);
    t.release(a);
    expect(t.toCommit()).toEqual([{ tp: 't/0', offset: 10 }]);
    t.committedAt('t/0', 10);
    expect(t.toCommit()).toEqual([]);
  });

  it('commits nothing for a partition before a batch of it was processed, and ignores holds of an old generation', () => {
    const t = new OffsetTracker();
    const old = t.hold('t/1', 4);
    expect(t.toCommit()).toEqual([]);
    t.reset();
    t.processed('t/1', 2);
    const fresh = t.hold('t/1', 1);
    t.release(old);
    expect(t.toCommit()).toEqual([{ tp: 't/1', offset: 1 }]);
    t.release(fresh);
    expect(t.toCommit()).toEqual([{ tp: 't/1', offset: 3 }]);
    expect(t.heldCount()).toBe(0);
  });
});
