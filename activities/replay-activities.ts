import { Context } from '@temporalio/activity';
import { CommandError, type ValidCommand } from '../domain/commands/feature-command.ts';
import { parseCommand } from '../domain/commands/parse-command.ts';
import { validateCommand } from '../domain/commands/validate-command.ts';
import { eventTimeField } from '../domain/definitions/feature-definition.ts';
import { eventMappersOf } from '../domain/events/event-mapper.ts';
import type { DeadLetter, NewDeadLetter, OfflineRow } from '../stores/offline/offline-store.ts';
import { type ObjectWrite, OnlineStoreInputError } from '../stores/online/online-store.ts';
import { applyCommands } from '../streaming/commands/apply-command.ts';
import { withKafkaEventId } from '../streaming/commands/command-processor.ts';
import type { ReplayBatchInput } from '../workflow-contract/activities.ts';
import type { ReplayBatchResult, ReplayCursor } from '../workflow-contract/types.ts';
import { deadLetterId } from './dead-letter-payload.ts';
import type { AppliedDefinitions } from './definitions.ts';
import type { ActivityDeps } from './deps.ts';
import { rowConverter } from './row-to-write.ts';
import { writeIsolating } from './write-rows.ts';

/** The reason validateCommand gives when the producer may not write the feature. */
const refusedProducer = /^producer ".*" may not write /;

const isAfter = (l: DeadLetter, c: ReplayCursor | undefined) =>
  !c || l.occurredAtMs > c.occurredAtMs || (l.occurredAtMs === c.occurredAtMs && l.id > c.id);

/**
 * The id of a rewritten dead letter (same row, new reason). It keeps the original occurrence time
 * and must sort before the letter it replaces, so that a replay reading on from that letter does not
 * meet it again: one more leading `!` (which sorts before digits and letters) does that.
 */
function rewrittenId(old: DeadLetter, reason: string): string {
  const bangs = /^!*/.exec(old.id)![0].length;
  // a consumer's letter keeps its Kafka position (the id its Aggregation events are counted by)
  if (kafkaPositionOf(old.id) !== undefined) return `!${old.id}`;
  return '!'.repeat(bangs + 1) + deadLetterId(old.feature, old.origin, old.payload, reason);
}

/**
 * Where the consumer read an event it dead-lettered (`event:<topic>:<partition>:<offset>:<feature>`,
 * command-consumer.ts): the Aggregation events its rules made live were counted by
 * `<topic>/<partition>/<offset>/<rule>` (withKafkaEventId), so a replay counts them by the same id.
 */
export function kafkaPositionOf(
  letterId: string,
): { topic: string; partition: number; offset: number } | undefined {
  const m = /^!*event:([^:]+):(\d+):(\d+):/.exec(letterId);
  return m ? { topic: m[1]!, partition: Number(m[2]), offset: Number(m[3]) } : undefined;
}

