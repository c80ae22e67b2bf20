import type { ColumnSpec, OfflineStore } from '../stores/offline/offline-store.ts';
import {
  type LiveRoomEvent,
  type LoginEvent,
  type MatchEvent,
  type SampleCommand,
  type SampleLiveRoom,
  sampleLiveRooms,
  sampleLoginEvents,
  sampleLoginLog,
  sampleMatchCommands,
  sampleMatchEventLog,
  sampleMatchEvents,
  type TimedCommand,
} from './sample-commands.ts';
import { type LoungeRow, type MatchRow, sampleLoungeRows, sampleMatchRows } from './sample-events.ts';
import { resolveSampleOptions, type SampleConfig, type SampleDataOptions } from './sample-options.ts';
import {
  type SampleEventLogTable,
  type SampleTable,
  sampleEventLogTables,
  sampleSourceTables,
} from './sample-sources.ts';
import { SamplePopulation, sampleUser, sampleUserRows } from './sample-users.ts';

/**
 * Realistic sample data for the seeds' domain (Azar 1:1 video chat and lounge, Hakuna live rooms),
 * seeded and deterministic, at a chosen size. It fills the raw tables of
 * samples/sample-sources.ts (same columns, so the transforms in sql/ run on it unchanged)
 * and produces the real-time domain events the product publishes (what features' from_events
 * rules read) and the commands a stream job would send.
 *
 * Small sizes: `generateSampleData(options)` returns everything in memory. Large sizes (benchmarks):
 * `sampleTableRows(config, table)` streams one table, `loadSampleSources(store, options)` writes
 * the tables in chunks.
 */
export interface SampleData {
  config: SampleConfig;
  /** raw_users rows (sign-ups and level changes), by user then time. */
  users: Record<string, unknown>[];
  matchEvents: MatchRow[];
  loungeEvents: LoungeRow[];
  liveRooms: SampleLiveRoom[];
  liveRoomEvents: LiveRoomEvent[];
  /** The match backend's events of the recent hours (topic azar_match_event), by time. */
  recentMatchEvents: MatchEvent[];
  /** Every real-time command (the stream job's live-room view, match windows), in the order producers send them. */
  commands: SampleCommand[];
  /** When each command is sent (its event time, or for match-feature the end of its window). */
  sentAtMs: number[];
}

export function generateSampleData(options: SampleDataOptions = {}): SampleData {
  const config = resolveSampleOptions(options);
  const population = new SamplePopulation(config);
  const { rooms, events, matchEvents, commands, sentAtMs } = sampleCommands(config, population);
  return {
    config,
    users: [...sampleUserRows(config)],
    matchEvents: [...sampleMatchRows(config, population)],
    loungeEvents: [...sampleLoungeRows(config, population)],
    liveRooms: rooms,
    liveRoomEvents: events,
    recentMatchEvents: matchEvents,
    commands,
    sentAtMs,
  };
}

/** The real-time feed alone: live-room and match events, and the commands, in the order producers send them. */
export function sampleCommands(
  options: SampleDataOptions | SampleConfig = {},
  population?: SamplePopulation,
): {
  rooms: SampleLiveRoom[];
  events: LiveRoomEvent[];
  matchEvents: MatchEvent[];
  loginEvents: LoginEvent[];
  commands: SampleCommand[];
  sentAtMs: number[];
} {
  const config = resolveSampleOptions(options);
  const pop = population ?? new SamplePopulation(config);
  const live = sampleLiveRooms(config, pop);
  const merged = mergeBySendTime(live.commands, sampleMatchCommands(config, pop));
  return {
    rooms: live.rooms,
    events: live.events,
    matchEvents: sampleMatchEvents(config, pop),
    loginEvents: sampleLoginEvents(config, pop),
    commands: merged.map((x) => x.command),
    sentAtMs: merged.map((x) => x.sentAtMs),
  };
}

