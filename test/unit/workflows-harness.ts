import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Info } from '@temporalio/activity';
import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { type ActivityDeps, createActivities, type FerryActivities } from '../../activities/index.ts';
import { temporalBinary } from '../../cli/start-temporal.ts';
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
import type { BackfillInput, ChunkResult, SyncProgress, UpsyncInput } from '../../workflow-contract/types.ts';
import { workflowTypes } from '../../workflow-contract/workflow-types.ts';
import { root } from '../ferry-bin.ts';
import { installQuietTemporalRuntime } from '../temporal-runtime.ts';
import { productionWorkflowBundle } from '../workflow-bundle.ts';

/**
 * Helpers for the workflow tests: embedded stores in a temporary folder, definitions from YAML text,
 * a mock activity context for single activities, and runSyncWorkflow, which runs the real upsync and
 * backfill workflows on a Temporal dev server of the test file's own.
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

export interface SyncRun {
  /** What the workflow returned. */
  progress: SyncProgress;
  /** What each of its syncChunk activities returned, in order, over every run (continue-as-new). */
  chunks: ChunkResult[];
}

let testEnv: Promise<TestWorkflowEnvironment> | undefined;

/**
 * A Temporal dev server of this test file's own (the `temporal` CLI that infra/up.sh installs
 * under .cache/, as `ferry start` uses it): the workflow tests run the real workflows on it.
 */
export function workflowTestEnv(): Promise<TestWorkflowEnvironment> {
  testEnv ??= (async () => {
    const bin = await temporalBinary(root).catch((e: Error) => {
      throw new Error(`${e.message} (npm run infra:up installs it)`);
    });
    installQuietTemporalRuntime();
    return TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: bin }, ip: '127.0.0.1' },
    });
  })();
  return testEnv;
}

/** Stops the dev server of workflowTestEnv, if this file started one. */
export async function closeWorkflowTestEnv(): Promise<void> {
  const env = await testEnv;
  testEnv = undefined;
  await env?.teardown();
}

let runs = 0;

/**
 * Runs upsyncWorkflow (incremental or full) or backfillWorkflow, the production bundle, on a worker
 * with the given activities, on workflowTestEnv's server; returns its result and its chunks' results
 * (read from the workflow's history).
 */
export async function runSyncWorkflow(
  acts: FerryActivities,
  input: PlanSyncInput,
  workflowId = `test/${input.feature}`,
): Promise<SyncRun> {
  const env = await workflowTestEnv();
  const taskQueue = `test-sync-${process.pid}-${++runs}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: await productionWorkflowBundle() },
    activities: acts,
  });
  const options = input.options ? { options: input.options } : {};
  const started =
    input.mode === 'backfill'
      ? env.client.workflow.start(workflowTypes.backfill, {
          taskQueue,
          workflowId,
          args: [
            {
              feature: input.feature,
              fromMs: input.fromMs!,
              toMs: input.toMs!,
              ...options,
            } satisfies BackfillInput,
          ],
        })
      : env.client.workflow.start(workflowTypes.upsync, {
          taskQueue,
          workflowId,
          args: [{ feature: input.feature, full: input.mode === 'full', ...options } satisfies UpsyncInput],
        });
  return worker.runUntil(async () => {
    const handle = await started;
    const progress = (await handle.result()) as SyncProgress;
    return { progress, chunks: await chunkResults(env, workflowId, handle.firstExecutionRunId) };
  });
}

/** The results of the syncChunk activities of a workflow, following its continue-as-new chain. */
async function chunkResults(
  env: TestWorkflowEnvironment,
  workflowId: string,
  firstRunId: string,
): Promise<ChunkResult[]> {
  const out: ChunkResult[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> = await env.client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    const scheduled = new Map<string, string>();
    runId = undefined;
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
      const c = e.activityTaskCompletedEventAttributes;
      if (c && scheduled.get(String(c.scheduledEventId)) === 'syncChunk')
        out.push(defaultPayloadConverter.fromPayload(c.result!.payloads![0]!) as ChunkResult);
      const next: string | null | undefined =
        e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (next) runId = next;
    }
  }
  return out;
}