export function createReplayActivities(deps: ActivityDeps, defs: AppliedDefinitions) {
  const { online, offline } = deps;

  async function readBatch(input: ReplayBatchInput): Promise<{ letters: DeadLetter[]; more: boolean }> {
    const from =
      input.after !== undefined
        ? Math.max(input.after.occurredAtMs, input.fromMs ?? -Infinity)
        : input.fromMs;
    let limit = input.batchSize;
    for (;;) {
      const got = await offline.readDeadLetters(input.fromFeature ?? input.feature, {
        ...(from !== undefined && Number.isFinite(from) ? { fromMs: from } : {}),
        ...(input.toMs !== undefined ? { toMs: input.toMs } : {}),
        limit,
      });
      const fresh = got.filter((l) => isAfter(l, input.after));
      // letters at the cursor's time that were already handled fill the page: read a longer one
      if (fresh.length === 0 && got.length === limit) {
        limit *= 2;
        continue;
      }
      return { letters: fresh, more: got.length === limit };
    }
  }

  /**
   * Re-validates one batch of a feature's dead letters against the applied definition and re-applies
   * those that now pass (upsync rows as online writes, commands through applyCommands, events through
   * the feature's rules as they are now); they are then
   * removed. Those that still fail stay: unchanged when the reason is the same, else rewritten with
   * the new reason (written first, the old one deleted after, so a crash loses nothing).
   * With `fromFeature` the letters are that feature's, checked against `feature`'s definition; those
   * that still fail stay as they are (their reason is the old feature's).
   */
  async function replayDeadLetterBatch(input: ReplayBatchInput): Promise<ReplayBatchResult> {
    const ctx = Context.current();
    const { def } = await defs.get(input.feature);
    const { letters: all, more } = await readBatch(input);
    // a retried page may have stored a letter twice (same id): handle it once
    const letters = [...new Map(all.map((l) => [l.id, l])).values()];
    const result: ReplayBatchResult = {
      read: letters.length,
      applied: 0,
      stillFailing: 0,
      skipped: 0,
      done: !more,
    };
    if (all.length > 0) {
      const last = all[all.length - 1]!;
      result.cursor = { occurredAtMs: last.occurredAtMs, id: last.id };
    }
    const fixed: string[] = [];
    const failing: { letter: DeadLetter; reason: string }[] = [];

    const rowWrites: ObjectWrite[] = [];
    const rowLetters: DeadLetter[] = [];
    const valueNames = def.fields.filter((f) => !f.isKey).map((f) => f.name);
    for (const l of letters) {
      if (l.origin === 'upsync') {
        let row: OfflineRow;
        try {
          row = JSON.parse(l.payload) as OfflineRow;
        } catch (e) {
          failing.push({ letter: l, reason: `payload is not JSON: ${(e as Error).message}` });
          continue;
        }
        const eventTimeColumn =
          eventTimeField in row ? eventTimeField : (def.upsync?.watermarkColumn ?? eventTimeField);
        const c = rowConverter(def, { valueFields: valueNames.filter((n) => n in row), eventTimeColumn })(
          row,
        );
        if (typeof c === 'string') failing.push({ letter: l, reason: c });
        else {
          rowWrites.push(c);
          rowLetters.push(l);
        }
      } else if (l.origin === 'command' && refusedProducer.test(l.reason)) {
        // refused for access: the letter does not say who sent it, so replaying would bypass the check
        result.skipped++;
      } else if (l.origin === 'command') {
        let cmd: ValidCommand;
        try {
          cmd = validateCommand(parseCommand(l.payload), def);
        } catch (e) {
          if (!(e instanceof CommandError)) throw e;
          failing.push({ letter: l, reason: e.message });
          continue;
        }
        try {
          const [late] = await applyCommands(online, def, [cmd]);
          if (late) failing.push({ letter: l, reason: late.reason });
          else fixed.push(l.id);
        } catch (e) {
          if (!(e instanceof OnlineStoreInputError)) throw e;
          failing.push({ letter: l, reason: e.message });
        }
      } else if (l.origin === 'event') {
        // the feature's rules as they are now, on the event as it came
        const mapper =
          def.fromEvents === undefined ? undefined : eventMappersOf([def], def.fromEvents.topic)[0];
        if (mapper === undefined) {
          failing.push({ letter: l, reason: `${def.name} has no from_events rules any more` });
          continue;
        }
        let event: unknown;
        try {
          event = JSON.parse(l.payload);
        } catch (e) {
          failing.push({ letter: l, reason: `not valid JSON: ${(e as Error).message}` });
          continue;
        }
        const outcomes = mapper.map(event);
        const failures = outcomes.flatMap((o) => ('failure' in o ? [`rule ${o.rule}: ${o.failure}`] : []));
        if (failures.length > 0) {
          failing.push({ letter: l, reason: failures.join('; ') });
          continue;
        }
        try {
          // no rule matching it any more is fixed too: the rules say the event writes nothing
          const at = kafkaPositionOf(l.id);
          const commands = outcomes.flatMap((o) =>
            'command' in o
              ? [at === undefined ? o.command : withKafkaEventId(def, o.command, at, o.rule)]
              : [],
          );
          const late = commands.length > 0 ? await applyCommands(online, def, commands) : [];
          if (late.length > 0) failing.push({ letter: l, reason: late.map((r) => r.reason).join('; ') });
          else fixed.push(l.id);
        } catch (e) {
          if (!(e instanceof OnlineStoreInputError)) throw e;
          failing.push({ letter: l, reason: e.message });
        }
      } else {
        result.skipped++;
      }
      ctx.heartbeat();
    }
    if (rowWrites.length > 0) {
      const rejected = await writeIsolating(online, def, rowWrites);
      const bad = new Map(rejected.map((r) => [r.index, r.reason]));
      rowLetters.forEach((l, i) => {
        const reason = bad.get(i);
        if (reason === undefined) fixed.push(l.id);
        else failing.push({ letter: l, reason });
      });
    }
    const rewritten: NewDeadLetter[] = [];
    const superseded: string[] = [];
    const foreign = input.fromFeature !== undefined && input.fromFeature !== input.feature;
    for (const { letter, reason } of failing) {
      if (reason === letter.reason || foreign) continue;
      rewritten.push({
        id: rewrittenId(letter, reason),
        feature: letter.feature,
        origin: letter.origin,
        reason,
        payload: letter.payload,
        occurredAtMs: letter.occurredAtMs,
      });
      superseded.push(letter.id);
    }
    if (rewritten.length > 0) await offline.writeDeadLetters(rewritten);
    const remove = [...fixed, ...superseded];
    if (remove.length > 0) await offline.deleteDeadLetters(remove);
    result.applied = fixed.length;
    result.stillFailing = failing.length;
    const reasons = [...new Set(failing.map((f) => f.reason))].slice(0, 5);
    if (reasons.length > 0) result.reasons = reasons;
    return result;
  }

  return { replayDeadLetterBatch };
}
