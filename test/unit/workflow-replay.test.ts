import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { productionWorkflowBundle } from '../workflow-bundle.ts';

// Every recorded history (test/workflow-histories/, made by record-histories.ts with the workflows
// as they were) replays on today's production bundle: a change to a workflow that would break the
// executions running when a new worker is deployed (a different command at the same point of the
// history) fails here. Change a workflow on purpose with patched(), then record again.

const dir = path.resolve(import.meta.dirname, '../workflow-histories');
const histories = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('recorded workflow histories replay on the current workflows', () => {
  it('there is a history of every workflow', () => {
    const types = new Set(
      histories.map(
        (f) =>
          JSON.parse(readFileSync(path.join(dir, f), 'utf8')).events[0]
            .workflowExecutionStartedEventAttributes.workflowType.name as string,
      ),
    );
    expect([...types].sort()).toEqual([
      'backfillWorkflow',
      'commandConsumerWorkflow',
      'replayDeadLettersWorkflow',
      'retentionWorkflow',
      'scheduledUpsyncWorkflow',
      'transformAndUpsyncWorkflow',
      'upsyncWorkflow',
    ]);
  });

  it.each(histories)('%s', async (file) => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const json = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    const history = proto.temporal.api.history.v1.History.fromObject(json);
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: await productionWorkflowBundle() } },
      history,
      `replay/${file}`,
    );
  });
});
