/**
 * The size and shape of the generated sample data. Everything the generator produces is a pure
 * function of the resolved options: the same options give the same rows, in the same order.
 */
export interface SampleDataOptions {
  /** Users (ids 1001, 1002, ...). Default 15,000. */
  users?: number;
  /** Seed of every random choice. Default 7. */
  seed?: number;
  /**
   * Exclusive end of the generated time range, epoch ms: every event happens before it, and the
   * real-time commands fall in the hours just before it. Default 2024-03-11T00:00:00Z (the end of
   * the sample logical date of samples/sample-sources.ts); `ferry start` uses the time it
   * starts at, floored to the minute.
   */
  endMs?: number;
  /** Days of match and lounge events before endMs. Default 30. */
  days?: number;
  /** Average matches a user takes part in over the days (two participants per match). Default 6. */
  matchesPerUser?: number;
  /** Average lounge events (impressions, clicks, profile views, likes) per user. Default 8. */
  loungeEventsPerUser?: number;
  /** Live rooms that go on air in the last `liveHours`. Default: one per 100 users, at least 3. */
  liveRooms?: number;
  /** Hours before endMs in which live rooms start. Default 3. */
  liveHours?: number;
  /** Matches in these hours before endMs are also sent as recent-matches commands. Default 24. */
  recentMatchHours?: number;
  /** Hopping windows (10 min, advancing by 1 min) ending in these last minutes emit match-feature commands. Default 15. */
  matchWindowMinutes?: number;
}

export type SampleConfig = Required<SampleDataOptions>;

/** 2024-03-11T00:00:00Z: the end of the logical date 2024-03-10 of the hand-written sample rows. */
export const defaultSampleEndMs = Date.UTC(2024, 2, 11);

export const sampleDefaults = {
  users: 15_000,
  seed: 7,
  days: 30,
  matchesPerUser: 6,
  loungeEventsPerUser: 8,
  liveHours: 3,
  recentMatchHours: 24,
  matchWindowMinutes: 15,
} as const;

const positive = (name: string, v: number, integer: boolean, min = 0) => {
  if (!Number.isFinite(v) || v < min || (integer && !Number.isSafeInteger(v))) {
    throw new RangeError(
      `sample data: ${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${v}`,
    );
  }
  return v;
};

/** Fills in the defaults and checks every option. */
export function resolveSampleOptions(options: SampleDataOptions = {}): SampleConfig {
  const users = positive('users', options.users ?? sampleDefaults.users, true, 2);
  return {
    users,
    seed: positive('seed', options.seed ?? sampleDefaults.seed, true),
    endMs: positive('endMs', options.endMs ?? defaultSampleEndMs, true, Date.UTC(2001, 0, 1)),
    days: positive('days', options.days ?? sampleDefaults.days, true, 1),
    matchesPerUser: positive(
      'matchesPerUser',
      options.matchesPerUser ?? sampleDefaults.matchesPerUser,
      false,
    ),
    loungeEventsPerUser: positive(
      'loungeEventsPerUser',
      options.loungeEventsPerUser ?? sampleDefaults.loungeEventsPerUser,
      false,
    ),
    liveRooms: positive('liveRooms', options.liveRooms ?? Math.max(3, Math.round(users / 100)), true),
    liveHours: positive('liveHours', options.liveHours ?? sampleDefaults.liveHours, false, 0.25),
    recentMatchHours: positive(
      'recentMatchHours',
      options.recentMatchHours ?? sampleDefaults.recentMatchHours,
      false,
    ),
    matchWindowMinutes: positive(
      'matchWindowMinutes',
      options.matchWindowMinutes ?? sampleDefaults.matchWindowMinutes,
      true,
    ),
  };
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Start of the event period: `days` before endMs. */
export function periodStartMs(config: SampleConfig): number {
  return config.endMs - config.days * DAY;
}

/** The UTC date of the last millisecond before endMs (`YYYY-MM-DD`): the logical date of a run over the data. */
export function sampleLogicalDateOf(config: Pick<SampleConfig, 'endMs'>): string {
  return new Date(config.endMs - 1).toISOString().slice(0, 10);
}
