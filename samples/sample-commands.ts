import { Rng } from './random.ts';
import { type MatchRow, sampleMatchRows } from './sample-events.ts';
import { DAY, HOUR, MINUTE, periodStartMs, type SampleConfig } from './sample-options.ts';
import type { SamplePopulation } from './sample-users.ts';
import { sampleUserId } from './sample-users.ts';

/**
 * A feature command in the shape producers send over Kafka and the push endpoint
 * (test/fixtures/seed-commands.ts): `{feature_name, method, keys{...}, values{..., _last_updated_at_ms}}`.
 */
export interface SampleCommand {
  feature_name: string;
  method: 'UPDATE' | 'APPEND' | 'DELETE';
  keys: Record<string, string | number>;
  values: Record<string, unknown> & { _last_updated_at_ms: number };
}

/** A command with the time its producer sends it (the event time, or a window's end for windowed aggregates). */
export interface TimedCommand {
  sentAtMs: number;
  command: SampleCommand;
}

/** A live-room domain event, as the live service publishes it (the seed post's `live_room_event`). */
export interface LiveRoomEvent {
  liveRoomId: string;
  userId: number;
  participantType: 'HOST' | 'GUEST';
  eventType: 'ENTRANCE' | 'LEAVE';
  timestampMillis: number;
}

/** A live room of the sample. */
export interface SampleLiveRoom {
  liveRoomId: string;
  hostUserId: number;
  startMs: number;
  /** When the host ends the broadcast (may be at or after endMs: still on air). */
  endMs: number;
}

/** The Kafka topics of the product's domain events that features read (their from_events). */
export const sampleEventTopics = {
  liveRoom: 'live_room_event',
  match: 'azar_match_event',
  login: 'azar_user_login',
} as const;

/** A login of a user, as the account backend publishes it (the seed's "lifetime login count"). */
export interface LoginEvent {
  loginId: string;
  userId: number;
  platform: 'ios' | 'android' | 'web';
  timestampMillis: number;
}

/**
 * Logins of the last `recentMatchHours`, by time: each user draws a few by activity (users who
 * signed up later than a login's time do not log in then).
 */
export function sampleLoginEvents(config: SampleConfig, population: SamplePopulation): LoginEvent[] {
  const from = config.endMs - config.recentMatchHours * HOUR;
  const rng = Rng.derive(config.seed, 'logins');
  const platforms = ['ios', 'android', 'web'] as const;
  const out: LoginEvent[] = [];
  const total = Math.round(population.size * 1.5);
  for (let k = 0; k < total; k++) {
    const index = population.pick(rng);
    const t = Math.floor(from + rng.next() * (config.endMs - from - 1));
    if (population.signupMs[index]! > t) continue;
    out.push({
      loginId: `l${k}`,
      userId: sampleUserId(index),
      platform: platforms[rng.int(0, 2)]!,
      timestampMillis: t,
    });
  }
  return out.sort((a, b) => a.timestampMillis - b.timestampMillis || a.loginId.localeCompare(b.loginId));
}

/** One participant's side of a 1:1 match, as the match backend publishes it (the seed's `azar_match_event`). */
export interface MatchEvent {
  matchId: string;
  userId: number;
  peerUserId: number;
  /** Seconds of video chat. */
  chat_duration: number;
  peerCountryCode: string;
  timestampMillis: number;
}

/** Feature names the commands use (the seed's feature definitions in features/). */
export const sampleCommandFeatures = {
  liveRoomContext: 'live::live-room-context',
  realtimeRoomContext: 'live::realtime-room-context',
  recentMatches: 'azar-match::recent-matches',
  matchFeature: 'azar-match::match-feature',
} as const;

const visionTags = [
  'talk',
  'music',
  'dance',
  'game',
  'outdoor',
  'cooking',
  'pet',
  'study',
  'beauty',
  'travel',
];

function pickTags(rng: Rng): string[] {
  const n = rng.int(1, 3);
  const out = new Set<string>();
  while (out.size < n) out.add(rng.pick(visionTags));
  return [...out].sort();
}

/** Count drawn around a mean (Poisson for small means, normal beyond). */
function countAround(rng: Rng, mean: number): number {
  if (mean < 30) return rng.poisson(mean);
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * rng.normal()));
}

export interface LiveRoomSample {
  rooms: SampleLiveRoom[];
  /** Host and guest entrances and leaves, by time. */
  events: LiveRoomEvent[];
  /**
   * Commands, by send time (here their event time): live::realtime-room-context from a stream
   * job's view of each room: the host and tags when it goes on air, has_guest on guest changes,
   * viewers and gifts every two minutes, a DELETE when the broadcast ends. (live::live-room-context
   * is fed by the events themselves: its from_events rules are the seed's statements 2-1 and 2-2.)
   */
  commands: TimedCommand[];
}

