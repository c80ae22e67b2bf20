import type { SampleCommand } from '../samples/sample-commands.ts';

/**
 * Sends commands to the reader's push endpoint (`POST /v1/commands`) in batches, in order, as a
 * producer without Kafka would. A refused batch fails with the reader's answer (the endpoint is
 * all or nothing per request, so nothing of that batch was applied).
 */
export async function pushCommands(
  url: string,
  token: string,
  commands: readonly SampleCommand[],
  batchSize: number,
): Promise<{ accepted: number; ms: number; mode: string }> {
  const started = performance.now();
  let accepted = 0;
  let mode = '';
  for (let i = 0; i < commands.length; i += batchSize) {
    const batch = commands.slice(i, i + batchSize);
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (res.status !== 200 && res.status !== 202) {
      throw new Error(`push of commands ${i + 1}-${i + batch.length} answered ${res.status}: ${text}`);
    }
    const body = JSON.parse(text) as { accepted?: number; mode?: string };
    accepted += body.accepted ?? batch.length;
    mode = body.mode ?? mode;
  }
  return { accepted, ms: Math.round(performance.now() - started), mode };
}
