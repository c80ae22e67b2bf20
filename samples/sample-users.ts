import { cumulativeOf, Rng } from './random.ts';
import { DAY, HOUR, MINUTE, periodStartMs, type SampleConfig } from './sample-options.ts';

/** Countries of the sample users, their share and main language (Azar's markets, roughly). */
export const sampleCountries: readonly { code: string; language: string; share: number }[] = [
  { code: 'KR', language: 'ko', share: 0.1 },
  { code: 'US', language: 'en', share: 0.1 },
  { code: 'JP', language: 'ja', share: 0.09 },
  { code: 'TR', language: 'tr', share: 0.09 },
  { code: 'IN', language: 'hi', share: 0.08 },
  { code: 'ID', language: 'id', share: 0.08 },
  { code: 'BR', language: 'pt', share: 0.07 },
  { code: 'VN', language: 'vi', share: 0.05 },
  { code: 'EG', language: 'ar', share: 0.05 },
  { code: 'PH', language: 'tl', share: 0.05 },
  { code: 'MX', language: 'es', share: 0.05 },
  { code: 'SA', language: 'ar', share: 0.04 },
  { code: 'TH', language: 'th', share: 0.04 },
  { code: 'DE', language: 'de', share: 0.04 },
  { code: 'GB', language: 'en', share: 0.04 },
  { code: 'FR', language: 'fr', share: 0.03 },
];
const countryCumulative = cumulativeOf(sampleCountries.map((c) => c.share));

/** The first user id; user `i` (0-based) has id `firstSampleUserId + i`. */
export const firstSampleUserId = 1001;

export function sampleUserId(index: number): number {
  return firstSampleUserId + index;
}

/** A change of a user's profile (a row of raw_users, CDC style). */
export interface ProfileChange {
  atMs: number;
  level: number;
}

/** One generated user. */
export interface SampleUser {
  index: number;
  user_id: number;
  gender: 'M' | 'F';
  country_code: string;
  language_code: string;
  birth_year: number;
  /** Sign-up time: the first profile row. */
  signupMs: number;
  /** Relative activity (log-normal): how often the user matches, browses the lounge, hosts. */
  activity: number;
  /** Profile rows, oldest first: the sign-up, then level changes (strictly increasing times). */
  changes: ProfileChange[];
}

/**
 * User `index` of the sample: a pure function of the seed and the index, so that any user can be
 * looked at without generating the others.
 */
export function sampleUser(config: SampleConfig, index: number): SampleUser {
  const rng = Rng.derive(config.seed, 'user', index);
  const gender = rng.chance(0.62) ? 'M' : 'F';
  const country = sampleCountries[rng.pickCumulative(countryCumulative)]!;
  const endYear = new Date(config.endMs - 1).getUTCFullYear();
  const age = 18 + Math.min(47, Math.floor(rng.exp(7)));
  const birth_year = endYear - age;
  const start = periodStartMs(config);
  // most users signed up before the period (up to three years), some during it
  const signupMs = rng.chance(0.85)
    ? Math.floor(start - Math.min(3 * 365 * DAY, rng.exp(300 * DAY)) - rng.int(1, DAY))
    : Math.floor(start + rng.next() * (config.endMs - start - HOUR));
  const activity = rng.logNormal(1, 0.9);
  let level = 1 + Math.min(39, Math.floor(rng.exp(4)));
  const changes: ProfileChange[] = [{ atMs: signupMs, level }];
  const from = Math.max(signupMs + MINUTE, start);
  const n = Math.min(4, rng.poisson(0.3 + 0.4 * Math.min(activity, 3)));
  const times: number[] = [];
  for (let k = 0; k < n; k++) times.push(Math.floor(from + rng.next() * (config.endMs - from)));
  times.sort((a, b) => a - b);
  let last = signupMs;
  for (const t of times) {
    const at = Math.max(t, last + 1);
    if (at >= config.endMs) break;
    level = Math.min(60, level + rng.int(1, 3));
    changes.push({ atMs: at, level });
    last = at;
  }
  return {
    index,
    user_id: sampleUserId(index),
    gender,
    country_code: country.code,
    language_code: country.language,
    birth_year,
    signupMs,
    activity,
    changes,
  };
}

/**
 * What the event generators need of every user, in flat arrays (a million users take ~30 MB):
 * activity-weighted sampling, sign-up times, gender and country.
 */
export class SamplePopulation {
  readonly size: number;
  readonly cumulativeActivity: Float64Array;
  readonly signupMs: Float64Array;
  /** 0 male, 1 female. */
  readonly gender: Uint8Array;
  /** Index into sampleCountries. */
  readonly country: Uint8Array;

  constructor(readonly config: SampleConfig) {
    const n = config.users;
    this.size = n;
    const activity = new Float64Array(n);
    this.signupMs = new Float64Array(n);
    this.gender = new Uint8Array(n);
    this.country = new Uint8Array(n);
    const countryIndex = new Map(sampleCountries.map((c, i) => [c.code, i]));
    for (let i = 0; i < n; i++) {
      const u = sampleUser(config, i);
      activity[i] = u.activity;
      this.signupMs[i] = u.signupMs;
      this.gender[i] = u.gender === 'M' ? 0 : 1;
      this.country[i] = countryIndex.get(u.country_code)!;
    }
    this.cumulativeActivity = cumulativeOf(activity);
  }

  /** A user drawn by activity. */
  pick(rng: Rng): number {
    return rng.pickCumulative(this.cumulativeActivity);
  }

  /**
   * A partner for `index` at time `t`: drawn by activity, another user, signed up before `t`,
   * usually (with probability `opposite`) of the other gender. Undefined when none is found in a
   * few draws.
   */
  partner(rng: Rng, index: number, t: number, opposite: number): number | undefined {
    const wantOther = rng.chance(opposite);
    let fallback: number | undefined;
    for (let tries = 0; tries < 8; tries++) {
      const j = this.pick(rng);
      if (j === index || this.signupMs[j]! >= t) continue;
      if (!wantOther || this.gender[j] !== this.gender[index]) return j;
      fallback ??= j;
    }
    return fallback;
  }

  countryCode(index: number): string {
    return sampleCountries[this.country[index]!]!.code;
  }
}

/** Share of activity by UTC hour: a peak around 13:00 UTC (evening in Asia, morning in the Americas). */
function hourWeight(t: number): number {
  const h = (t % DAY) / HOUR;
  return 0.35 + 0.65 * ((1 + Math.cos((2 * Math.PI * (h - 13)) / 24)) / 2);
}

/** A time in [from, to), denser at busy hours. */
export function busyTime(rng: Rng, from: number, to: number): number {
  let t = from;
  for (let tries = 0; tries < 4; tries++) {
    t = Math.floor(from + rng.next() * (to - from));
    if (rng.next() < hourWeight(t)) return t;
  }
  return t;
}

/** Rows of raw_users: every profile row of every user, by user then time. */
export function* sampleUserRows(config: SampleConfig): Generator<Record<string, unknown>> {
  for (let i = 0; i < config.users; i++) {
    const u = sampleUser(config, i);
    for (const c of u.changes) {
      yield {
        user_id: u.user_id,
        gender: u.gender,
        country_code: u.country_code,
        birth_year: u.birth_year,
        level: c.level,
        updated_at: c.atMs,
      };
    }
  }
}
