/**
 * A stored field value with its event time and expiry, as the embedded store keeps it:
 * `[eventTimeMs, expiresAtMs (0 = never), cell bytes or null (the field was cleared)]`.
 */
export type StoredCell = [number, number, Uint8Array | null];

/**
 * True when `incoming` replaces `current`: the rule Cassandra applies to cells, so that
 * both stores agree whatever the arrival order. A newer event time wins; on equal event
 * times a clear (null) beats a value, an expiring value beats a non-expiring one, the later
 * expiry wins, and then the larger bytes (unsigned, lexicographic).
 */
export function replaces(incoming: StoredCell, current: StoredCell): boolean {
  if (incoming[0] !== current[0]) return incoming[0] > current[0];
  const a = incoming[2];
  const b = current[2];
  if ((a === null) !== (b === null)) return a === null;
  if (a === null || b === null) return false;
  if (incoming[1] !== current[1]) {
    if (incoming[1] === 0 || current[1] === 0) return incoming[1] !== 0;
    return incoming[1] > current[1];
  }
  return Buffer.compare(a, b) > 0;
}
