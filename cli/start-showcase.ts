import type { LiveRoomEvent, SampleLiveRoom } from '../samples/sample-commands.ts';
import { sampleLoungeRows, sampleMatchRows } from '../samples/sample-events.ts';
import { HOUR, type SampleConfig } from '../samples/sample-options.ts';
import { type SamplePopulation, sampleUserId } from '../samples/sample-users.ts';

// What `ferry start` shows a newcomer: three lookups that return real values of the sample data
// (a profile from the batch upsync, a batch lookup mixing an upsynced and a command-fed feature,
// a real-time room context), printed as curl lines and checked before the ready line.

export interface Showcase {
  /** A user with many matches, recent ones among them. */
  userId: number;
  /** The user's latest match partners. */
  peerIds: number[];
  /** A live room still on air at the end of the data, with a guest on stage when one has. */
  roomId: string;
}

/** Picks the showcase keys from the generated data (deterministic for a given sample). */
export function chooseShowcase(
  config: SampleConfig,
  population: SamplePopulation,
  rooms: readonly SampleLiveRoom[],
  events: readonly LiveRoomEvent[],
): Showcase {
  const candidates = Math.min(config.users, 500);
  const firstId = sampleUserId(0);
  const recentFrom = config.endMs - config.recentMatchHours * HOUR;
  const total = new Uint32Array(candidates);
  const recent = new Uint32Array(candidates);
  const peers = new Map<number, { t: number; peer: number }[]>();
  for (const m of sampleMatchRows(config, population)) {
    const i = m.user_id - firstId;
    if (i >= candidates) continue;
    total[i]!++;
    if (m.event_time >= recentFrom) recent[i]!++;
    const list = peers.get(i) ?? [];
    list.push({ t: m.event_time, peer: m.peer_user_id });
    peers.set(i, list);
  }
  // lounge likes and profile views sent or received in the last 7 days (what user-interaction counts)
  const lounge = new Uint32Array(candidates);
  const weekFrom = config.endMs - 7 * 24 * HOUR;
  for (const e of sampleLoungeRows(config, population)) {
    if (e.event_time < weekFrom || (e.event_type !== 'like' && e.event_type !== 'profile_view')) continue;
    for (const id of [e.user_id, e.target_user_id]) {
      const i = id - firstId;
      if (i < candidates) lounge[i]!++;
    }
  }
  // the busiest recent matcher among those with lounge activity this week (any user if none has)
  const key = (i: number) => [lounge[i]! > 0 ? 1 : 0, recent[i]!, lounge[i]!, total[i]!];
  let best = 0;
  for (let i = 1; i < candidates; i++) {
    const a = key(i);
    const b = key(best);
    const k = a.findIndex((x, j) => x !== b[j]);
    if (k >= 0 && a[k]! > b[k]!) best = i;
  }
  const latest = (peers.get(best) ?? []).sort((a, b) => b.t - a.t || a.peer - b.peer);
  const peerIds = [...new Set(latest.map((p) => p.peer))].slice(0, 2);

  // what live-room-context's rules make of the events: the last guest entrance or leave wins
  const guest = new Map<string, boolean>();
  for (const e of [...events].sort((a, b) => a.timestampMillis - b.timestampMillis)) {
    if (e.participantType === 'GUEST') guest.set(e.liveRoomId, e.eventType === 'ENTRANCE');
  }
  const onAir = rooms.filter((r) => r.endMs >= config.endMs);
  const room = onAir.find((r) => guest.get(r.liveRoomId) === true) ?? onAir[0] ?? rooms[0];
  return { userId: sampleUserId(best), peerIds, roomId: room?.liveRoomId ?? 'room-1' };
}

export interface ShowcaseRequest {
  /** What it shows, for people. */
  what: string;
  method: 'GET' | 'POST';
  url: string;
  body?: string;
}

/** The three lookups, against the reader at `baseUrl`. */
export function showcaseRequests(baseUrl: string, s: Showcase): ShowcaseRequest[] {
  const group = [s.userId, ...s.peerIds];
  return [
    {
      what: `the profile of user ${s.userId} (azar::user-profile, upsynced from the offline store)`,
      method: 'GET',
      url: `${baseUrl}/v1/features/azar::user-profile/${s.userId}`,
    },
    {
      what: `lounge stats of user ${s.userId} and their last match partners, their 3 latest matches and their match counts over sliding windows (batch lookup; recent-matches and match-stats are fed by match events)`,
      method: 'POST',
      url: `${baseUrl}/v1/features/lookup`,
      body: JSON.stringify({
        requests: [
          { feature: 'azar-lounge::user-interaction', keys: group },
          { feature: 'azar-match::recent-matches', keys: [s.userId], limit: 3 },
          {
            feature: 'azar-match::match-stats',
            keys: [s.userId],
            fields: [
              'recent_10min_match_count',
              'match_count_1h',
              'avg_chat_duration_30d',
              'match_count_lifetime',
            ],
          },
        ],
      }),
    },
    {
      what: `whether ${s.roomId} has a guest on stage right now (live::live-room-context, fed by live-room events)`,
      method: 'GET',
      url: `${baseUrl}/v1/features/live::live-room-context/${s.roomId}`,
    },
  ];
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The request as one curl line (what people paste into a terminal). */
export function curlLine(r: ShowcaseRequest, token: string): string {
  const parts = ['curl -s', `-H ${shellQuote(`Authorization: Bearer ${token}`)}`];
  if (r.body !== undefined) {
    parts.push(`-H ${shellQuote('Content-Type: application/json')}`, `-d ${shellQuote(r.body)}`);
  }
  parts.push(shellQuote(r.url));
  return parts.join(' ');
}

/** A push of one command through the reader (the curl line printed as an example). */
export function pushRequest(
  baseUrl: string,
  roomId: string,
  hasGuest: boolean,
  atMs: number,
): ShowcaseRequest {
  return {
    what: `tell Ferry that ${roomId} ${hasGuest ? 'has' : 'no longer has'} a guest (push endpoint, the Kafka command shape)`,
    method: 'POST',
    url: `${baseUrl}/v1/commands`,
    body: JSON.stringify({
      feature_name: 'live-room-context',
      method: 'UPDATE',
      keys: { live_room_id: roomId },
      values: { has_guest: hasGuest, _last_updated_at_ms: atMs },
    }),
  };
}

/** Sends a request with the token; returns status and parsed body. */
export async function send(
  r: ShowcaseRequest,
  token: string,
  timeoutMs = 10_000,
): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(r.url, {
    method: r.method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(r.body !== undefined ? { body: r.body } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, text };
}
