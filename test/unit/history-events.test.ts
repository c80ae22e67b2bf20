import { describe, expect, it } from 'vitest';
import { historyEvents } from '../../activities/event-rows.ts';

describe('historyEvents: the ids a backfill counts warehouse rows by', () => {
  const write = (values: Record<string, unknown>) => ({ keys: { user_id: 1 }, eventTimeMs: 1_000, values });
  const row = { matchId: 'm1', userId: 1, peerUserId: 2, timestampMillis: 1_000 };

  it('uses _event_id when a rule maps one, and never passes it on as an input', () => {
    const [e] = historyEvents([write({ _event_id: 'm1', chat: 5 })], [row], ['match']);
    expect(e).toEqual({ keys: { user_id: 1 }, eventTimeMs: 1_000, eventId: 'm1', values: { chat: 5 } });
  });

  it('without one, the row and the rule: stable across runs, apart for two rules of one row and for two rows', () => {
    const a = historyEvents([write({ chat: 5 }), write({ chat: 5 })], [row, row], ['as-user', 'as-peer']);
    expect(a[0]!.eventId).not.toBe(a[1]!.eventId);
    const again = historyEvents([write({ chat: 5 })], [row], ['as-user']);
    expect(again[0]!.eventId).toBe(a[0]!.eventId);
    const other = historyEvents([write({ chat: 5 })], [{ ...row, matchId: 'm2' }], ['as-user']);
    expect(other[0]!.eventId).not.toBe(a[0]!.eventId);
  });
});
