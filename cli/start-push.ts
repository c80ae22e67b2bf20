/**
 * POSTs items (commands to `/v1/commands`, or domain events to `/v1/events/<topic>`) to the
 * reader in batches, in order, as a producer without Kafka would. A refused batch fails with the
 * reader's answer (both endpoints are all or nothing per request: nothing of that batch was
 * applied). Returns the commands applied (`accepted` for commands, `commands` for events).
 */
export async function pushBatches(
  url: string,
  token: string,
  items: readonly unknown[],
  batchSize: number,
): Promise<{ sent: number; applied: number; ms: number; mode: string }> {
  const started = performance.now();
  let applied = 0;
  let mode = '';
  for (let i = 0; i < items.length; i += batchSize) {
    const batch = items.slice(i, i + batchSize);
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (res.status !== 200 && res.status !== 202) {
      throw new Error(`push of items ${i + 1}-${i + batch.length} to ${url} answered ${res.status}: ${text}`);
    }
    const body = JSON.parse(text) as { accepted?: number; commands?: number; mode?: string };
    applied += body.accepted ?? body.commands ?? batch.length;
    mode = body.mode ?? mode;
  }
  return { sent: items.length, applied, ms: Math.round(performance.now() - started), mode };
}
