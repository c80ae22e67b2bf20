import type { Client, ScheduleDescription } from '@temporalio/client';
import type { Settings } from '../config/settings.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import {
  retentionScheduleId,
  retentionWorkflowId,
  scheduledUpsyncWorkflowId,
  upsyncScheduleId,
} from '../workflow-contract/ids.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import type { ApplyTarget, ResourceChange } from './apply-target.ts';

export interface TemporalSchedulesOptions {
  client: Client;
  /** Task queue of Ferry workers (FERRY_TEMPORAL_TASK_QUEUE). */
  taskQueue: string;
  /** Cron of the daily retention run (UTC; default 03:00). */
  retentionCron?: string;
  /** How long dead letters are kept; passed to each retention run (default: the workflow's 30 days). */
  deadLetterRetentionMs?: number;
  /**
   * Put before every schedule id (e.g. `staging/`), for deployments sharing one namespace, and for
   * tests; workflow ids are not prefixed. Default none: `upsync/<feature>`, `retention/daily`.
   */
  namePrefix?: string;
}

const kind = 'temporal schedule';

interface UpsyncArgs {
  feature: string;
  cron?: string;
}

function notFound(e: unknown): boolean {
  return e instanceof Error && e.name === 'ScheduleNotFoundError';
}

/**
 * `ferry apply` target for Temporal Schedules, named so a person finds them in the Temporal UI:
 * - `upsync/<feature>` for each feature with `upsync.schedule` (cron, UTC). Its action starts
 *   `scheduledUpsyncWorkflow` (runs `scheduled/upsync/<feature>-<time>`), which runs the feature's
 *   transform for the window since the previous fire time and then the child workflow
 *   `upsync/<feature>`, or reports `already running` when that upsync is running: manual and
 *   scheduled upsyncs never overlap. Overlap policy SKIP; a one-minute catch-up window.
 * - `retention/daily`, the retention of every feature and of dead letters.
 * Pausing, triggering and backfilling from the UI or the CLI act on these. An update keeps the
 * schedule's paused state and note; a feature that loses its schedule, or is retired, loses the
 * Schedule (its data stays).
 */
export class TemporalSchedulesTarget implements ApplyTarget {
  readonly name = 'temporal schedules';
  private readonly client: Client;
  private readonly taskQueue: string;
  private readonly retentionCron: string;
  private readonly deadLetterRetentionMs: number | undefined;
  private readonly prefix: string;
  /** The retention schedule is reported once per plan, with the first feature planned. */
  private retentionReported = false;
  private retentionEnsured = false;

  constructor(options: TemporalSchedulesOptions) {
    this.client = options.client;
    this.taskQueue = options.taskQueue;
    this.retentionCron = options.retentionCron ?? '0 3 * * *';
    this.deadLetterRetentionMs = options.deadLetterRetentionMs;
    this.prefix = options.namePrefix ?? '';
  }

  /** The schedule id of a feature's upsync. */
  upsyncScheduleId(feature: string): string {
    return this.prefix + upsyncScheduleId(feature);
  }

  get retentionScheduleId(): string {
    return this.prefix + retentionScheduleId;
  }

