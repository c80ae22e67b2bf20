import { describe, expect, it } from 'vitest';
import { historyEvents } from '../../activities/event-rows.ts';

describe('historyEvents: the ids a backfill counts warehouse rows by', () => {
  const write = (values: Record<string, unknown>, eventTimeMs = 1_000) => ({
    keys: { user_id: 1 },
    eventTimeMs,
    values,
  });

  it('uses _event_id when a rule maps one, and never passes it on as an input', () => {
    const [e] = historyEvents('f', [write({ _event_id: 'm1', chat: 5 })], ['match']);
    expect(e).toEqual({ keys: { user_id: 1 }, eventTimeMs: 1_000, eventId: 'm1', values: { chat: 5 } });
  });

  it('without one, the event and the rule: stable across runs, apart for two rules of one row and for other events', () => {
    const a = historyEvents('f', [write({ chat: 5 }), write({ chat: 5 })], ['as-user', 'as-peer']);
    expect(a[0]!.eventId).not.toBe(a[1]!.eventId);
    expect(a[0]!.eventId).toMatch(/\/as-user$/);
    const again = historyEvents('f', [write({ chat: 5 })], ['as-user']);
    expect(again[0]!.eventId).toBe(a[0]!.eventId);
    for (const other of [
      historyEvents('f', [write({ chat: 6 })], ['as-user']),
      historyEvents('f', [write({ chat: 5 }, 1_001)], ['as-user']),
      historyEvents('g', [write({ chat: 5 })], ['as-user']),
    ])
      expect(other[0]!.eventId).not.toBe(a[0]!.eventId);
  });
});
