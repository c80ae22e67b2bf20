import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Settings } from '../config/settings.ts';
import { openOnlineStore } from '../stores/online/open-online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import { FeatureCatalog } from '../stores/registry/feature-catalog.ts';
import type { SyncProgress } from '../workflow-contract/types.ts';
import { parseOptions, UsageError } from './parse-options.ts';

// Shared by `ferry upsync`, `ferry backfill` and `ferry replay`: connecting, resolving feature names,
// starting (or joining) a workflow, and showing its `progress` query while waiting.

/** A feature's full name from what the user typed (`user-stats` works when only one namespace has it). */
export async function resolveFeature(
  settings: Settings,
  name: string,
  options: { includeRetired?: boolean } = {},
): Promise<string> {
  const online = await openOnlineStore(settings);
  try {
    const applied = await new DefinitionRegistry(online).list(options);
    const found = new FeatureCatalog(applied.map((a) => a.definition)).resolve(name);
    if ('problem' in found) throw new Error(`${found.problem} (applied features: \`ferry list\`)`);
    return found.definition.name;
  } finally {
    await online.close();
  }
}

export async function connectClient(settings: Settings): Promise<{ client: Client; close(): Promise<void> }> {
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address: settings.temporalAddress });
  return {
    client: new Client({ connection, namespace: settings.temporalNamespace }),
    close: () => connection.close(),
  };
}

/**
 * Starts a workflow, or joins it when a run with that id is already running: the start uses
 * WorkflowIdConflictPolicy USE_EXISTING, so a retried or repeated trigger never starts a duplicate
 * and gets a handle on the run under way instead. Whether this call started the run is told by a
 * request id in the memo (the running one keeps its own).
 */
export async function startOrJoin(
  client: Client,
  workflowType: string,
  options: { workflowId: string; taskQueue: string; args: unknown[] },
): Promise<{ handle: WorkflowHandle; joined: boolean; runId: string }> {
  const request = randomUUID();
  const handle = await client.workflow.start(workflowType, {
    workflowId: options.workflowId,
    taskQueue: options.taskQueue,
    args: options.args,
    workflowIdConflictPolicy: 'USE_EXISTING',
    memo: { ferryRequest: request, startedBy: 'ferry cli' },
  });
  const d = await handle.describe();
  return { handle, joined: d.memo?.ferryRequest !== request, runId: d.runId };
}

const int = new Intl.NumberFormat('en-US');

/** A watermark as people read it: epoch ms as ISO time, anything else as it is. */
export function formatWatermark(w: number | null | undefined): string {
  if (w === null || w === undefined) return '-';
  return w > 1e11 && w < 1e14 ? new Date(w).toISOString() : String(w);
}

/** The fields of the `progress` answers (sync or replay) that the display uses. */
interface Shown {
  state?: string;
  workflow?: string;
  rowsRead?: number;
  rowsWritten?: number;
  rowsDeadLettered?: number;
  watermark?: number | null;
  fromMs?: number;
  toMs?: number;
  read?: number;
  applied?: number;
  stillFailing?: number;
}

function counts(p: Shown): string {
  if (p.applied !== undefined) {
    return `read ${int.format(p.read ?? 0)}  applied ${int.format(p.applied)}  still failing ${int.format(p.stillFailing ?? 0)}`;
  }
  return (
    `read ${int.format(p.rowsRead ?? 0)}  written ${int.format(p.rowsWritten ?? 0)}  ` +
    `dead-lettered ${int.format(p.rowsDeadLettered ?? 0)}  watermark ${formatWatermark(p.watermark)}`
  );
}

/** Fraction done when it is known (a backfill's watermark range), else undefined. */
function fractionOf(p: Shown): number | undefined {
  if (p.fromMs === undefined || p.toMs === undefined || p.workflow !== 'backfill') return undefined;
  if (p.state === 'done') return 1;
  if (p.watermark === null || p.watermark === undefined) return 0;
  return Math.min(1, Math.max(0, (p.watermark - p.fromMs) / (p.toMs - p.fromMs)));
}

function bar(fraction: number | undefined, tick: number, width = 24): string {
  if (fraction !== undefined) {
    const full = Math.round(fraction * width);
    return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.round(fraction * 100)).padStart(3)}%`;
  }
  // no known total (an upsync reads until the source ends): a block moving to show it is alive
  const pos = tick % (2 * (width - 4));
  const at = pos < width - 4 ? pos : 2 * (width - 4) - pos;
  return `[${'-'.repeat(at)}####${'-'.repeat(width - 4 - at)}]     `;
}

/**
 * Waits for the workflow's result, showing its `progress` query: a bar redrawn in place on a
 * terminal, a line every few seconds (and on each state change) otherwise. Returns the result, or
 * throws the workflow's failure.
 */
