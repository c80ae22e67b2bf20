import type { FieldType, ScalarType } from '../domain/definitions/field-types.ts';
import type { ColumnSpec, OfflineStore } from '../stores/offline/offline-store.ts';

/**
 * The raw source tables the sample transforms in `sql/` read, and a few deterministic rows for
 * tests and demos (a bigger generator comes later). Times are UTC; the rows are laid out around the
 * logical date 2024-03-10 so that each transform has rows inside, before and after its window.
 */

const t = (scalar: ScalarType): FieldType => ({ kind: 'scalar', scalar });

export const sampleSourceTables: Record<
  'raw_users' | 'raw_match_events' | 'raw_lounge_events',
  ColumnSpec[]
> = {
  /** Profile changes of Azar users (one row per change, CDC style). */
  raw_users: [
    { name: 'user_id', type: t('Long') },
    { name: 'gender', type: t('Text') },
    { name: 'country_code', type: t('Text') },
    { name: 'birth_year', type: t('Int') },
    { name: 'level', type: t('Long') },
    { name: 'updated_at', type: t('Timestamp') },
  ],
  /** One row per participant of a 1:1 match. */
  raw_match_events: [
    { name: 'match_id', type: t('Text') },
    { name: 'user_id', type: t('Long') },
    { name: 'peer_user_id', type: t('Long') },
    { name: 'chat_duration_sec', type: t('Int') },
    { name: 'event_time', type: t('Timestamp') },
  ],
  /** Lounge actions: `user_id` did `event_type` (impression, click, like, profile_view) on `target_user_id`'s card. */
  raw_lounge_events: [
    { name: 'event_id', type: t('Text') },
    { name: 'user_id', type: t('Long') },
    { name: 'target_user_id', type: t('Long') },
    { name: 'event_type', type: t('Text') },
    { name: 'event_time', type: t('Timestamp') },
  ],
};

export type SampleTable = keyof typeof sampleSourceTables;

/**
 * The product's domain events as a Kafka sink keeps them in the warehouse: one row per event,
 * columns named as its fields. `from_events.backfill` of the Aggregation features names them.
 */
export const sampleEventLogTables: Record<'raw_azar_match_event' | 'raw_azar_user_login', ColumnSpec[]> = {
  raw_azar_match_event: [
    { name: 'matchId', type: t('Text') },
    { name: 'userId', type: t('Long') },
    { name: 'peerUserId', type: t('Long') },
    { name: 'chat_duration', type: t('Long') },
    { name: 'peerCountryCode', type: t('Text') },
    { name: 'timestampMillis', type: t('Long') },
  ],
  raw_azar_user_login: [
    { name: 'loginId', type: t('Text') },
    { name: 'userId', type: t('Long') },
    { name: 'platform', type: t('Text') },
    { name: 'timestampMillis', type: t('Long') },
  ],
};

export type SampleEventLogTable = keyof typeof sampleEventLogTables;

/** The logical date the sample rows are laid out around. */
export const sampleLogicalDate = '2024-03-10';

const users = (rows: [number, string, string, number, number, string][]) =>
  rows.map(([user_id, gender, country_code, birth_year, level, updated_at]) => ({
    user_id,
    gender,
    country_code,
    birth_year,
    level,
    updated_at,
  }));

const matches = (rows: [string, number, number, number, string][]) =>
  rows.map(([match_id, user_id, peer_user_id, chat_duration_sec, event_time]) => ({
    match_id,
    user_id,
    peer_user_id,
    chat_duration_sec,
    event_time,
  }));

const lounge = (rows: [string, number, number, string, string][]) =>
  rows.map(([event_id, user_id, target_user_id, event_type, event_time]) => ({
    event_id,
    user_id,
    target_user_id,
    event_type,
    event_time,
  }));

/** The deterministic sample rows (Timestamp values as ISO-8601 text, which the stores accept). */
export function sampleSourceRows(): Record<SampleTable, Record<string, unknown>[]> {
  return {
    raw_users: users([
      [1, 'F', 'KR', 1995, 3, '2024-03-01T08:00:00Z'],
      [1, 'F', 'KR', 1995, 4, '2024-03-10T09:30:00.250Z'], // changed inside the window: the value used
      [1, 'F', 'KR', 1995, 9, '2024-03-11T01:00:00Z'], // after the window: ignored
      [2, 'M', 'US', 2000, 7, '2024-02-20T12:00:00Z'], // unchanged, but matched inside the window
      [3, 'M', 'JP', 1988, 2, '2024-03-05T00:00:00Z'], // nothing inside the window
      [4, 'F', 'DE', 2001, 1, '2024-03-10T23:59:59.999Z'], // new user, last millisecond of the window
      [5, 'M', 'BR', 1990, 5, '2024-03-11T00:00:00Z'], // exactly at the window's end: excluded
    ]),
    raw_match_events: matches([
      ['m1', 1, 2, 100, '2024-03-09T10:00:00Z'],
      ['m2', 2, 1, 100, '2024-03-09T10:00:00Z'],
      ['m3', 2, 6, 50, '2024-03-10T12:00:00Z'],
      ['m4', 6, 2, 50, '2024-03-10T12:00:00Z'], // user 6 has no profile row
      ['m5', 2, 3, 30, '2024-03-10T18:15:00.125Z'],
      ['m6', 3, 1, 200, '2024-03-02T00:00:00Z'],
      ['m7', 1, 4, 80, '2024-03-11T00:00:00Z'], // at the window's end: excluded
    ]),
    raw_lounge_events: lounge([
      ['e1', 10, 20, 'like', '2024-03-10T08:00:00Z'],
      ['e2', 20, 10, 'like', '2024-03-10T09:00:00Z'], // 20 likes 10 back
      ['e3', 30, 10, 'like', '2024-03-09T09:00:00Z'],
      ['e4', 10, 30, 'profile_view', '2024-03-09T10:00:00Z'],
      ['e5', 10, 30, 'profile_view', '2024-03-05T10:00:00Z'],
      ['e6', 40, 10, 'like', '2024-03-03T12:00:00Z'], // out of the 7 days, inside the previous run's: decays to 0
      ['e7', 50, 60, 'like', '2024-02-20T00:00:00Z'],
      ['e8', 10, 20, 'impression', '2024-03-10T07:00:00Z'],
      ['e9', 10, 30, 'impression', '2024-03-10T07:00:00.500Z'],
      ['e10', 10, 20, 'click', '2024-03-10T07:01:00Z'],
      ['e11', 10, 40, 'impression', '2024-02-15T00:00:00Z'],
      ['e12', 70, 10, 'impression', '2024-02-09T12:00:00Z'], // out of the 30 days, inside the previous run's
      ['e13', 10, 20, 'like', '2024-03-11T00:00:00Z'], // at the window's end: excluded
      ['e14', 60, 50, 'impression', '2024-01-01T00:00:00Z'], // long before every window
    ]),
  };
}

/** Creates the raw sample tables (replacing what they held) and fills them with the sample rows. */
export async function createSampleSources(store: OfflineStore): Promise<Record<SampleTable, number>> {
  const rows = sampleSourceRows();
  const counts = {} as Record<SampleTable, number>;
  for (const [table, columns] of Object.entries(sampleSourceTables) as [SampleTable, ColumnSpec[]][]) {
    await store.dropTable(table);
    await store.ensureTable(table, columns);
    counts[table] = await store.appendRows(table, rows[table]);
  }
  return counts;
}
