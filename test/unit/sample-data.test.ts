import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand } from '../../domain/commands/parse-command.ts';
import { validateCommand } from '../../domain/commands/validate-command.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { listTransforms, loadDefinitions } from '../../domain/definitions/load-definitions.ts';
import { EventMapper } from '../../domain/events/event-mapper.ts';
import {
  DAY,
  generateSampleData,
  HOUR,
  loadSampleSources,
  periodStartMs,
  resolveSampleOptions,
  type SampleData,
  SamplePopulation,
  sampleCommands,
  sampleEventTopics,
  sampleLogicalDateOf,
  sampleLoungeTarget,
  sampleMatchCount,
  sampleUser,
  sampleUserProfileWrites,
} from '../../samples/index.ts';
import { sampleSourceTables } from '../../samples/sample-sources.ts';
import { DuckDbOfflineStore } from '../../stores/offline/duckdb-offline-store.ts';

// The sample-data generator: deterministic for given options, sized as asked, rows in the shape of
// the raw tables the transforms in sql/ read, and commands that the feature definitions accept.

const endMs = Date.UTC(2026, 0, 15, 12, 34);
const small = { users: 600, endMs, seed: 11 };
let data: SampleData;

beforeAll(() => {
  data = generateSampleData(small);
});

describe('determinism', () => {
  it('gives the same data for the same options, other data for another seed', () => {
    const again = generateSampleData(small);
    expect(again).toEqual(data);
    const other = generateSampleData({ ...small, seed: 12 });
    expect(other.users).not.toEqual(data.users);
    expect(other.matchEvents).not.toEqual(data.matchEvents);
  });

  it('looks any user up without generating the others', () => {
    const config = resolveSampleOptions(small);
    const u = sampleUser(config, 123);
    const rows = data.users.filter((r) => r.user_id === 1001 + 123);
    expect(rows.map((r) => r.level)).toEqual(u.changes.map((c) => c.level));
    expect(rows.map((r) => r.updated_at)).toEqual(u.changes.map((c) => c.atMs));
    expect(rows[0]).toMatchObject({
      gender: u.gender,
      country_code: u.country_code,
      birth_year: u.birth_year,
    });
  });

  it('produces the same commands alone as with the rest', () => {
    expect(sampleCommands(small).commands).toEqual(data.commands);
  });
});

describe('sizes', () => {
  it('makes every user, the matches, lounge events and rooms asked for', () => {
    const config = data.config;
    expect(new Set(data.users.map((r) => r.user_id)).size).toBe(600);
    // a match is dropped only when no partner signed up before it
    expect(data.matchEvents.length).toBeGreaterThan(2 * sampleMatchCount(config) * 0.97);
    expect(data.matchEvents.length).toBeLessThanOrEqual(2 * sampleMatchCount(config));
    expect(data.loungeEvents.length).toBeGreaterThanOrEqual(sampleLoungeTarget(config));
    expect(data.loungeEvents.length).toBeLessThan(sampleLoungeTarget(config) + 5);
    expect(data.liveRooms.length).toBe(config.liveRooms);
    expect(config.liveRooms).toBe(6); // one per 100 users
  });

  it('scales with the options', () => {
    const d = generateSampleData({
      users: 200,
      endMs,
      matchesPerUser: 2,
      loungeEventsPerUser: 3,
      liveRooms: 4,
    });
    expect(d.matchEvents.length).toBeLessThanOrEqual(400);
    expect(d.matchEvents.length).toBeGreaterThan(360);
    expect(d.loungeEvents.length).toBeGreaterThanOrEqual(600);
    expect(d.liveRooms).toHaveLength(4);
  });

  it('refuses nonsense sizes', () => {
    expect(() => resolveSampleOptions({ users: 1 })).toThrow(/users/);
    expect(() => resolveSampleOptions({ days: 0 })).toThrow(/days/);
    expect(() => resolveSampleOptions({ matchesPerUser: -1 })).toThrow(/matchesPerUser/);
  });
});

