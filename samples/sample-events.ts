import { Rng } from './random.ts';
import { HOUR, MINUTE, periodStartMs, type SampleConfig } from './sample-options.ts';
import { busyTime, type SamplePopulation, sampleUserId } from './sample-users.ts';

/** One participant's row of a 1:1 match (raw_match_events): each match gives two rows. */
export interface MatchRow {
  match_id: string;
  user_id: number;
  peer_user_id: number;
  chat_duration_sec: number;
  /** Epoch ms. */
  event_time: number;
}

/** A lounge action (raw_lounge_events). */
export interface LoungeRow {
  event_id: string;
  user_id: number;
  target_user_id: number;
  event_type: 'impression' | 'click' | 'profile_view' | 'like';
  /** Epoch ms. */
  event_time: number;
}

/** How long a 1:1 video chat lasts: many skips within seconds, most a minute or two, some long talks. */
function chatDuration(rng: Rng): number {
  const r = rng.next();
  const s = r < 0.4 ? rng.int(1, 10) : r < 0.88 ? rng.logNormal(55, 0.7) : rng.logNormal(420, 0.8);
  return Math.max(1, Math.min(3600, Math.round(s)));
}

/** Number of matches generated: users × matchesPerUser / 2 (two participants each). */
export function sampleMatchCount(config: SampleConfig): number {
  return Math.round((config.users * config.matchesPerUser) / 2);
}

/**
 * Rows of raw_match_events, two per match (`m1`, `m2`, ...), in match order (not time order).
 * Partners are drawn by activity, signed up before the match, mostly of the other gender.
 */
export function* sampleMatchRows(config: SampleConfig, population: SamplePopulation): Generator<MatchRow> {
  const rng = Rng.derive(config.seed, 'matches');
  const start = periodStartMs(config);
  const n = sampleMatchCount(config);
  for (let j = 0; j < n; j++) {
    const a = population.pick(rng);
    const from = Math.max(start, population.signupMs[a]! + MINUTE);
    const t = busyTime(rng, from, config.endMs);
    const b = population.partner(rng, a, t, 0.75);
    const duration = chatDuration(rng);
    if (b === undefined) continue;
    const match_id = `m${j + 1}`;
    const ua = sampleUserId(a);
    const ub = sampleUserId(b);
    yield { match_id, user_id: ua, peer_user_id: ub, chat_duration_sec: duration, event_time: t };
    yield { match_id, user_id: ub, peer_user_id: ua, chat_duration_sec: duration, event_time: t };
  }
}

/** Number of lounge events aimed at: users × loungeEventsPerUser. */
export function sampleLoungeTarget(config: SampleConfig): number {
  return Math.round(config.users * config.loungeEventsPerUser);
}

/**
 * Rows of raw_lounge_events (`e1`, `e2`, ...), session by session: a user browses a few cards
 * (impressions), clicks some, views a profile, likes; a liked user sometimes likes back hours later.
 */
export function* sampleLoungeRows(config: SampleConfig, population: SamplePopulation): Generator<LoungeRow> {
  const rng = Rng.derive(config.seed, 'lounge');
  const start = periodStartMs(config);
  const target = sampleLoungeTarget(config);
  let n = 0;
  const row = (user: number, to: number, event_type: LoungeRow['event_type'], t: number): LoungeRow => ({
    event_id: `e${++n}`,
    user_id: sampleUserId(user),
    target_user_id: sampleUserId(to),
    event_type,
    event_time: t,
  });
  // a guard for tiny populations where partners are rare: stop after this many sessions
  for (let session = 0; n < target && session < 10 * target + 1_000; session++) {
    const u = population.pick(rng);
    let t = busyTime(rng, Math.max(start, population.signupMs[u]! + MINUTE), config.endMs);
    const cards = 1 + rng.poisson(3);
    for (let k = 0; k < cards && n < target; k++) {
      t += rng.int(2_000, 15_000);
      if (t >= config.endMs) break;
      const v = population.partner(rng, u, t, 0.8);
      if (v === undefined) continue;
      yield row(u, v, 'impression', t);
      let at = t;
      const clicked = rng.chance(0.12);
      if (clicked) {
        at += rng.int(500, 4_000);
        if (at < config.endMs) yield row(u, v, 'click', at);
      }
      const viewed = rng.chance(clicked ? 0.55 : 0.02);
      if (viewed) {
        at += rng.int(1_000, 10_000);
        if (at < config.endMs) yield row(u, v, 'profile_view', at);
      }
      if (rng.chance(viewed ? 0.3 : 0.05)) {
        at += rng.int(1_000, 20_000);
        if (at < config.endMs) {
          yield row(u, v, 'like', at);
          if (rng.chance(0.35)) {
            const back = Math.floor(at + rng.exp(4 * HOUR));
            if (back < config.endMs) yield row(v, u, 'like', back);
          }
        }
      }
      t = at;
    }
  }
}
