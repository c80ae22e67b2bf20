import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readSettings } from '../config/settings.ts';
import { TransformError } from '../domain/transforms/transform-error.ts';
import {
  loadTransform,
  TransformDefinitionError,
  transformNameOf,
} from '../domain/transforms/transform-file.ts';
import { createSampleSources } from '../samples/sample-sources.ts';
import { openOfflineStore } from '../stores/offline/open-offline-store.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry transform run <file> --date YYYY-MM-DD [--window-start TIME] [--window-end TIME] [--json]
       ferry transform list [--json]
       ferry transform sample-data [--json]

Runs the SQL transforms of sql/ by hand, in the configured offline store
(FERRY_OFFLINE_STORE: duckdb, the default, or bigquery).

  run          runs one transform into its destination table (replacing or
               appending as its header says) and prints the rows written.
               <file> is relative to sql/ (azar/user_profile.sql) or a path
               inside it (sql/azar/user_profile.sql); a per-dialect variant
               (name.duckdb.sql, name.bigquery.sql) wins when present.
  list         lists the transforms with destination, write mode and parameters.
  sample-data  creates the raw sample tables the sample transforms read
               (raw_users, raw_match_events, raw_lounge_events), replacing them,
               with a few rows around 2024-03-10.

Options:
  --date YYYY-MM-DD     the run's logical date (@logical_date)
  --window-start TIME   start of the incremental window (@window_start), ISO-8601;
                        default: the date at 00:00 UTC
  --window-end TIME     end of the window, exclusive (@window_end); default: one
                        day after the window's start
  --json                print the result as JSON

Exit codes: 0 done, 1 the transform or the store failed, 2 bad usage.

Example:
  ferry transform sample-data
  ferry transform run azar/user_profile.sql --date 2024-03-10`;

function parseTime(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
    throw new UsageError(`${option} must be an ISO-8601 time such as 2024-03-10T05:00:00Z, got "${text}"`);
  }
  return ms;
}

async function listSql(dir: string): Promise<string[]> {
  try {
    const files = await readdir(dir, { recursive: true });
    return files
      .map((f) => f.split(path.sep).join('/'))
      .filter((f) => f.endsWith('.sql'))
      .sort();
  } catch {
    return [];
  }
}

async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const settings = readSettings();
  if (sub === 'run') {
    const { values, positionals } = parseOptions(rest, {
      date: { type: 'string' },
      'window-start': { type: 'string' },
      'window-end': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('name one transform file');
    if (values.date === undefined) throw new UsageError('--date YYYY-MM-DD is required');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(values.date))
      throw new UsageError(`--date must be YYYY-MM-DD, got "${values.date}"`);
    const windowStart = parseTime('--window-start', values['window-start']);
    const windowEnd = parseTime('--window-end', values['window-end']);
    const name = transformNameOf(settings.sqlDir, positionals[0]!);
    const store = await openOfflineStore(settings);
    try {
      const result = await store.runTransform(name, {
        logicalDate: values.date,
        ...(windowStart !== undefined ? { windowStart } : {}),
        ...(windowEnd !== undefined ? { windowEnd } : {}),
      });
      if (values.json) console.log(JSON.stringify({ ...result, store: store.kind }, null, 2));
      else {
        console.log(
          `${result.file} → ${result.destination} (${result.writeMode}, ${store.kind}): ` +
            `${result.rowsWritten} row${result.rowsWritten === 1 ? '' : 's'} written in ${result.elapsedMs} ms`,
        );
      }
      return 0;
    } catch (e) {
      if (e instanceof TransformError || e instanceof TransformDefinitionError) {
        if (values.json)
          console.log(JSON.stringify({ error: e.message, file: e.file, line: e.line }, null, 2));
        else console.error(`ferry transform: ${e.message}`);
        return 1;
      }
      throw e;
    } finally {
      await store.close();
    }
  }
  if (sub === 'list') {
    const { values } = parseOptions(rest, { json: { type: 'boolean' } }, false);
    const dialect = settings.offlineStore === 'bigquery' ? 'bigquery' : 'duckdb';
    // a transform is named without its dialect; `x.duckdb.sql` alone still provides `x.sql`
    const names = [
      ...new Set((await listSql(settings.sqlDir)).map((f) => f.replace(/\.(duckdb|bigquery)\.sql$/, '.sql'))),
    ].sort();
    const rows = [];
    for (const name of names) {
      try {
        const t = await loadTransform(settings.sqlDir, name, dialect);
        rows.push({
          name,
          file: t.file,
          destination: t.destination,
          writeMode: t.writeMode,
          params: t.params,
        });
      } catch (e) {
        rows.push({ name, error: (e as Error).message });
      }
    }
    if (values.json) console.log(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) console.log(`No transforms in ${settings.sqlDir}/.`);
    else {
      const w = Math.max(...rows.map((r) => r.name.length));
      console.log(`${'TRANSFORM'.padEnd(w)}  MODE     DESTINATION / PARAMETERS`);
      for (const r of rows) {
        if ('error' in r) console.log(`${r.name.padEnd(w)}  error    ${r.error}`);
        else
          console.log(
            `${r.name.padEnd(w)}  ${r.writeMode.padEnd(7)}  ${r.destination} (${r.params.join(', ') || 'no parameters'})`,
          );
      }
    }
    return rows.some((r) => 'error' in r) ? 1 : 0;
  }
  if (sub === 'sample-data') {
    const { values } = parseOptions(rest, { json: { type: 'boolean' } }, false);
    const store = await openOfflineStore(settings);
    try {
      const counts = await createSampleSources(store);
      if (values.json) console.log(JSON.stringify({ store: store.kind, tables: counts }, null, 2));
      else
        for (const [table, n] of Object.entries(counts)) console.log(`${table}: ${n} rows (${store.kind})`);
      return 0;
    } finally {
      await store.close();
    }
  }
  throw new UsageError(
    sub === undefined ? 'name a subcommand: run, list or sample-data' : `unknown subcommand "${sub}"`,
  );
}

export const transformCommand: Command = {
  name: 'transform',
  usage,
  run: (args) => runCommand('transform', usage, () => run(args)),
};
