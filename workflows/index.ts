// The workflows a Ferry worker registers (the worker bundles this file with webpack and runs it in
// Temporal's deterministic sandbox: no I/O here; activities/ does it). Every name in
// workflow-types.ts must be exported here: the CLI and the schedules start workflows by those names.
export { commandConsumerWorkflow } from './command-consumer-workflow.ts';
export { scheduledUpsyncWorkflow, transformAndUpsyncWorkflow } from './pipeline.ts';
export { replayDeadLettersWorkflow } from './replay.ts';
export { retentionWorkflow } from './retention.ts';
export { backfillWorkflow, upsyncWorkflow } from './upsync.ts';
