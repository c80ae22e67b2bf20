import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serveCommand } from '../../cli/serve-command.ts';
import { readSettings } from '../../config/settings.ts';
import { startReader } from '../../reader/start-reader.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { openOnlineStore } from '../../stores/online/open-online-store.ts';
import {
  applyTestFeatures,
  CountingStore,
  client,
  metric,
  sleep,
  testReaderConfig,
  tokenEntries,
  tokens,
} from '../conformance/reader-api-suite.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-reader-life-'));
const settings = { ...readSettings({}), dataDir: dir, onlineStore: 'embedded' as const };
let store: OnlineStore;

beforeAll(async () => {
  store = await openOnlineStore(settings);
  const defs = await applyTestFeatures(store);
  await store.writeObjects(defs.get('azar::user-profile')!, [
    { keys: { user_id: 1 }, values: { level: 1 }, eventTimeMs: Date.now() - 1000 },
  ]);
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** True when nothing accepts connections on the port any more. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('reader lifecycle', () => {
  it('shuts down gracefully: stops accepting, finishes requests under way, then frees the port', async () => {
    const counting = new CountingStore(store);
    const reader = await startReader({
      store: counting,
      settings,
      config: testReaderConfig(),
      tokens: tokenEntries,
      host: '127.0.0.1',
      port: 0,
      log: () => {},
    });
    const http = client(() => `http://127.0.0.1:${reader.port}`);
    counting.delayMs = 300;
    // what the server did, in order: the store read of the requests under way ended, close() ended
    const order: string[] = [];
    const read = counting.readObjects.bind(counting);
    counting.readObjects = async (...args) => {
      const rows = await read(...args);
      order.push('read');
      return rows;
    };
    const readsBefore = counting.readsOf('azar::user-profile');
    const slow = [
      http.get('/v1/features/azar::user-profile/1'),
      http.get('/v1/features/azar::user-profile/2'),
    ];
    // close once the requests are under way in the store (coalesced into one read)
    while (counting.readsOf('azar::user-profile') === readsBefore) await sleep(5);
    const closing = reader.close().then(() => order.push('closed'));
    await sleep(20);
    // no new connections once closing began
    await expect(fetch(`http://127.0.0.1:${reader.port}/healthz`)).rejects.toThrow();
    const answers = await Promise.all(slow);
    for (const a of answers) expect(a.status).toBe(200);
    expect(answers[0]!.json.values.level).toBe(1);
    expect(answers[0]!.headers.get('connection')).toBe('close');
    await closing;
    // close() ended only after every store read of the requests under way had ended (the two
    // requests share one read when they are coalesced)
    const reads = counting.readsOf('azar::user-profile') - readsBefore;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(order).toEqual([...Array(reads).fill('read'), 'closed']);
    expect(await portFree(reader.port)).toBe(true);
    // the store given by the caller stays open
    await expect(store.ping()).resolves.toBeUndefined();
    await reader.close();
  });

  it('serves one port from several threads: lookups, push invalidation across threads, summed metrics', async () => {
    const config = testReaderConfig();
    const reader = await startReader({
      settings,
      config: { ...config, threads: 2 },
      tokens: tokenEntries,
      host: '127.0.0.1',
      port: 0,
      log: () => {},
    });
    try {
      expect(reader.threads).toBe(2);
      const base = `http://127.0.0.1:${reader.port}`;
      // a new connection per request, so the kernel spreads them over both threads
      const get = async (p: string) => {
        const r = await fetch(base + p, {
          headers: { authorization: `Bearer ${tokens.sample}`, connection: 'close' },
        });
        return { status: r.status, json: (await r.json()) as { values: unknown } };
      };
      for (let i = 0; i < 20; i++)
        expect((await get('/v1/features/azar::user-profile/1?fields=level')).json.values).toEqual({
          level: 1,
        });
      const pushed = await fetch(`${base}/v1/commands`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.sample}`, connection: 'close' },
        body: JSON.stringify({
          feature_name: 'azar::user-profile',
          method: 'UPDATE',
          keys: { user_id: 1 },
          values: { level: 2, _last_updated_at_ms: Date.now() },
        }),
      });
      expect(pushed.status).toBe(200);
      // answered once the cached rows (fresh for 60 s) were dropped in both threads
      for (let i = 0; i < 20; i++)
        expect((await get('/v1/features/azar::user-profile/1?fields=level')).json.values).toEqual({
          level: 2,
        });
      const m = await (await fetch(`${base}/metrics`, { headers: { connection: 'close' } })).text();
      expect(metric(m, 'ferry_reader_threads')).toBe(2);
      expect(
        metric(m, 'ferry_reader_requests_total', {
          route: 'lookup_one',
          feature: 'azar::user-profile',
          status: '200',
        }),
      ).toBe(40);
      const byThread = metric(m, 'ferry_reader_store_reads_total', { feature: 'azar::user-profile' });
      expect(byThread).toBeGreaterThanOrEqual(2);
      expect(byThread).toBeLessThanOrEqual(4);
    } finally {
      await reader.close();
    }
    expect(await portFree(reader.port)).toBe(true);
  });

  it('refuses to start on a port in use, and with a store but several threads', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0, exclusive: true }, r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(
        startReader({
          settings,
          config: testReaderConfig(),
          tokens: tokenEntries,
          host: '127.0.0.1',
          port,
          threads: 2,
        }),
      ).rejects.toThrow(/in use/);
      await expect(
        startReader({
          store,
          settings,
          config: testReaderConfig(),
          tokens: tokenEntries,
          host: '127.0.0.1',
          port,
          log: () => {},
        }),
      ).rejects.toThrow(/in use/);
      await expect(
        startReader({ store, threads: 2, settings, config: testReaderConfig(), tokens: tokenEntries }),
      ).rejects.toThrow(/one thread/);
    } finally {
      blocker.close();
    }
  });

  it('ferry serve starts from the settings and stops on SIGTERM', async () => {
    const tokensFile = path.join(dir, 'tokens.yaml');
    writeFileSync(tokensFile, `tokens:\n  - service: sample-app\n    sha256: ${tokenEntries[0]!.sha256}\n`);
    const env = {
      FERRY_DATA_DIR: dir,
      FERRY_ONLINE_STORE: 'embedded',
      FERRY_TOKENS_FILE: tokensFile,
      FERRY_READER_PORT: '0',
      FERRY_REDIS_URL: '',
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
      lines.push(a.join(' '));
    });
    try {
      const done = serveCommand.run(['--threads', '1', '--host', '127.0.0.1']);
      let port: number | undefined;
      for (let i = 0; i < 200 && port === undefined; i++) {
        await sleep(25);
        const m = lines.map((l) => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(l)).find(Boolean);
        if (m) port = Number(m[1]);
      }
      expect(port).toBeDefined();
      const r = await fetch(`http://127.0.0.1:${port}/v1/features/azar::user-profile/1`, {
        headers: { authorization: `Bearer ${tokens.sample}` },
      });
      expect(r.status).toBe(200);
      process.emit('SIGTERM', 'SIGTERM');
      expect(await done).toBe(0);
      expect(lines.join('\n')).toMatch(/stopped/);
      expect(await portFree(port!)).toBe(true);
      const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
      expect(await serveCommand.run(['--threads', '0'])).toBe(2);
      expect(await serveCommand.run(['--port', 'http'])).toBe(2);
      quiet.mockRestore();
      expect(serveCommand.usage).toMatch(/--port/);
      expect(serveCommand.usage).toMatch(/--threads/);
    } finally {
      spy.mockRestore();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
