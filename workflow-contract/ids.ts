// Workflow and schedule ids: deterministic per feature and run, so a retried trigger finds the
// workflow it already started instead of starting a duplicate. Pure: workflows, activities, the CLI
// and the schedules target all import it.

/** The one upsync of a feature: at most one runs at a time (Temporal refuses a second running id). */
export function upsyncWorkflowId(feature: string): string {
  return `upsync/${feature}`;
}

/** A pipeline run: the transforms and upsyncs of `pipeline` for one logical date. */
export function pipelineWorkflowId(pipeline: string, logicalDate: string): string {
  return `pipeline/${pipeline}/${logicalDate}`;
}

/** A backfill of the watermark range [fromMs, toMs). */
export function backfillWorkflowId(feature: string, fromMs: number, toMs: number): string {
  return `backfill/${feature}/${fromMs}-${toMs}`;
}

/** A backfill of a feature from the events kept in the offline store, over a watermark range. */
export function eventsBackfillWorkflowId(feature: string, fromMs: number, toMs: number): string {
  return `events-backfill/${feature}/${fromMs}-${toMs}`;
}

/**
 * A dead-letter replay of a feature (one at a time per feature), or of another feature's dead
 * letters into it (`replay/<feature>/from/<other>`).
 */
export function replayWorkflowId(feature: string, fromFeature?: string): string {
  return fromFeature === undefined || fromFeature === feature
    ? `replay/${feature}`
    : `replay/${feature}/from/${fromFeature}`;
}

/** The Temporal Schedule that runs a feature's upsync (`upsync.schedule`). */
export function upsyncScheduleId(feature: string): string {
  return `upsync/${feature}`;
}

/**
 * The workflow id a schedule gives its runs (Temporal appends the nominal time, e.g.
 * `scheduled/upsync/azar::user-profile-2024-03-10T05:00:00Z`); the run then starts the child
 * `upsync/<feature>`, so manual and scheduled upsyncs share one id and never overlap.
 */
export function scheduledUpsyncWorkflowId(feature: string): string {
  return `scheduled/upsync/${feature}`;
}

export const retentionScheduleId = 'retention/daily';
export const retentionWorkflowId = 'retention/daily';

/** Online-store metadata key of a feature's incremental upsync state (cursor, watermark). */
export function upsyncStateKey(feature: string): string {
  return `state/upsync/${feature}`;
}

/** Online-store metadata key of a backfill's progress (so a restarted backfill resumes). */
export function backfillStateKey(feature: string, fromMs: number, toMs: number): string {
  return `state/backfill/${feature}/${fromMs}-${toMs}`;
}

/** Where an events backfill of a range saves its position. */
export function eventsBackfillStateKey(feature: string, fromMs: number, toMs: number): string {
  return `state/events-backfill/${feature}/${fromMs}-${toMs}`;
}

/**
 * The signal a sync chunk sends its workflow every few seconds with the chunk's progress so far,
 * so that the `progress` query is live within a chunk (not only between chunks).
 */
export const chunkProgressSignalName = 'chunkProgress';