/** The live rooms of the last `liveHours`: who hosts, guests coming and going, viewers and gifts. */
export function sampleLiveRooms(config: SampleConfig, population: SamplePopulation): LiveRoomSample {
  const rng = Rng.derive(config.seed, 'live');
  const rooms: SampleLiveRoom[] = [];
  const events: LiveRoomEvent[] = [];
  const timed: { t: number; seq: number; command: SampleCommand }[] = [];
  let seq = 0;
  const push = (t: number, command: SampleCommand) => timed.push({ t, seq: seq++, command });
  const span = config.liveHours * HOUR;
  for (let r = 0; r < config.liveRooms; r++) {
    const liveRoomId = `room-${r + 1}`;
    const startMs = Math.floor(config.endMs - 5 * MINUTE - rng.next() * Math.max(0, span - 5 * MINUTE));
    const host = population.partner(rng, -1, startMs, 0) ?? population.pick(rng);
    const hostUserId = sampleUserId(host);
    const duration = Math.min(6 * HOUR, Math.max(10 * MINUTE, rng.logNormal(75 * MINUTE, 0.6)));
    const endMs = Math.floor(startMs + duration);
    rooms.push({ liveRoomId, hostUserId, startMs, endMs });
    const until = Math.min(endMs, config.endMs);
    const realtime = (t: number, method: SampleCommand['method'], values: Record<string, unknown>) =>
      push(t, {
        feature_name: sampleCommandFeatures.realtimeRoomContext,
        method,
        keys: { live_room_id: liveRoomId },
        values: { ...values, _last_updated_at_ms: t },
      });

    let tags = pickTags(rng);
    events.push({
      liveRoomId,
      userId: hostUserId,
      participantType: 'HOST',
      eventType: 'ENTRANCE',
      timestampMillis: startMs,
    });
    realtime(startMs, 'UPDATE', {
      host_user_id: String(hostUserId),
      has_guest: false,
      viewer_count: 0,
      recent_10min_gift_count: 0,
      vision_tags: tags,
    });

    // guests, one at a time on stage
    let t = Math.floor(startMs + rng.exp(12 * MINUTE));
    while (t < until) {
      const guest = population.partner(rng, host, t, 0.5);
      if (guest === undefined) break;
      const guestId = sampleUserId(guest);
      events.push({
        liveRoomId,
        userId: guestId,
        participantType: 'GUEST',
        eventType: 'ENTRANCE',
        timestampMillis: t,
      });
      realtime(t, 'UPDATE', { has_guest: true });
      const leave = Math.min(endMs - 1_000, Math.floor(t + 30_000 + rng.exp(7 * MINUTE)));
      if (leave >= config.endMs) break; // still on stage
      events.push({
        liveRoomId,
        userId: guestId,
        participantType: 'GUEST',
        eventType: 'LEAVE',
        timestampMillis: leave,
      });
      realtime(leave, 'UPDATE', { has_guest: false });
      t = Math.floor(leave + rng.exp(12 * MINUTE));
    }

    // the stream job's view every two minutes: viewers (a random walk around the room's pull), gifts
    const pull = rng.logNormal(35, 1);
    let viewers = Math.max(1, Math.round(pull * 0.3));
    for (let s = startMs + 2 * MINUTE; s < until; s += 2 * MINUTE) {
      viewers = Math.max(0, Math.round(viewers + (pull - viewers) * 0.3 + Math.sqrt(pull) * rng.normal()));
      if (rng.chance(0.08)) tags = pickTags(rng);
      realtime(s, 'UPDATE', {
        viewer_count: viewers,
        recent_10min_gift_count: countAround(rng, viewers * 0.15),
        vision_tags: tags,
      });
    }
    if (endMs < config.endMs) {
      events.push({
        liveRoomId,
        userId: hostUserId,
        participantType: 'HOST',
        eventType: 'LEAVE',
        timestampMillis: endMs,
      });
      realtime(endMs, 'DELETE', {});
    }
  }
  events.sort((a, b) => a.timestampMillis - b.timestampMillis);
  timed.sort((a, b) => a.t - b.t || a.seq - b.seq);
  return { rooms, events, commands: timed.map((x) => ({ sentAtMs: x.t, command: x.command })) };
}

/**
 * The match backend's events of the last `recentMatchHours`, one per participant, by time: what
 * azar-match::recent-matches reads (its from_events rule is the mapping of the seed's example 3).
 */
export function sampleMatchEvents(config: SampleConfig, population: SamplePopulation): MatchEvent[] {
  const recentFrom = config.endMs - config.recentMatchHours * HOUR;
  const out: MatchEvent[] = [];
  for (const e of sampleMatchEventLog(config, population)) if (e.timestampMillis >= recentFrom) out.push(e);
  return out.sort(
    (a, b) =>
      a.timestampMillis - b.timestampMillis ||
      Number(a.matchId.slice(1)) - Number(b.matchId.slice(1)) ||
      a.userId - b.userId,
  );
}