function mergeBySendTime(a: TimedCommand[], b: TimedCommand[]): TimedCommand[] {
  const out: TimedCommand[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.sentAtMs <= b[j]!.sentAtMs)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/** Streams the rows of one raw table (Timestamp columns as epoch ms). */
export function sampleTableRows(
  config: SampleConfig,
  table: SampleTable,
  population: SamplePopulation = new SamplePopulation(config),
): Iterable<Record<string, unknown>> {
  switch (table) {
    case 'raw_users':
      return sampleUserRows(config);
    case 'raw_match_events':
      return sampleMatchRows(config, population) as Iterable<Record<string, unknown>>;
    case 'raw_lounge_events':
      return sampleLoungeRows(config, population) as Iterable<Record<string, unknown>>;
  }
}

export interface LoadProgress {
  table: SampleTable | SampleEventLogTable;
  rows: number;
  done: boolean;
}

interface LoadOptions {
  chunkRows?: number;
  onProgress?: (p: LoadProgress) => void;
  population?: SamplePopulation;
}

/** Replaces a table with the rows given, written in chunks so any size fits in memory. */
async function loadTable<T extends SampleTable | SampleEventLogTable>(
  store: OfflineStore,
  table: T,
  columns: ColumnSpec[],
  rows: Iterable<object>,
  extra: LoadOptions,
): Promise<number> {
  const chunkRows = extra.chunkRows ?? 20_000;
  await store.dropTable(table);
  await store.ensureTable(table, columns);
  let n = 0;
  let chunk: Record<string, unknown>[] = [];
  for (const row of rows) {
    chunk.push(row as Record<string, unknown>);
    if (chunk.length >= chunkRows) {
      n += await store.appendRows(table, chunk, { batchSize: chunkRows });
      chunk = [];
      extra.onProgress?.({ table, rows: n, done: false });
    }
  }
  if (chunk.length > 0) n += await store.appendRows(table, chunk, { batchSize: chunkRows });
  extra.onProgress?.({ table, rows: n, done: true });
  return n;
}

/**
 * Creates the raw sample tables (replacing what they held) and fills them with generated rows,
 * in chunks of `chunkRows` (default 20,000), so any size fits in memory. Returns rows per table.
 */
export async function loadSampleSources(
  store: OfflineStore,
  options: SampleDataOptions = {},
  extra: LoadOptions = {},
): Promise<Record<SampleTable, number>> {
  const config = resolveSampleOptions(options);
  const population = extra.population ?? new SamplePopulation(config);
  const counts = {} as Record<SampleTable, number>;
  for (const table of Object.keys(sampleSourceTables) as SampleTable[])
    counts[table] = await loadTable(
      store,
      table,
      sampleSourceTables[table],
      sampleTableRows(config, table, population),
      extra,
    );
  return counts;
}

/** Loads the event logs of the sample period (match events, logins) as a Kafka sink keeps them. */
export async function loadSampleEventLogs(
  store: OfflineStore,
  options: SampleDataOptions = {},
  extra: LoadOptions = {},
): Promise<Record<SampleEventLogTable, number>> {
  const config = resolveSampleOptions(options);
  const population = extra.population ?? new SamplePopulation(config);
  return {
    raw_azar_match_event: await loadTable(
      store,
      'raw_azar_match_event',
      sampleEventLogTables.raw_azar_match_event,
      sampleMatchEventLog(config, population),
      extra,
    ),
    raw_azar_user_login: await loadTable(
      store,
      'raw_azar_user_login',
      sampleEventLogTables.raw_azar_user_login,
      sampleLoginLog(config, population),
      extra,
    ),
  };
}

/** The values of azar::user-profile for one user as of `asOfMs` (what sql/azar/user_profile.sql computes), without the chat average. */
export function sampleProfileAt(config: SampleConfig, index: number, asOfMs: number, logicalDate: string) {
  const u = sampleUser(config, index);
  const change = [...u.changes].reverse().find((c) => c.atMs < asOfMs);
  if (!change) return undefined;
  return {
    user_id: u.user_id,
    gender: u.gender,
    country_code: u.country_code,
    age: Number(logicalDate.slice(0, 4)) - u.birth_year,
    level: change.level,
    updatedAtMs: change.atMs,
  };
}

/**
 * The rows of azar::user-profile for every user as the upsync would write them after a run over
 * all the data (window ending at endMs): keys, values and event time, for benchmarks that fill an
 * online store directly. `avg_chat_sec` is null for users without matches (the default is served).
 */
export function* sampleUserProfileWrites(
  options: SampleDataOptions | SampleConfig = {},
  population?: SamplePopulation,
): Generator<{ keys: { user_id: number }; values: Record<string, unknown>; eventTimeMs: number }> {
  const config = resolveSampleOptions(options);
  const pop = population ?? new SamplePopulation(config);
  const sum = new Float64Array(config.users);
  const count = new Uint32Array(config.users);
  const last = new Float64Array(config.users);
  const first = sampleUser(config, 0).user_id;
  for (const m of sampleMatchRows(config, pop)) {
    const i = m.user_id - first;
    sum[i]! += m.chat_duration_sec;
    count[i]!++;
    last[i] = Math.max(last[i]!, m.event_time);
  }
  const logicalDate = new Date(config.endMs - 1).toISOString().slice(0, 10);
  for (let i = 0; i < config.users; i++) {
    const p = sampleProfileAt(config, i, config.endMs, logicalDate)!;
    yield {
      keys: { user_id: p.user_id },
      values: {
        gender: p.gender,
        country_code: p.country_code,
        age: p.age,
        level: p.level,
        avg_chat_sec: count[i]! > 0 ? sum[i]! / count[i]! : null,
      },
      eventTimeMs: Math.max(p.updatedAtMs, last[i]!),
    };
  }
}
