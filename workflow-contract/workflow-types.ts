// The type names of every workflow Ferry ships. The CLI and the schedules start workflows by
// these names; workflows/index.ts (the file `ferry worker` bundles) must export a function of each
// name, and test/unit/worker-registration.test.ts fails when one is missing. Pure: no imports.

export const workflowTypes = {
  /** `ferry upsync`: one feature's incremental or full copy, offline → online. */
  upsync: 'upsyncWorkflow',
  /** `ferry backfill`: a watermark range re-synced without moving the cursor. */
  backfill: 'backfillWorkflow',
  /** `ferry replay`: dead letters re-validated and re-applied. */
  replay: 'replayDeadLettersWorkflow',
  /** `ferry downsync start`: the long-running Kafka command consumer. */
  commandConsumer: 'commandConsumerWorkflow',
  /** The Schedule `upsync/<feature>` made by `ferry apply`: transform of the window, then upsync. */
  scheduledUpsync: 'scheduledUpsyncWorkflow',
  /** The Schedule `retention/daily` made by `ferry apply`. */
  retention: 'retentionWorkflow',
  /** `ferry start`: the quickstart's transforms, then the upsyncs of the features they feed. */
  transformAndUpsync: 'transformAndUpsyncWorkflow',
} as const;

export type WorkflowTypeName = (typeof workflowTypes)[keyof typeof workflowTypes];
