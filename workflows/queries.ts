// The `progress` query every Ferry workflow answers (the CLI's --wait and the Temporal UI's Queries
// tab call it). Each workflow answers with its own shape.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { chunkProgressSignalName } from '../workflow-contract/ids.ts';
import type {
  ChunkProgress,
  PipelineProgress,
  ReplayProgress,
  RetentionResult,
  SyncProgress,
} from '../workflow-contract/types.ts';

export const progressQueryName = 'progress';

export const syncProgressQuery = defineQuery<SyncProgress>(progressQueryName);
export const pipelineProgressQuery = defineQuery<PipelineProgress>(progressQueryName);
export const replayProgressQuery = defineQuery<ReplayProgress>(progressQueryName);
export const retentionProgressQuery = defineQuery<RetentionResult>(progressQueryName);

export const chunkProgressSignal = defineSignal<[ChunkProgress]>(chunkProgressSignalName);