  private async describe(scheduleId: string): Promise<ScheduleDescription | undefined> {
    try {
      return await this.client.schedule.getHandle(scheduleId).describe();
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  }

  private upsyncAction(def: FeatureDefinition, cron: string) {
    const args: UpsyncArgs[] = [{ feature: def.name, cron }];
    return {
      type: 'startWorkflow' as const,
      workflowType: workflowTypes.scheduledUpsync,
      workflowId: scheduledUpsyncWorkflowId(def.name),
      taskQueue: this.taskQueue,
      args,
    };
  }

  /** Whether the schedule differs from what the definition asks for. */
  private differs(have: ScheduleDescription, def: FeatureDefinition, cron: string): boolean {
    const a = have.action;
    if (a.type !== 'startWorkflow') return true;
    const args = (a.args?.[0] ?? {}) as UpsyncArgs;
    return (
      a.workflowType !== workflowTypes.scheduledUpsync ||
      a.taskQueue !== this.taskQueue ||
      args.feature !== def.name ||
      args.cron !== cron
    );
  }

  private async planRetention(): Promise<ResourceChange[]> {
    if (this.retentionReported) return [];
    this.retentionReported = true;
    return (await this.describe(this.retentionScheduleId))
      ? []
      : [{ kind, name: this.retentionScheduleId, action: 'create' }];
  }

  async plan(def: FeatureDefinition): Promise<ResourceChange[]> {
    const id = this.upsyncScheduleId(def.name);
    const cron = def.upsync?.enabled ? def.upsync.schedule : undefined;
    const have = await this.describe(id);
    const changes: ResourceChange[] = [];
    if (cron && !have) changes.push({ kind, name: id, action: 'create' });
    else if (cron && have && this.differs(have, def, cron))
      changes.push({ kind, name: id, action: 'update' });
    else if (!cron && have) changes.push({ kind, name: id, action: 'delete' });
    changes.push(...(await this.planRetention()));
    return changes;
  }

  async apply(def: FeatureDefinition): Promise<void> {
    const id = this.upsyncScheduleId(def.name);
    const cron = def.upsync?.enabled ? def.upsync.schedule : undefined;
    const have = await this.describe(id);
    if (cron && !have) {
      const source =
        def.upsync!.source.kind === 'transform'
          ? `transform ${def.upsync!.source.transform}`
          : `table ${def.upsync!.source.table}`;
      await this.client.schedule.create({
        scheduleId: id,
        spec: { cronExpressions: [cron] },
        action: this.upsyncAction(def, cron),
        policies: { overlap: 'SKIP', catchupWindow: '1 minute' },
        memo: { managedBy: 'ferry apply', feature: def.name, owner: def.owner },
        state: { note: `Upsync of ${def.name} (owner ${def.owner}) from ${source}; managed by ferry apply` },
      });
    } else if (cron && have && this.differs(have, def, cron)) {
      await this.client.schedule.getHandle(id).update((prev) => ({
        spec: { cronExpressions: [cron] },
        action: this.upsyncAction(def, cron),
        policies: { ...prev.policies, overlap: 'SKIP' },
        // keeps a pause (and its note) set from the UI
        state: {
          paused: prev.state.paused,
          ...(prev.state.note !== undefined ? { note: prev.state.note } : {}),
        },
      }));
    } else if (!cron && have) {
      await this.client.schedule.getHandle(id).delete();
    }
    await this.ensureRetention();
  }

  async planRetire(def: FeatureDefinition): Promise<ResourceChange[]> {
    const id = this.upsyncScheduleId(def.name);
    return (await this.describe(id)) ? [{ kind, name: id, action: 'delete' }] : [];
  }

  async retire(def: FeatureDefinition): Promise<void> {
    try {
      await this.client.schedule.getHandle(this.upsyncScheduleId(def.name)).delete();
    } catch (e) {
      if (!notFound(e)) throw e;
    }
  }

  /** Creates `retention/daily` when missing (once per target). */
  async ensureRetention(): Promise<void> {
    if (this.retentionEnsured) return;
    if (!(await this.describe(this.retentionScheduleId))) {
      try {
        await this.client.schedule.create({
          scheduleId: this.retentionScheduleId,
          spec: { cronExpressions: [this.retentionCron] },
          action: {
            type: 'startWorkflow',
            workflowType: workflowTypes.retention,
            workflowId: retentionWorkflowId,
            taskQueue: this.taskQueue,
            args: [
              this.deadLetterRetentionMs !== undefined
                ? { deadLetterRetentionMs: this.deadLetterRetentionMs }
                : {},
            ],
          },
          policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
          memo: { managedBy: 'ferry apply' },
          state: {
            note: 'Retention of every feature (offline rows, online values) and of dead letters; managed by ferry apply',
          },
        });
      } catch (e) {
        // created meanwhile by another apply
        if (!(e instanceof Error && e.name === 'ScheduleAlreadyRunning')) throw e;
      }
    }
    this.retentionEnsured = true;
  }
}

/**
 * The schedules target for the configured Temporal server, with its connection (made on first
 * use, so commands that never touch schedules do not need Temporal up).
 */
export async function openTemporalSchedulesTarget(
  settings: Settings,
  options: Partial<Omit<TemporalSchedulesOptions, 'client'>> = {},
): Promise<{ target: TemporalSchedulesTarget; close(): Promise<void> }> {
  const { Client, Connection } = await import('@temporalio/client');
  const connection = Connection.lazy({ address: settings.temporalAddress });
  const client = new Client({ connection, namespace: settings.temporalNamespace });
  return {
    target: new TemporalSchedulesTarget({ client, taskQueue: settings.temporalTaskQueue, ...options }),
    close: () => connection.close(),
  };
}