describe('shapes', () => {
  const columns = (table: keyof typeof sampleSourceTables) =>
    sampleSourceTables[table].map((c) => c.name).sort();

  it('fills exactly the columns of the raw tables', () => {
    for (const r of data.users.slice(0, 50)) expect(Object.keys(r).sort()).toEqual(columns('raw_users'));
    for (const r of data.matchEvents.slice(0, 50))
      expect(Object.keys(r).sort()).toEqual(columns('raw_match_events'));
    for (const r of data.loungeEvents.slice(0, 50))
      expect(Object.keys(r).sort()).toEqual(columns('raw_lounge_events'));
  });

  it('keeps users plausible: gender, country, age, levels that only go up', () => {
    const endYear = new Date(endMs).getUTCFullYear();
    const byUser = new Map<number, Record<string, unknown>[]>();
    for (const r of data.users)
      byUser.set(r.user_id as number, [...(byUser.get(r.user_id as number) ?? []), r]);
    for (const rows of byUser.values()) {
      const [first] = rows;
      expect(['M', 'F']).toContain(first!.gender);
      expect(first!.country_code).toMatch(/^[A-Z]{2}$/);
      const age = endYear - (first!.birth_year as number);
      expect(age).toBeGreaterThanOrEqual(18);
      expect(age).toBeLessThanOrEqual(65);
      for (let i = 1; i < rows.length; i++) {
        expect(rows[i]!.updated_at as number).toBeGreaterThan(rows[i - 1]!.updated_at as number);
        expect(rows[i]!.level as number).toBeGreaterThan(rows[i - 1]!.level as number);
        expect(rows[i]!.gender).toBe(first!.gender);
      }
      expect(rows.at(-1)!.updated_at as number).toBeLessThan(endMs);
    }
    const males = data.users.filter((r) => r.gender === 'M').length / data.users.length;
    expect(males).toBeGreaterThan(0.5);
    expect(males).toBeLessThan(0.75);
  });

  it('pairs match rows, in the period, after both sign-ups, with chat durations from seconds to an hour', () => {
    const config = data.config;
    const start = periodStartMs(config);
    const signup = new Map<number, number>();
    for (const r of data.users)
      if (!signup.has(r.user_id as number)) signup.set(r.user_id as number, r.updated_at as number);
    const byMatch = new Map<string, typeof data.matchEvents>();
    for (const m of data.matchEvents) byMatch.set(m.match_id, [...(byMatch.get(m.match_id) ?? []), m]);
    for (const [, [a, b, ...rest]] of byMatch) {
      expect(rest).toHaveLength(0);
      expect(b).toMatchObject({
        user_id: a!.peer_user_id,
        peer_user_id: a!.user_id,
        event_time: a!.event_time,
      });
      expect(a!.user_id).not.toBe(a!.peer_user_id);
      expect(a!.chat_duration_sec).toBe(b!.chat_duration_sec);
      expect(a!.event_time).toBeGreaterThanOrEqual(start);
      expect(a!.event_time).toBeLessThan(endMs);
      expect(a!.event_time).toBeGreaterThan(signup.get(a!.user_id)!);
      expect(a!.event_time).toBeGreaterThan(signup.get(a!.peer_user_id)!);
    }
    const durations = data.matchEvents.map((m) => m.chat_duration_sec).sort((x, y) => x - y);
    expect(durations[0]).toBeGreaterThanOrEqual(1);
    expect(durations.at(-1)).toBeLessThanOrEqual(3600);
    expect(durations.filter((d) => d <= 10).length / durations.length).toBeGreaterThan(0.3); // quick skips
    expect(durations.filter((d) => d >= 300).length).toBeGreaterThan(0); // long talks
  });

  it('makes lounge sessions: mostly impressions, then clicks, profile views and likes', () => {
    const types = new Map<string, number>();
    for (const e of data.loungeEvents) {
      types.set(e.event_type, (types.get(e.event_type) ?? 0) + 1);
      expect(e.user_id).not.toBe(e.target_user_id);
      expect(e.event_time).toBeLessThan(endMs);
      expect(e.event_time).toBeGreaterThanOrEqual(periodStartMs(data.config));
    }
    expect([...types.keys()].sort()).toEqual(['click', 'impression', 'like', 'profile_view']);
    expect(types.get('impression')!).toBeGreaterThan(types.get('click')!);
    expect(new Set(data.loungeEvents.map((e) => e.event_id)).size).toBe(data.loungeEvents.length);
  });

  it('runs live rooms in the last hours, guests one at a time', () => {
    for (const room of data.liveRooms) {
      const events = data.liveRoomEvents.filter((e) => e.liveRoomId === room.liveRoomId);
      expect(events[0]).toMatchObject({
        participantType: 'HOST',
        eventType: 'ENTRANCE',
        userId: room.hostUserId,
      });
      expect(room.startMs).toBeGreaterThanOrEqual(endMs - data.config.liveHours * HOUR);
      let onStage = false;
      for (const e of events.filter((x) => x.participantType === 'GUEST')) {
        expect(e.eventType).toBe(onStage ? 'LEAVE' : 'ENTRANCE');
        onStage = !onStage;
        expect(e.timestampMillis).toBeLessThan(endMs);
      }
    }
  });
});

