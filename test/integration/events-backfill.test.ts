import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../domain/aggregations/aggregate-field.ts';
import { aggregationSpecOf } from '../../domain/aggregations/aggregation-definition.ts';
import type { AggregateEvent } from '../../domain/aggregations/partial-aggregate.ts';
import type { ColumnSpec } from '../../stores/offline/offline-store.ts';
import { eventsBackfillStateKey } from '../../workflow-contract/ids.ts';
import { bruteForce, expectField, inWindow, mulberry32 } from '../aggregation-contract.ts';
import {
  activitiesFor,
  applyDefinition,
  closeWorkflowTestEnv,
  definitionsOf,
  type EmbeddedEnv,
  openEmbeddedEnv,
  runSyncWorkflow,
} from '../unit/workflows-harness.ts';

// The events backfill (issue 17): the real backfill workflow on a Temporal dev server with the
// activities `ferry worker` registers, over an events table in DuckDB, into LMDB: a new event-fed
// feature starts with the history its rules make of the events kept offline.

const T = { kind: 'scalar', scalar: 'Text' } as const;
const L = { kind: 'scalar', scalar: 'Long' } as const;
const columns: ColumnSpec[] = [
  { name: 'liveRoomId', type: T },
  { name: 'participantType', type: T },
  { name: 'eventType', type: T },
  { name: 'timestampMillis', type: L },
];
const yaml = `
live::bf-room:
  feature_type: Object
  owner: test
  schema:
    live_room_id: { type: Text, is_key_field: true }
    has_guest: { type: Boolean, default_value: false }
  from_events:
    topic: live_room_event
    event_time: timestampMillis
    backfill:
      table: raw_live_room_events
    rules:
      - name: guest-entrance
        when: participantType = 'GUEST' AND eventType = 'ENTRANCE'
        keys: { live_room_id: liveRoomId }
        values: { has_guest: true }
      - name: guest-leave
        when: participantType = 'GUEST' AND eventType = 'LEAVE'
        keys: { live_room_id: liveRoomId }
        values: { has_guest: false }
      - name: room-closed
        when: participantType = 'HOST' AND eventType = 'LEAVE'
        method: DELETE
        keys: { live_room_id: liveRoomId }
`;
const aggregationYaml = `
azar-match::bf-stats:
  feature_type: Aggregation
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    chat_duration: { type: Long }
    peer_user_id: { type: Long }
    match_count_10m: { aggregate: { function: count, window: 10m } }
    match_count_1d: { aggregate: { function: count, window: 1d } }
    avg_chat_duration_30d: { aggregate: { function: avg, of: chat_duration, window: 30d } }
    distinct_peers_30d: { aggregate: { function: approx_distinct, of: peer_user_id, window: 30d } }
    match_count_lifetime: { aggregate: { function: count, window: lifetime } }
    chat_seconds_lifetime: { aggregate: { function: sum, of: chat_duration, window: lifetime } }
  aggregation:
    allowed_lateness: 10m
  from_events:
    topic: azar_match_event
    event_time: timestampMillis
    backfill: { table: raw_bf_match_events, watermark_column: timestampMillis }
    rules:
      - name: match
        keys: { user_id: userId }
        values: { _event_id: matchId, chat_duration: chat_duration, peer_user_id: peerUserId }
`;
const matchColumns: ColumnSpec[] = [
  { name: 'matchId', type: T },
  { name: 'userId', type: L },
  { name: 'peerUserId', type: L },
  { name: 'chat_duration', type: L },
  { name: 'timestampMillis', type: L },
];
const T0 = Date.now() - 3_600_000;
let env: EmbeddedEnv;

beforeAll(async () => {
  env = await openEmbeddedEnv({}, 'ferry-events-bf-');
}, 60_000);

afterAll(async () => {
  await closeWorkflowTestEnv();
  await env?.close();
});

