import { describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../domain/definitions/load-definitions.ts';
import { EventMapper, maxEventTimeAheadMs } from '../../domain/events/event-mapper.ts';

const { definitions } = await loadDefinitions(['features']);
const def = (name: string) => definitions.find((d) => d.name === name)!;
const now = Date.parse('2026-12-04T12:00:00Z');
const mapper = (name: string) => new EventMapper(def(name), () => now);
const t = now - 60_000;

describe('EventMapper: the seed’s ksqlDB statements as from_events rules', () => {
  it('example 1: azar_user_cdc sets user-profile.level', () => {
    const m = mapper('azar::user-profile');
    expect(m.topic).toBe('azar_user_cdc');
    expect(m.map({ userId: 42, userLevel: 7, timestampMillis: t, other: 'ignored' })).toEqual([
      {
        rule: 'user-level',
        feature: 'azar::user-profile',
        command: {
          feature: 'azar::user-profile',
          method: 'UPDATE',
          keys: { user_id: 42 },
          values: { level: 7 },
          eventTimeMs: t,
        },
      },
    ]);
  });

  it('examples 2-1 and 2-2: a guest’s ENTRANCE sets has_guest, a LEAVE clears it, the rest is skipped', () => {
    const m = mapper('live::live-room-context');
    const ev = (participantType: string, eventType: string) => ({
      liveRoomId: 'room-9',
      participantType,
      eventType,
      timestampMillis: t,
    });
    const one = (e: unknown) =>
      m.map(e).map((o) => ('command' in o ? [o.rule, o.command.values.has_guest] : [o.rule, o.failure]));
    expect(one(ev('GUEST', 'ENTRANCE'))).toEqual([['guest-entrance', true]]);
    expect(one(ev('GUEST', 'LEAVE'))).toEqual([['guest-leave', false]]);
    expect(one(ev('HOST', 'ENTRANCE'))).toEqual([]);
    expect(one({ liveRoomId: 'room-9' })).toEqual([]);
  });

  it('example 3’s mapping: a match event appends to recent-matches, with a cast and a default', () => {
    const m = mapper('azar-match::recent-matches');
    const [o] = m.map({ userId: 1, peerUserId: 2, chat_duration: '95', timestampMillis: String(t) });
    expect(o).toMatchObject({
      command: {
        method: 'APPEND',
        keys: { user_id: 1 },
        values: { peer_user_id: 2, chat_duration_sec: 95, peer_country_code: 'XX' },
        eventTimeMs: t,
      },
    });
  });

  it('an ISO event time is read as UTC', () => {
    const [o] = mapper('azar::user-profile').map({
      userId: 1,
      userLevel: 2,
      timestampMillis: '2026-12-04T11:00:00Z',
    });
    expect(o).toMatchObject({ command: { eventTimeMs: Date.parse('2026-12-04T11:00:00Z') } });
  });

  it('hostile events: each matching rule that cannot map says why; nothing throws', () => {
    const m = mapper('azar::user-profile');
    const why = (e: unknown) => {
      const out = m.map(e);
      expect(out).toHaveLength(1);
      return 'failure' in out[0]! ? out[0].failure : 'mapped';
    };
    expect(why({ userLevel: 1, timestampMillis: t })).toMatch(
      /keys\.user_id: the event gives no value \(field userId\)/,
    );
    expect(why({ userId: 1, timestampMillis: t })).toMatch(/values\.level: the event gives no value/);
    expect(why({ userId: 'abc', userLevel: 1, timestampMillis: t })).toMatch(/keys\.user_id/);
    expect(why({ userId: 1, userLevel: 'high', timestampMillis: t })).toMatch(/values\.level/);
    expect(why({ userId: 1, userLevel: 1.5, timestampMillis: t })).toMatch(/values\.level/);
    expect(why({ userId: 1, userLevel: { deep: 1 }, timestampMillis: t })).toMatch(
      /an object cannot be stored/,
    );
    expect(why({ userId: 1, userLevel: 1 })).toMatch(/event_time: the event has none/);
    expect(why({ userId: 1, userLevel: 1, timestampMillis: 'soon' })).toMatch(/event_time: expected a time/);
    expect(why({ userId: 1, userLevel: 1, timestampMillis: -5 })).toMatch(/not after 1970/);
    expect(why({ userId: 1, userLevel: 1, timestampMillis: now + maxEventTimeAheadMs + 60_000 })).toMatch(
      /ahead of now/,
    );
    expect(why({ userId: 1, userLevel: 1, timestampMillis: now + 1000 })).toBe('mapped');
    // the wrong shape altogether: not an object, an array, nesting where a value was expected
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = { userId: deep };
    for (const e of [null, 7, 'text', [1, 2], deep]) expect(why(e)).toMatch(/keys\.user_id/);
  });
});
