import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { type ActivityDeps, createActivities, type FerryActivities } from '../../activities/index.ts';
import { readSettings, type Settings } from '../../config/settings.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { DuckDbOfflineStore } from '../../stores/offline/duckdb-offline-store.ts';
import type { OfflineStore } from '../../stores/offline/offline-store.ts';
import {
  type EmbeddedOnlineStore,
  openEmbeddedOnlineStore,
} from '../../stores/online/embedded-online-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { DefinitionRegistry } from '../../stores/registry/definition-registry.ts';
import type { PlanSyncInput } from '../../workflow-contract/activities.ts';
import type {
  ChunkResult,
  IncrementalCursor,
  SyncOptions,
  SyncProgress,
} from '../../workflow-contract/types.ts';

/**
 * Helpers for the workflow tests: embedded stores in a temporary folder, definitions from YAML text,
 * and an in-process driver that runs the sync activities the way upsyncWorkflow does (plan, chunks,
 * finish) inside MockActivityEnvironment, without a Temporal server. The benchmark uses it too.
 */

export interface EmbeddedEnv {
  dir: string;
  sqlDir: string;
  settings: Settings;
  online: EmbeddedOnlineStore;
  offline: DuckDbOfflineStore;
  registry: DefinitionRegistry;
  close(): Promise<void>;
}

export async function openEmbeddedEnv(
  sql: Record<string, string> = {},
  prefix = 'ferry-wf-',
): Promise<EmbeddedEnv> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const sqlDir = path.join(dir, 'sql');
  mkdirSync(sqlDir, { recursive: true });
  for (const [name, text] of Object.entries(sql)) {
    mkdirSync(path.dirname(path.join(sqlDir, name)), { recursive: true });
    writeFileSync(path.join(sqlDir, name), text);
  }
  const settings = readSettings({ FERRY_DATA_DIR: dir, FERRY_SQL_DIR: sqlDir });
  const online = await openEmbeddedOnlineStore({ path: path.join(dir, 'online') });
  const offline = await DuckDbOfflineStore.open({ path: path.join(dir, 'offline.duckdb'), sqlDir });
  return {
    dir,
    sqlDir,
    settings,
    online,
    offline,
    registry: new DefinitionRegistry(online),
    close: async () => {
      await offline.close();
      await online.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Parses feature YAML; throws with the problems when it is invalid. */
export function definitionsOf(yaml: string): Map<string, FeatureDefinition> {
  const { definitions, errors } = loadDefinitionsFromText('test.yaml', yaml);
  if (errors.length > 0) throw new Error(errors.map((e) => JSON.stringify(e)).join('\n'));
  return new Map(definitions.map((d) => [d.name, d]));
}

/** What `ferry apply` does for these tests: online table, then the registry record. */
export async function applyDefinition(
  env: { online: OnlineStore; offline?: OfflineStore },
  def: FeatureDefinition,
): Promise<void> {
  await env.online.ensureFeature(def);
  await new DefinitionRegistry(env.online).record(def);
}

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export function activityEnv(info: Partial<Info> = {}): MockActivityEnvironment {
  return new MockActivityEnvironment(
    { workflowExecution: { workflowId: 'test-workflow', runId: 'test-run' }, ...info },
    { logger: quiet },
  );
}

/** Runs one activity in a fresh mock context (typed: MockActivityEnvironment.run infers poorly). */
export function runActivity<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  args: A,
  info: Partial<Info> = {},
): Promise<R> {
  return activityEnv(info).run(fn as never, ...(args as unknown as never[])) as Promise<R>;
}

export function activitiesFor(
  env: { online: OnlineStore; offline: OfflineStore; settings: Settings },
  extra: Partial<ActivityDeps> = {},
): FerryActivities {
  return createActivities({ online: env.online, offline: env.offline, settings: env.settings, ...extra });
}

export interface InProcessSync {
  progress: SyncProgress;
  chunks: ChunkResult[];
}

/**
 * Runs plan → chunks → finish as upsyncWorkflow/backfillWorkflow would, in this process. Each chunk
 * runs in a fresh MockActivityEnvironment (like a fresh attempt).
 */
export async function syncInProcess(
  acts: FerryActivities,
  input: PlanSyncInput & { options?: SyncOptions },
  workflowId = `test/${input.feature}`,
): Promise<InProcessSync> {
  const info = { workflowExecution: { workflowId, runId: 'run-1' } } as Partial<Info>;
  const plan = await runActivity(acts.planSync, [input], info);
  let cursor: IncrementalCursor | undefined = plan.startCursor;
  const started = Date.now();
  const progress: SyncProgress = {
    feature: plan.feature,
    workflow: plan.mode === 'backfill' ? 'backfill' : 'upsync',
    mode: plan.mode,
    state: 'syncing',
    rowsRead: 0,
    rowsWritten: 0,
    rowsDeadLettered: 0,
    watermark: plan.startWatermark,
    chunks: 0,
    runs: 1,
    startedAtMs: started,
    updatedAtMs: started,
  };
  const chunks: ChunkResult[] = [];
  for (let n = 0; ; n++) {
    const r = await runActivity(
      acts.syncChunk,
      [{ plan, token: `${workflowId}/run-1/${n}`, ...(cursor ? { cursor } : {}) }],
      info,
    );
    chunks.push(r);
    cursor = r.cursor ?? cursor;
    progress.rowsRead += r.rowsRead;
    progress.rowsWritten += r.rowsWritten;
    progress.rowsDeadLettered += r.rowsDeadLettered;
    if (r.maxWatermark !== null)
      progress.watermark =
        progress.watermark === null ? r.maxWatermark : Math.max(progress.watermark, r.maxWatermark);
    progress.chunks++;
    if (r.done) break;
  }
  await runActivity(
    acts.finishSync,
    [{ plan, progress, workflowId, runId: 'run-1', ...(cursor ? { cursor } : {}) }],
    info,
  );
  progress.state = 'done';
  progress.updatedAtMs = Date.now();
  return { progress, chunks };
}
