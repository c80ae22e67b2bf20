import { Context } from '@temporalio/activity';
import { eventTimeField } from '../domain/definitions/feature-definition.ts';
import { featureTableName } from '../stores/offline/column-types.ts';
import { deadLetterTable, eventTimeColumn } from '../stores/offline/offline-store.ts';
import type { RetentionFeatureResult, RetentionTarget } from '../workflow-contract/types.ts';
import type { AppliedDefinitions } from './definitions.ts';
import type { ActivityDeps } from './deps.ts';

export function createRetentionActivities(deps: ActivityDeps, defs: AppliedDefinitions) {
  const { online, offline } = deps;

  /** Applied features that declare a retention, online or offline. */
  async function listRetentionTargets(): Promise<RetentionTarget[]> {
    const all = await defs.list();
    return all
      .filter((a) => a.definition.retention.onlineMs || a.definition.retention.offlineMs)
      .map((a) => ({
        feature: a.name,
        ...(a.definition.retention.onlineMs ? { onlineMs: a.definition.retention.onlineMs } : {}),
        ...(a.definition.retention.offlineMs ? { offlineMs: a.definition.retention.offlineMs } : {}),
      }));
  }

  /**
   * One feature's retention at `nowMs`: deletes offline rows older than `retention.offline` from its
   * offline table (by `_event_time`, which BigQuery partitions on, else `_last_updated_at_ms`) and
   * sweeps online values past `retention.online` that the store does not expire by itself.
   */
  async function applyRetention(input: { feature: string; nowMs: number }): Promise<RetentionFeatureResult> {
    const { def } = await defs.get(input.feature);
    const ticker = setInterval(() => Context.current().heartbeat(), 5_000);
    try {
      const out: RetentionFeatureResult = { feature: def.name, offlineRowsDeleted: 0, onlineValuesSwept: 0 };
      const offlineMs = def.retention.offlineMs;
      if (offlineMs) {
        const table = featureTableName(def);
        const columns = await offline.describeTable(table);
        const names = new Set(columns?.map((c) => c.name) ?? []);
        const column = names.has(eventTimeColumn)
          ? eventTimeColumn
          : names.has(eventTimeField)
            ? eventTimeField
            : undefined;
        if (column) {
          out.offlineTable = table;
          out.offlineRowsDeleted = await offline.deleteOlderThan(table, column, input.nowMs - offlineMs);
        }
      }
      if (def.retention.onlineMs) out.onlineValuesSwept = await online.sweepExpired(def, input.nowMs);
      return out;
    } finally {
      clearInterval(ticker);
    }
  }

  /** Deletes dead letters (of every feature) that occurred before `cutoffMs`. */
  async function purgeDeadLetters(input: { cutoffMs: number }): Promise<number> {
    if (!(await offline.describeTable(deadLetterTable))) return 0;
    return offline.deleteOlderThan(deadLetterTable, 'occurred_at', input.cutoffMs);
  }

  return { listRetentionTargets, applyRetention, purgeDeadLetters };
}