describe('commands', () => {
  let defs: Map<string, FeatureDefinition>;
  beforeAll(async () => {
    const { definitions, errors } = await loadDefinitions(['features'], {
      transforms: await listTransforms(path.resolve('sql')),
    });
    expect(errors).toEqual([]);
    defs = new Map(definitions.map((d) => [d.name, d]));
  });

  it('are in the command shape, accepted by the definitions in features/, from the sample service, in send order', () => {
    expect(data.sentAtMs).toHaveLength(data.commands.length);
    let last = 0;
    data.commands.forEach((c, i) => {
      const raw = parseCommand(JSON.parse(JSON.stringify(c)));
      const def = defs.get(raw.featureName);
      expect(def, raw.featureName).toBeDefined();
      const valid = validateCommand(raw, def!, 'sample-app');
      const sent = data.sentAtMs[i]!;
      expect(sent).toBeGreaterThanOrEqual(last);
      expect(valid.eventTimeMs).toBeLessThanOrEqual(sent);
      expect(valid.eventTimeMs).toBeLessThan(endMs);
      last = sent;
    });
    const features = new Set(data.commands.map((c) => c.feature_name));
    expect([...features].sort()).toEqual(['azar-match::match-feature', 'live::realtime-room-context']);
  });

  it('the live-room events, through live-room-context’s rules (the seed’s statements 2-1 and 2-2), set has_guest', () => {
    const mapper = new EventMapper(defs.get('live::live-room-context')!, () => endMs);
    expect(mapper.topic).toBe(sampleEventTopics.liveRoom);
    const guests = data.liveRoomEvents.filter((e) => e.participantType === 'GUEST');
    const written = data.liveRoomEvents.flatMap((e) =>
      mapper.map(e).map((o) => {
        if (!('command' in o)) throw new Error(o.failure);
        return [o.command.keys.live_room_id, o.command.values.has_guest, o.command.eventTimeMs];
      }),
    );
    expect(written).toEqual(guests.map((e) => [e.liveRoomId, e.eventType === 'ENTRANCE', e.timestampMillis]));
  });

  it('the last day of match events, through recent-matches’ rule, append each match with the peer country', () => {
    const from = endMs - data.config.recentMatchHours * HOUR;
    expect(data.recentMatchEvents).toHaveLength(data.matchEvents.filter((m) => m.event_time >= from).length);
    const mapper = new EventMapper(defs.get('azar-match::recent-matches')!, () => endMs);
    expect(mapper.topic).toBe(sampleEventTopics.match);
    const country = new Map(data.users.map((r) => [r.user_id, r.country_code]));
    for (const e of data.recentMatchEvents) {
      const [o] = mapper.map(e);
      if (o === undefined || !('command' in o)) throw new Error(`not mapped: ${JSON.stringify(o)}`);
      expect(o.command.method).toBe('APPEND');
      expect(o.command.values.peer_country_code).toBe(country.get(e.peerUserId));
      expect(o.command.values.chat_duration_sec).toBe(e.chat_duration);
    }
  });

  it('compute match-feature over 10-minute hopping windows: count, average chat time, MAX(ROWTIME)', () => {
    const updates = data.commands.filter((c) => c.feature_name === 'azar-match::match-feature');
    for (const u of updates.slice(0, 20)) {
      const t = u.values._last_updated_at_ms;
      // the window that emitted it ends on a minute boundary after t, at most 10 minutes later
      const candidates = data.matchEvents.filter(
        (m) => m.user_id === u.keys.user_id && m.event_time <= t && m.event_time > t - 10 * 60_000,
      );
      expect(candidates.length).toBeGreaterThanOrEqual(u.values.recent_10min_match_count as number);
      expect(candidates.some((m) => m.event_time === t)).toBe(true);
    }
  });
});

describe('in the offline store', () => {
  let dir: string;
  let store: DuckDbOfflineStore;
  const config = resolveSampleOptions({ users: 300, endMs, seed: 5 });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ferry-sample-data-'));
    store = await DuckDbOfflineStore.open({ path: path.join(dir, 'offline.duckdb'), sqlDir: 'sql' });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the raw tables in chunks, and the sample transforms run on them unchanged', async () => {
    const generated = generateSampleData(config);
    const counts = await loadSampleSources(store, config, { chunkRows: 1_000 });
    expect(counts).toEqual({
      raw_users: generated.users.length,
      raw_match_events: generated.matchEvents.length,
      raw_lounge_events: generated.loungeEvents.length,
    });
    const params = {
      logicalDate: sampleLogicalDateOf(config),
      windowStart: Date.UTC(2000, 0, 1),
      windowEnd: config.endMs,
    };
    for (const t of [
      'azar/user_profile.sql',
      'azar-lounge/user_interaction.sql',
      'azar-lounge/user_stats.sql',
    ]) {
      const r = await store.runTransform(t, params);
      expect(r.rowsWritten, t).toBeGreaterThan(0);
    }
    // the profiles the transform computes are the ones the generator gives benchmarks
    const rows = await store.readRows('azar__user_profile__upsync', { orderBy: ['user_id'] });
    expect(rows).toHaveLength(300);
    const writes = [...sampleUserProfileWrites(config, new SamplePopulation(config))];
    for (const [i, w] of writes.entries()) {
      const r = rows[i]!;
      expect(r.user_id).toBe(w.keys.user_id);
      expect({
        ...r,
        avg_chat_sec: r.avg_chat_sec === null ? null : Number((r.avg_chat_sec as number).toFixed(6)),
      }).toEqual({
        user_id: w.keys.user_id,
        ...w.values,
        avg_chat_sec:
          w.values.avg_chat_sec === null ? null : Number((w.values.avg_chat_sec as number).toFixed(6)),
        _last_updated_at_ms: w.eventTimeMs,
      });
    }
    // a 7-day window sees only its week of lounge events
    const interaction = await store.readRows('azar_lounge__user_interaction__upsync', { limit: 5 });
    expect(interaction.length).toBeGreaterThan(0);
    expect(config.endMs - periodStartMs(config)).toBe(30 * DAY);
  });
});
