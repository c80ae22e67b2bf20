import { readFile } from 'node:fs/promises';
import { readSettings } from '../config/settings.ts';
import { formatDefinitionError } from '../domain/definitions/definition-error.ts';
import { loadDefinitions } from '../domain/definitions/load-definitions.ts';
import { EventMapper, type RuleOutcome } from '../domain/events/event-mapper.ts';
import { FeatureCatalog } from '../stores/registry/feature-catalog.ts';
import { startBackfill } from './backfill-command.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry events test <feature> --event <file.json | -> [--json]
       ferry events backfill <feature> --from <time> --to <time> [--wait] [--json]

test: 
Shows what a feature's from_events rules would write for a sample domain event, without
touching any store: for every rule, whether its filter matches, and the command it makes
(keys, values, event time) or why the event cannot be mapped (what would go to dead letters).
Reads the definitions from FERRY_FEATURES_DIR (default features/), so a rule can be tried
before \`ferry apply\`. The file holds one JSON event, or a JSON array of events.

backfill: runs the feature's rules over the events kept in the offline store (the table named
by from_events.backfill, one row per event), rows whose watermark lies in [from, to), on the
Temporal worker (workflow events-backfill/<feature>/<from>-<to>), in bounded chunks, so that a
new event-fed feature starts with history. Event time still decides: nothing newer is replaced.
An Aggregation counts, per key, the rows before its oldest live event (the key's history, kept
apart; the live events count the rest), each once: running the same range again changes nothing.
Rows a rule cannot map go to dead letters (ferry replay takes them once the rule is fixed).

Options (test):
  --event FILE   the event(s) as JSON; - reads standard input
  --features DIR folder of feature YAML (default: $FERRY_FEATURES_DIR or features)
  --json         print [{event, outcomes: [{rule, matched, command | failure}]}] as JSON
Options (backfill):
  --from <time>  start of the range (inclusive): 2024-03-01, 2024-03-01T05:00:00Z, epoch ms or now
  --to <time>    end of the range (exclusive)
  --wait         wait for the end with a progress bar
  --json         print the start (or, with --wait, the final progress) as JSON`;

const jsonSafe = (_k: string, v: unknown) => (typeof v === 'bigint' ? Number(v) : v);

export const eventsCommand: Command = {
  name: 'events',
  usage,
  run: (args) =>
    runCommand('events', usage, async () => {
      if (args[0] === 'backfill') return startBackfill(args.slice(1), 'events');
      const { values: o, positionals } = parseOptions(args, {
        event: { type: 'string' },
        features: { type: 'string' },
        json: { type: 'boolean' },
      });
      if (positionals[0] !== 'test' || positionals.length !== 2)
        throw new UsageError(
          'expected: ferry events test <feature> --event <file.json>, or ferry events backfill <feature> --from --to',
        );
      if (o.event === undefined) throw new UsageError('--event: the sample event file is required');
      const name = positionals[1]!;
      const settings = readSettings();
      const { definitions, errors } = await loadDefinitions([o.features ?? settings.featuresDir]);
      const resolved = new FeatureCatalog(definitions).resolve(name);
      const def = 'definition' in resolved ? resolved.definition : undefined;
      if (def === undefined) {
        for (const e of errors) console.error(formatDefinitionError(e));
        throw new UsageError(
          errors.length > 0
            ? `${name}: not among the valid definitions (see the problems above)`
            : `${name}: no such feature (known: ${definitions.map((d) => d.name).join(', ')})`,
        );
      }
      if (def.fromEvents === undefined) throw new UsageError(`${def.name} has no from_events block`);
      const text =
        o.event === '-'
          ? await readStdin()
          : await readFile(o.event, 'utf8').catch((e: Error) => {
              throw new UsageError(`--event: cannot read ${o.event}: ${e.message}`);
            });
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new UsageError(`--event: not JSON: ${(e as Error).message}`);
      }
      const events = Array.isArray(parsed) ? parsed : [parsed];
      const mapper = new EventMapper(def);
      const results = events.map((event) => {
        const outcomes = mapper.map(event);
        return {
          event,
          outcomes: mapper.ruleNames.map((rule) => {
            const hit = outcomes.find((x) => x.rule === rule);
            return hit === undefined ? { rule, matched: false } : { ...describeOutcome(hit), matched: true };
          }),
        };
      });
      if (o.json) console.log(JSON.stringify(results, jsonSafe, 2));
      else
        results.forEach((r, i) => {
          if (events.length > 1) console.log(`event ${i + 1}:`);
          for (const x of r.outcomes) {
            if (!x.matched) console.log(`  ${x.rule}: no match (skipped)`);
            else if ('failure' in x)
              console.log(`  ${x.rule}: matched, cannot map: ${x.failure} (a dead letter)`);
            else if ('command' in x)
              console.log(
                `  ${x.rule}: ${x.command.method} keys ${JSON.stringify(x.command.keys, jsonSafe)} values ${JSON.stringify(x.command.values, jsonSafe)} at ${new Date(x.command.eventTimeMs).toISOString()}`,
              );
          }
        });
      return 0;
    }),
};

function describeOutcome(o: RuleOutcome) {
  return 'failure' in o
    ? { rule: o.rule, failure: o.failure }
    : {
        rule: o.rule,
        command: {
          method: o.command.method,
          keys: o.command.keys,
          values: o.command.values,
          eventTimeMs: o.command.eventTimeMs,
        },
      };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
