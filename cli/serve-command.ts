import { readSettings } from '../config/settings.ts';
import { readReaderConfig } from '../reader/reader-config.ts';
import { startReader } from '../reader/start-reader.ts';
import type { Command } from './command.ts';
import { parseOptions, UsageError } from './parse-options.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ferry serve [--port <n>] [--host <addr>] [--threads <n>]

Starts the read API (uWebSockets.js): batch and single lookups, the push endpoint,
/healthz, /readyz, /metrics and /openapi.json. Callers authenticate with bearer tokens
listed by SHA-256 hash in the tokens file. Stops gracefully on SIGINT or SIGTERM: stops
accepting, finishes the requests under way, then exits.

Options:
  --port <n>      port (default: $FERRY_READER_PORT or 8080; 0 picks a free one)
  --host <addr>   address to bind (default: $FERRY_READER_HOST or 127.0.0.1)
  --threads <n>   serving threads, one uWS app each on the same port
                  (default: $FERRY_READER_THREADS or one per core)

Settings: FERRY_TOKENS_FILE, FERRY_ONLINE_STORE, FERRY_REDIS_URL and the FERRY_READER_*
variables (cache size and freshness, limits, timeouts); \`ferry config\` lists them.`;

function positiveInt(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name}: expected an integer ≥ ${min}, got "${text}"`);
  return n;
}

export const serveCommand: Command = {
  name: 'serve',
  usage,
  run: (args) =>
    runCommand('serve', usage, async () => {
      const { values } = parseOptions(
        args,
        { port: { type: 'string' }, host: { type: 'string' }, threads: { type: 'string' } },
        false,
      );
      const port = positiveInt('port', values.port, 0);
      const threads = positiveInt('threads', values.threads, 1);
      const settings = readSettings();
      const config = readReaderConfig();
      const reader = await startReader({
        settings,
        config,
        ...(port !== undefined ? { port } : {}),
        ...(values.host !== undefined ? { host: values.host } : {}),
        ...(threads !== undefined ? { threads } : {}),
      });
      console.log(
        `ferry reader listening on http://${reader.host}:${reader.port} ` +
          `(${reader.threads} thread${reader.threads === 1 ? '' : 's'}, ${settings.onlineStore} online store` +
          `${settings.redisUrl ? ', shared Redis cache' : ''}); API at /openapi.json`,
      );
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      console.log(`ferry reader: ${signal}, finishing requests under way`);
      await reader.close();
      console.log('ferry reader: stopped');
      return 0;
    }),
};