/**
 * Every match event of the sample period as the match backend published it (one per participant),
 * in generation order: what a Kafka sink keeps in the warehouse (`raw_azar_match_event`), from
 * which `ferry events backfill` gives azar-match::match-stats its history.
 */
export function* sampleMatchEventLog(
  config: SampleConfig,
  population: SamplePopulation,
): Generator<MatchEvent> {
  const countryOf = (userId: number) => population.countryCode(userId - sampleUserId(0));
  for (const m of sampleMatchRows(config, population)) {
    yield {
      matchId: m.match_id,
      userId: m.user_id,
      peerUserId: m.peer_user_id,
      chat_duration: m.chat_duration_sec,
      peerCountryCode: countryOf(m.peer_user_id),
      timestampMillis: m.event_time,
    };
  }
}

/** Logins per user per day before the recent hours (the recent hours have their own, busier ones). */
const olderLoginsPerUserDay = 0.3;

/**
 * Every login of the sample period (`raw_azar_user_login` in the warehouse): the older ones, a few
 * per user per month, then exactly the recent ones `sampleLoginEvents` pushes live.
 */
export function* sampleLoginLog(config: SampleConfig, population: SamplePopulation): Generator<LoginEvent> {
  const start = periodStartMs(config);
  const recentFrom = Math.max(start, config.endMs - config.recentMatchHours * HOUR);
  const rng = Rng.derive(config.seed, 'logins-older');
  const platforms = ['ios', 'android', 'web'] as const;
  const total = Math.round(population.size * olderLoginsPerUserDay * ((recentFrom - start) / DAY));
  for (let k = 0; k < total; k++) {
    const index = population.pick(rng);
    const t = Math.floor(start + rng.next() * (recentFrom - start - 1));
    if (population.signupMs[index]! > t) continue;
    yield {
      loginId: `o${k}`,
      userId: sampleUserId(index),
      platform: platforms[rng.int(0, 2)]!,
      timestampMillis: t,
    };
  }
  yield* sampleLoginEvents(config, population);
}

/**
 * Commands from the recent matches, by send time: azar-match::match-feature UPDATE from the seed's ksqlDB example 3: hopping windows of 10
 * minutes advancing by 1 minute, EMIT FINAL, for the windows ending in the last
 * `matchWindowMinutes` minutes: per user, COUNT(*), AVG(chat_duration) and MAX(ROWTIME), sent
 * when the window closes (so its event time is before its send time).
 */
export function sampleMatchCommands(config: SampleConfig, population: SamplePopulation): TimedCommand[] {
  const lastWindowEnd = Math.floor(config.endMs / MINUTE) * MINUTE;
  const windowFrom = lastWindowEnd - (config.matchWindowMinutes - 1) * MINUTE - 10 * MINUTE;
  const windowed: MatchRow[] = [];
  for (const m of sampleMatchRows(config, population)) {
    if (config.matchWindowMinutes > 0 && m.event_time >= windowFrom) windowed.push(m);
  }
  const byTime = (a: MatchRow, b: MatchRow) =>
    a.event_time - b.event_time ||
    Number(a.match_id.slice(1)) - Number(b.match_id.slice(1)) ||
    a.user_id - b.user_id;
  windowed.sort(byTime);
  const timed: { t: number; seq: number; command: SampleCommand }[] = [];
  let seq = 0;
  for (let k = config.matchWindowMinutes - 1; k >= 0; k--) {
    const w = lastWindowEnd - k * MINUTE;
    const perUser = new Map<number, { count: number; sum: number; max: number }>();
    for (const m of windowed) {
      if (m.event_time < w - 10 * MINUTE || m.event_time >= w) continue;
      const s = perUser.get(m.user_id) ?? { count: 0, sum: 0, max: 0 };
      s.count++;
      s.sum += m.chat_duration_sec;
      s.max = Math.max(s.max, m.event_time);
      perUser.set(m.user_id, s);
    }
    for (const [user_id, s] of [...perUser].sort((a, b) => a[0] - b[0])) {
      timed.push({
        t: w,
        seq: seq++,
        command: {
          feature_name: sampleCommandFeatures.matchFeature,
          method: 'UPDATE',
          keys: { user_id },
          values: {
            recent_10min_match_count: s.count,
            recent_10min_avg_chat_duration: Math.round((s.sum / s.count) * 100) / 100,
            _last_updated_at_ms: s.max,
          },
        },
      });
    }
  }
  timed.sort((a, b) => a.t - b.t || a.seq - b.seq);
  return timed.map((x) => ({ sentAtMs: x.t, command: x.command }));
}
