import { createHash } from 'node:crypto';
import type { DeadLetterOrigin, NewDeadLetter } from '../stores/offline/offline-store.ts';

/** A row as dead-letter payload: JSON, Bytes as base64 (what coerceValue reads back). */
export function rowPayload(row: Record<string, unknown>): string {
  return JSON.stringify(row, (_key, value) => {
    if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') {
      const data = (value as { data?: number[] }).data;
      if (Array.isArray(data)) return Buffer.from(data).toString('base64');
    }
    if (typeof value === 'bigint') return value.toString();
    return value;
  });
}

/**
 * A dead letter's id from what it holds: the same row failing for the same reason gets the same
 * id, so a page written twice (a retried attempt) leaves copies that one delete removes together.
 */
export function deadLetterId(
  feature: string,
  origin: DeadLetterOrigin,
  payload: string,
  reason: string,
): string {
  const h = createHash('sha256');
  h.update(feature);
  h.update('\0');
  h.update(origin);
  h.update('\0');
  h.update(payload);
  h.update('\0');
  h.update(reason);
  return `${origin}-${h.digest('hex').slice(0, 32)}`;
}

/** The dead letter of an offline row, and why: one an upsync could not write, or an event row (events backfill) the rules could not map. */
export function rowDeadLetter(
  feature: string,
  origin: 'upsync' | 'event',
  row: Record<string, unknown>,
  reason: string,
  at: number,
): NewDeadLetter {
  const payload = rowPayload(row);
  return {
    id: deadLetterId(feature, origin, payload, reason),
    feature,
    origin,
    reason,
    payload,
    occurredAtMs: at,
  };
}

/** The dead letter of an offline row that an upsync could not write, and why. */
export function upsyncDeadLetter(
  feature: string,
  row: Record<string, unknown>,
  reason: string,
  at: number,
): NewDeadLetter {
  return rowDeadLetter(feature, 'upsync', row, reason, at);
}