export async function waitWithProgress<T>(
  handle: WorkflowHandle,
  label: string,
  stream = process.stderr,
): Promise<T> {
  const tty = stream.isTTY === true;
  const result = handle.result() as Promise<T>;
  let finished = false;
  result.then(
    () => {
      finished = true;
    },
    () => {
      finished = true;
    },
  );
  let tick = 0;
  let lastLine = 0;
  let lastState: string | undefined;
  let rate = '';
  let prev: { at: number; rows: number } | undefined;
  while (!finished) {
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, tty ? 250 : 1000))]);
    if (finished) break;
    let p: Shown | undefined;
    try {
      p = (await handle.query('progress')) as Shown;
    } catch {
      continue; // no worker has answered yet, or the run is between continue-as-new
    }
    const rows = p.rowsRead ?? p.read ?? 0;
    const now = Date.now();
    if (!prev || now - prev.at >= 2000) {
      if (prev) rate = `${int.format(Math.round(((rows - prev.rows) * 1000) / (now - prev.at)))} rows/s`;
      prev = { at: now, rows };
    }
    const text = `${label}  ${(p.state ?? '').padEnd(9)} ${counts(p)}${rate ? `  ${rate}` : ''}`;
    if (tty) {
      stream.write(`\r\x1b[2K${bar(fractionOf(p), tick++)} ${text}`);
    } else if (p.state !== lastState || now - lastLine >= 5000) {
      stream.write(`${new Date(now).toISOString()} ${text}\n`);
      lastLine = now;
    }
    lastState = p.state;
  }
  if (tty) stream.write('\r\x1b[2K');
  return result;
}

/** One line for the end of a sync. */
export function summary(p: SyncProgress): string {
  const secs = Math.max(0.001, (p.updatedAtMs - p.startedAtMs) / 1000);
  return (
    `${p.workflow} of ${p.feature} (${p.mode}) ${p.state}: ${counts(p)}` +
    ` in ${secs.toFixed(1)} s (${int.format(Math.round(p.rowsRead / secs))} rows/s), ${p.chunks} chunk${p.chunks === 1 ? '' : 's'}` +
    (p.missingFields?.length ? `; not in the source, left untouched: ${p.missingFields.join(', ')}` : '')
  );
}

/** `2024-03-10`, `2024-03-10T05:00:00Z`, epoch milliseconds, or `now` (to the second). */
export function parseTime(option: string, text: string | undefined, nowMs = Date.now()): number | undefined {
  if (text === undefined) return undefined;
  if (text === 'now') return Math.floor(nowMs / 1000) * 1000;
  if (/^-?\d+$/.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
    throw new UsageError(
      `${option} must be a date, an ISO-8601 time, epoch milliseconds or now, got "${text}"`,
    );
  }
  return ms;
}

/**
 * What `ferry upsync | backfill | replay` do once their options are read: start (or join) the
 * workflow, then either say so, or with `wait` follow its progress query to the end. With `json`,
 * one JSON document on stdout. Returns the exit code: 0 started or done, 1 the workflow failed.
 */
export async function runWorkflowFromCli<P>(o: {
  command: string;
  settings: Settings;
  workflowType: string;
  workflowId: string;
  args: unknown[];
  wait: boolean;
  json: boolean;
  /** The line that says what was started or joined. */
  describe(joined: boolean, runId: string): string;
  /** The line that says how the run ended. */
  summarize(done: P): string;
}): Promise<number> {
  const { client, close } = await connectClient(o.settings);
  try {
    const { handle, joined, runId } = await startOrJoin(client, o.workflowType, {
      workflowId: o.workflowId,
      taskQueue: o.settings.temporalTaskQueue,
      args: o.args,
    });
    const ids = { workflowId: o.workflowId, runId, joined };
    const what = o.describe(joined, runId);
    if (!o.wait) {
      console.log(o.json ? JSON.stringify(ids, null, 2) : what);
      return 0;
    }
    if (!o.json) console.error(what);
    try {
      const done = await waitWithProgress<P>(handle, o.workflowId);
      console.log(o.json ? JSON.stringify({ ...ids, result: done }, null, 2) : o.summarize(done));
      return 0;
    } catch (e) {
      const message = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      if (o.json) console.log(JSON.stringify({ ...ids, error: message }, null, 2));
      else console.error(`ferry ${o.command}: ${message}`);
      return 1;
    }
  } finally {
    await close();
  }
}

/**
 * The arguments of `ferry backfill | replay`: one feature, an optional `--from`/`--to` time range
 * (from before to), `--wait` and `--json`.
 */
export function parseRangeCommand(
  args: readonly string[],
  /** Further text options the command takes (`--from-feature`); their values come back in `options`. */
  textOptions: readonly string[] = [],
): {
  feature: string;
  fromMs: number | undefined;
  toMs: number | undefined;
  wait: boolean;
  json: boolean;
  options: Record<string, string | undefined>;
} {
  const { values, positionals } = parseOptions([...args], {
    from: { type: 'string' },
    to: { type: 'string' },
    wait: { type: 'boolean' },
    json: { type: 'boolean' },
    ...Object.fromEntries(textOptions.map((o) => [o, { type: 'string' as const }])),
  });
  const options = Object.fromEntries(
    textOptions.map((o) => [o, (values as Record<string, unknown>)[o] as string | undefined]),
  );
  if (positionals.length !== 1) throw new UsageError('name one feature');
  const fromMs = parseTime('--from', values.from);
  const toMs = parseTime('--to', values.to);
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs)
    throw new UsageError('--from must be before --to');
  return {
    feature: positionals[0]!,
    fromMs,
    toMs,
    wait: values.wait === true,
    json: values.json === true,
    options,
  };
}
