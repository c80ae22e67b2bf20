import { Client, Connection, defaultPayloadConverter, WorkflowNotFoundError } from '@temporalio/client';
import { readSettings } from '../config/settings.ts';
import { parseDuration } from '../domain/definitions/duration.ts';
import {
  commandConsumerWorkflowId,
  defaultCommandGroup,
  eventGroupOf,
} from '../workflow-contract/command-consumer-ids.ts';
import { workflowTypes } from '../workflow-contract/workflow-types.ts';
import type { CommandConsumerWorkflowInput } from '../workflows/command-consumer-workflow.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry downsync <start|stop|status> [options]

Runs the command consumer: a Temporal workflow (id commands/<topic>/<group>) keeps a
long-running activity consuming the commands topic; it applies commands to the online store
and writes sampled rows of features with downsync to the offline store. A Ferry worker on
FERRY_TEMPORAL_TASK_QUEUE runs it; the workflow restarts it when a worker dies.

  start    start the consumer workflow (nothing happens when it already runs)
  stop     cancel it: the consumer finishes its batch, commits its offsets and leaves
  status   the workflow's state and the consumer's last heartbeat

Options:
  --topic NAME                commands topic (default FERRY_KAFKA_COMMANDS_TOPIC)
  --group NAME                Kafka consumer group (default ${defaultCommandGroup}; with --events,
                              ferry-events-<topic>)
  --events                    the topic carries domain events for features' from_events rules
                              (start only; \`ferry apply\` starts these consumers itself)
  --heartbeat-timeout D       restart the consumer after this long without a heartbeat
                              (start only; default 30s)
  --max-retry-interval D      longest wait between restarts of a failing consumer
                              (start only; default 30s)
  --session-timeout D         Kafka session timeout of the consumer group (start only; default 30s)
  --lateness D                how long a downsync interval stays open for late commands
                              (start only; default 2s)
  --idle-close D              a caught-up partition quiet this long closes its open downsync
                              intervals by the wall clock (start only; default 2s)
  --json                      print the result as JSON`;

async function connect(
  settings: ReturnType<typeof readSettings>,
): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address: settings.temporalAddress });
  return {
    client: new Client({ connection, namespace: settings.temporalNamespace }),
    close: () => connection.close(),
  };
}

/** A duration option (`30s`, `1500ms`, `2m`) in ms, or undefined when not given; a bad one is a usage error. */
function durationOption(values: Record<string, unknown>, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const ms = parseDuration(String(text));
  if (ms === undefined || ms <= 0)
    throw new UsageError(`--${name}: expected a duration such as 30s, 1500ms or 2m, got "${text}"`);
  return ms;
}

export const downsyncCommand: Command = {
  name: 'downsync',
  usage,
  run: (args) =>
    runCommand('downsync', usage, async () => {
      const { values: o, positionals } = parseOptions(args, {
        topic: { type: 'string' },
        group: { type: 'string' },
        events: { type: 'boolean' },
        'heartbeat-timeout': { type: 'string' },
        'max-retry-interval': { type: 'string' },
        'session-timeout': { type: 'string' },
        lateness: { type: 'string' },
        'idle-close': { type: 'string' },
        json: { type: 'boolean' },
      });
      const action = positionals[0];
      if (positionals.length !== 1 || !['start', 'stop', 'status'].includes(action ?? ''))
        throw new UsageError('expected one of start, stop, status');
      const settings = readSettings();
      const topic = o.topic ?? settings.kafkaCommandsTopic;
      const groupId = o.group ?? (o.events ? eventGroupOf(topic) : defaultCommandGroup);
      const workflowId = commandConsumerWorkflowId(topic, groupId);
      // options are checked before anything connects: a typo fails at once, naming the flag
      const input: CommandConsumerWorkflowInput = { topic, groupId, ...(o.events ? { events: true } : {}) };
      const heartbeatTimeout = durationOption(o, 'heartbeat-timeout');
      if (heartbeatTimeout !== undefined) input.heartbeatTimeout = `${heartbeatTimeout} ms`;
      const maxRetryInterval = durationOption(o, 'max-retry-interval');
      if (maxRetryInterval !== undefined) input.maxRetryInterval = `${maxRetryInterval} ms`;
      const sessionTimeout = durationOption(o, 'session-timeout');
      if (sessionTimeout !== undefined) input.sessionTimeoutMs = sessionTimeout;
      const lateness = durationOption(o, 'lateness');
      const idle = durationOption(o, 'idle-close');
      if (lateness !== undefined || idle !== undefined)
        input.downsync = {
          ...(lateness !== undefined ? { latenessMs: lateness } : {}),
          ...(idle !== undefined ? { idleMs: idle } : {}),
        };
      const { client, close } = await connect(settings);
      const print = (json: unknown, text: string) =>
        console.log(o.json ? JSON.stringify(json, null, 2) : text);
      try {
        if (action === 'start') {
          const handle = await client.workflow.start(workflowTypes.commandConsumer, {
            taskQueue: settings.temporalTaskQueue,
            workflowId,
            args: [input],
            workflowIdConflictPolicy: 'USE_EXISTING',
          });
          print(
            { workflowId, runId: handle.firstExecutionRunId, taskQueue: settings.temporalTaskQueue },
            `consumer workflow ${workflowId} running (run ${handle.firstExecutionRunId}) on task queue ${settings.temporalTaskQueue}`,
          );
          return 0;
        }
        const handle = client.workflow.getHandle(workflowId);
        if (action === 'stop') {
          await handle.cancel();
          print({ workflowId, cancelled: true }, `cancel requested for ${workflowId}`);
          return 0;
        }
        const d = await handle.describe();
        const pending = d.raw.pendingActivities?.[0];
        const payload = pending?.heartbeatDetails?.payloads?.[0];
        const heartbeat = payload ? defaultPayloadConverter.fromPayload(payload as never) : undefined;
        const lastBeat = pending?.lastHeartbeatTime?.seconds
          ? new Date(Number(pending.lastHeartbeatTime.seconds) * 1000).toISOString()
          : undefined;
        const status = {
          workflowId,
          runId: d.runId,
          status: d.status.name,
          startedAt: d.startTime.toISOString(),
          activity: pending
            ? { state: pending.state, attempt: pending.attempt, lastHeartbeat: lastBeat, heartbeat }
            : null,
        };
        print(
          status,
          [
            `${workflowId}: ${d.status.name} since ${status.startedAt}`,
            pending
              ? `consumer attempt ${pending.attempt}, last heartbeat ${lastBeat ?? 'none yet'}${heartbeat ? `: ${JSON.stringify(heartbeat)}` : ''}`
              : 'no consumer activity running',
          ].join('\n'),
        );
        return 0;
      } catch (e) {
        if (e instanceof WorkflowNotFoundError)
          throw new Error(`no consumer workflow ${workflowId}: run \`ferry downsync start\``);
        throw e;
      } finally {
        await close();
      }
    }),
};