describe('events backfill (the backfill workflow over an events table)', () => {
  it('runs the rules over the events of a range in chunks; a room closed is deleted; a bad row is a dead letter', async () => {
    const def = definitionsOf(yaml).get('live::bf-room')!;
    await applyDefinition(env, def);
    // 40 rooms: guest in at T0+i s, out at T0+100+i s for even rooms; room 7's host leaves; one row bad
    const rows: Record<string, unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const room = `bf-${i}`;
      rows.push({
        liveRoomId: room,
        participantType: 'HOST',
        eventType: 'ENTRANCE',
        timestampMillis: T0 + i * 1000,
      });
      rows.push({
        liveRoomId: room,
        participantType: 'GUEST',
        eventType: 'ENTRANCE',
        timestampMillis: T0 + (i + 1) * 1000,
      });
      if (i % 2 === 0)
        rows.push({
          liveRoomId: room,
          participantType: 'GUEST',
          eventType: 'LEAVE',
          timestampMillis: T0 + (100 + i) * 1000,
        });
    }
    rows.push({
      liveRoomId: 'bf-7',
      participantType: 'HOST',
      eventType: 'LEAVE',
      timestampMillis: T0 + 200_000,
    });
    rows.push({
      liveRoomId: null,
      participantType: 'GUEST',
      eventType: 'ENTRANCE',
      timestampMillis: T0 + 300_000,
    });
    // outside the range: not read
    rows.push({
      liveRoomId: 'bf-late',
      participantType: 'GUEST',
      eventType: 'ENTRANCE',
      timestampMillis: T0 + 900_000,
    });
    await env.offline.ensureTable('raw_live_room_events', columns);
    await env.offline.appendRows('raw_live_room_events', rows);

    const from = T0;
    const to = T0 + 400_000;
    const r = await runSyncWorkflow(activitiesFor(env), {
      feature: def.name,
      mode: 'backfill',
      fromMs: from,
      toMs: to,
      options: { source: 'events', pageSize: 9, chunkRows: 25 },
    });
    expect(r.chunks.length).toBeGreaterThan(2);
    expect(r.progress.mode).toBe('backfill');
    // the 102 rows of the range; events rows have no tie-breaker columns, so a chunk that ends
    // inside one timestamp's rows starts the next at that timestamp again (2 rows share each)
    expect(r.progress.rowsRead).toBeGreaterThanOrEqual(rows.length - 1);
    expect(r.progress.rowsRead).toBeLessThanOrEqual(rows.length - 1 + 2 * r.chunks.length);
    expect(r.progress.rowsDeadLettered).toBeGreaterThanOrEqual(1);
    const got = await env.online.readObjects(
      def,
      ['bf-0', 'bf-1', 'bf-7', 'bf-8', 'bf-late'].map((id) => ({ live_room_id: id })),
    );
    expect(got.map((g) => (g.found ? g.values.has_guest : 'none'))).toEqual([
      false,
      true,
      'none',
      false,
      'none',
    ]);
    const letters = await env.offline.readDeadLetters(def.name);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ origin: 'event' });
    expect(letters[0]!.reason).toMatch(/rule guest-entrance: keys\.live_room_id: the event gives no value/);
    expect(JSON.parse((await env.online.getMeta(eventsBackfillStateKey(def.name, from, to)))!)).toMatchObject(
      {
        done: true,
      },
    );
  }, 240_000);

  it("an Aggregation starts with its history: the warehouse before each key's live start, counted once, rerun harmless", async () => {
    const def = definitionsOf(aggregationYaml).get('azar-match::bf-stats')!;
    await applyDefinition(env, def);
    const spec = aggregationSpecOf(def);
    const now = Date.now();
    const from = now - 45 * DAY;
    // 30 users, a match every ~3 hours each over 45 days, times that do not follow the key
    const rnd = mulberry32(7);
    const rows: Record<string, unknown>[] = [];
    for (let i = 0; i < 30 * 45 * 8; i++) {
      const userId = 1 + Math.floor(rnd() * 30);
      rows.push({
        matchId: `bm${i}`,
        userId,
        peerUserId: 100 + Math.floor(rnd() * 50),
        chat_duration: Math.floor(rnd() * 600),
        timestampMillis: from + Math.floor(rnd() * (now - from - HOUR)),
      });
    }
    rows.push({ matchId: 'bad', userId: null, peerUserId: 1, chat_duration: 5, timestampMillis: from + 5 });
    await env.offline.ensureTable('raw_bf_match_events', matchColumns);
    await env.offline.appendRows('raw_bf_match_events', rows);
    const good = rows.filter((r) => r.matchId !== 'bad');
    // users 1-10 are live already: their live state starts at their first live match (the last
    // two days' matches came through Kafka); the backfill must count only what came before
    const liveFrom = now - 2 * DAY;
    const liveEvents = good
      .filter((r) => (r.userId as number) <= 10 && (r.timestampMillis as number) >= liveFrom)
      .sort((a, b) => (a.timestampMillis as number) - (b.timestampMillis as number));
    await env.online.writeAggregateEvents(
      def,
      liveEvents.map((r) => ({
        keys: { user_id: r.userId },
        eventTimeMs: r.timestampMillis as number,
        eventId: r.matchId as string,
        values: { chat_duration: r.chat_duration, peer_user_id: r.peerUserId },
      })),
      now,
    );
    const backfill = () =>
      runSyncWorkflow(activitiesFor(env), {
        feature: def.name,
        mode: 'backfill',
        fromMs: from,
        toMs: now,
        options: { source: 'events', pageSize: 500, chunkRows: 4_000 },
      });
    const r = await backfill();
    expect(r.chunks.length).toBeGreaterThan(2);
    expect(r.progress.rowsDeadLettered).toBe(1);
    // every event counted once: the live ones by the live state, the others by the history
    const counted = liveEvents.length + r.progress.rowsWritten;
    expect(counted).toBe(good.length);
    const events = (user: number): AggregateEvent[] =>
      good
        .filter((g) => g.userId === user)
        .map((g) => ({
          t: g.timestampMillis as number,
          id: g.matchId as string,
          values: { chat_duration: g.chat_duration as number, peer_user_id: g.peerUserId as number },
        }));
    const check = async () => {
      for (const user of [1, 5, 10, 11, 20, 30]) {
        const [got] = await env.online.readAggregates(def, [{ user_id: user }], { atMs: now });
        for (const f of spec.fields) {
          expectField(
            f,
            got!.values[f.name]!,
            bruteForce(f, inWindow(f, events(user), now)),
            `user ${user} ${f.name}`,
          );
        }
      }
    };
    await check();
    const letters = await env.offline.readDeadLetters(def.name);
    expect(letters.map((l) => l.reason).join()).toMatch(/keys\.user_id: the event gives no value/);
    // the same range again (a user who runs it twice): nothing counted twice
    const again = await backfill();
    expect(again.progress.rowsWritten).toBe(0);
    await check();
  }, 240_000);

  it('fails for good, saying why, without a backfill table or with a range backwards', async () => {
    const def = definitionsOf(yaml.replace(/ {4}backfill:\n {6}table: raw_live_room_events\n/, '')).get(
      'live::bf-room',
    )!;
    await applyDefinition(env, { ...def, name: 'live::bf-none' });
    const err = await runSyncWorkflow(activitiesFor(env), {
      feature: 'live::bf-none',
      mode: 'backfill',
      fromMs: T0,
      toMs: T0 + 1,
      options: { source: 'events' },
    }).then(
      () => undefined,
      (e: Error & { cause?: Error & { cause?: Error } }) => e,
    );
    // the workflow fails with the planning activity's reason
    expect(err).toBeDefined();
    const text = [err, err?.cause, err?.cause?.cause].map((e) => e?.message ?? '').join(' | ');
    expect(text).toMatch(/has no from_events\.backfill/);
  }, 120_000);
});
