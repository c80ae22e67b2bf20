import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../config/settings.ts';
import { type ReaderHandle, startReader } from '../../reader/start-reader.ts';
import { openEmbeddedOnlineStore } from '../../stores/online/embedded-online-store.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
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

// The server never crashes on input: random and truncated requests over raw TCP, and clients
// that go away mid-body or mid-response.

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-reader-fuzz-'));
let store: OnlineStore;
let counting: CountingStore;
let reader: ReaderHandle;
const http = client(() => `http://127.0.0.1:${reader.port}`);

beforeAll(async () => {
  store = await openEmbeddedOnlineStore({ path: path.join(dir, 'online') });
  const defs = await applyTestFeatures(store);
  await store.writeObjects(defs.get('azar::user-profile')!, [
    { keys: { user_id: 1 }, values: { level: 1 }, eventTimeMs: Date.now() },
  ]);
  counting = new CountingStore(store);
  reader = await startReader({
    store: counting,
    settings: readSettings({}),
    config: { ...testReaderConfig(), maxBodyBytes: 4096 },
    tokens: tokenEntries,
    host: '127.0.0.1',
    port: 0,
    log: () => {},
  });
});

afterAll(async () => {
  await reader?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}

const paths = [
  '/v1/features/lookup',
  '/v1/commands',
  '/v1/features/azar::user-profile/1',
  '/v1/features/test::pair-stat?user_id=1&peer_id=%ZZ',
  '/v1/features/%E0%A4%A/1',
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/',
  '/v1/features/',
  `/${'a'.repeat(3000)}`,
];
const bodies = [
  '{"feature":"azar::user-profile","keys":[1,2,3]}',
  '{"requests":[{"feature":"azar-match::recent-matches","keys":[1],"limit":2,"fields":["peer_user_id"]}]}',
  '{"feature_name":"azar::user-profile","method":"UPDATE","keys":{"user_id":5},"values":{"level":2,"_last_updated_at_ms":1700000000000}}',
  '[{"feature_name":"test::pair-stat","method":"UPDATE","keys":{"user_id":1,"peer_id":"x"},"values":{"chats":1,"_last_updated_at_ms":1700000000000}}]',
  '{"requests":[{"feature":"user-profile","keys":[{"user_id":{"$gt":1}}]}]}',
  '{"feature":"azar::user-profile","keys":[1e400, -0, "9007199254740993", true, [], {}]}',
  '{"__proto__":{"polluted":1},"feature":"azar::user-profile","keys":[1]}',
];
const methods = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'BREW', ''];

function randomJson(r: ReturnType<typeof prng>, depth = 0): unknown {
  switch (r.int(depth > 2 ? 4 : 7)) {
    case 0:
      return r.int(1e6) - 5e5;
    case 1:
      return r.pick(['', 'azar::user-profile', 'requests', 'keys', '\u0000', '😀', 'x'.repeat(r.int(100))]);
    case 2:
      return r.pick([null, true, false, 1.5, -1, Number.MAX_SAFE_INTEGER]);
    case 3:
      return r.pick(['feature', 'keys', 'fields', 'limit']);
    case 4:
      return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--)
        o[String(r.pick(['feature', 'keys', 'fields', 'limit', 'requests', 'method', 'x']))] = randomJson(
          r,
          depth + 1,
        );
      return o;
    }
  }
}

/** One fuzz case: bytes to send over a fresh connection. */
function fuzzCase(r: ReturnType<typeof prng>): Buffer {
  const kind = r.int(8);
  if (kind === 0) return r.bytes(r.int(600));
  const url = r.pick(paths);
  let body = kind === 3 ? JSON.stringify(randomJson(r)) : r.pick(bodies);
  if (kind === 6) body = body.replace('{', `{"pad":"${'p'.repeat(4100)}",`);
  if (kind === 4) {
    const b = Buffer.from(body);
    for (let i = r.int(4); i >= 0; i--) b[r.int(b.length)] = r.int(256);
    body = b.toString('latin1');
  }
  const headers = [`Host: 127.0.0.1`];
  const auth = r.int(6);
  if (auth <= 2) headers.push(`Authorization: Bearer ${tokens.sample}`);
  else if (auth === 3)
    headers.push(
      `Authorization: ${r
        .bytes(r.int(40))
        .toString('latin1')
        .replace(/[\r\n]/g, '')}`,
    );
  else if (auth === 4) headers.push(`Authorization: Bearer ${tokens.live}`);
  const cl = r.int(8);
  const length = Buffer.byteLength(body, 'latin1');
  if (cl === 0) headers.push(`Content-Length: ${length}`);
  else if (cl === 1)
    headers.push(
      `Content-Length: ${r.pick(['-1', 'abc', '99999999999999999999', '', `${length + 10}`, `${length} , ${length}`])}`,
    );
  else if (cl === 2) headers.push('Transfer-Encoding: chunked');
  else if (cl === 3) headers.push(`Content-Length: ${length}`, `Content-Length: ${length + 1}`);
  else headers.push(`Content-Length: ${length}`);
  if (r.int(4) === 0) headers.push(`X-${r.int(100)}: ${'v'.repeat(r.int(2000))}`);
  const version = r.int(10) === 0 ? r.pick(['HTTP/1.0', 'HTTP/9', '', 'http/1.1']) : 'HTTP/1.1';
  const head = `${r.int(12) === 0 ? r.pick(methods) : r.pick(['GET', 'POST'])} ${url} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`;
  let out = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body, 'latin1')]);
  if (kind === 5 || r.int(6) === 0) out = out.subarray(0, r.int(out.length + 1)); // truncated anywhere
  return out;
}

/** Checks that `data` is zero or more complete, well-formed HTTP/1.1 responses; returns their statuses. */
function parseResponses(data: Buffer): number[] {
  const statuses: number[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0)
      throw new Error(`incomplete head: ${JSON.stringify(data.subarray(at, at + 200).toString('latin1'))}`);
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(lines[0]!);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    statuses.push(Number(m[1]));
    let length: number | undefined;
    for (const line of lines.slice(1)) {
      const h = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ?(.*)$/.exec(line);
      if (!h) throw new Error(`bad header line: ${JSON.stringify(line)}`);
      if (h[1]!.toLowerCase() === 'content-length') length = Number(h[2]);
    }
    // without Content-Length the body runs to the close of the connection (uWS's own 400/431/505)
    if (length === undefined) {
      if (!lines.some((l) => /^connection: close$/i.test(l)))
        throw new Error('no Content-Length and no Connection: close');
      break;
    }
    at = end + 4 + length;
    if (at > data.length) throw new Error(`body shorter than content-length ${length}`);
  }
  return statuses;
}

/** Sends bytes, collects what comes back until the server closes or is quiet for `quietMs`. */
function exchange(port: number, payload: Buffer, halfClose: boolean, quietMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port });
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    socket.on('connect', () => {
      socket.write(payload);
      if (halfClose) socket.end();
      arm();
    });
    socket.on('data', (d) => {
      chunks.push(d);
      arm();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
  });
}

describe('reader robustness', () => {
  it('answers thousands of random and truncated requests with well-formed HTTP, and stays up', async () => {
    const r = prng(20240611);
    const cases = Array.from({ length: 3000 }, () => fuzzCase(r));
    const seen = new Map<number, number>();
    let silent = 0;
    for (let i = 0; i < cases.length; i += 150) {
      const batch = cases.slice(i, i + 150);
      const got = await Promise.all(batch.map((c, j) => exchange(reader.port, c, (i + j) % 2 === 0, 150)));
      got.forEach((data, j) => {
        let statuses: number[];
        try {
          statuses = parseResponses(data);
        } catch (e) {
          throw new Error(
            `case ${i + j} (${JSON.stringify(batch[j]!.toString('latin1').slice(0, 300))}): ${(e as Error).message}`,
          );
        }
        if (statuses.length === 0) silent++;
        for (const s of statuses) seen.set(s, (seen.get(s) ?? 0) + 1);
      });
    }
    // every status is one the API or the HTTP layer documents
    for (const s of seen.keys()) expect([200, 202, 400, 401, 403, 404, 405, 413, 431, 503, 505]).toContain(s);
    // the cases reach the handlers, not only the HTTP parser
    for (const s of [200, 400, 401, 404, 413]) expect(seen.get(s), `status ${s}`).toBeGreaterThan(0);
    expect(silent).toBeLessThan(cases.length);
    // still serving
    expect((await http.get('/healthz', undefined)).status).toBe(200);
    const ok = await http.post('/v1/features/lookup', { feature: 'azar::user-profile', keys: [1] });
    expect(ok.status).toBe(200);
    expect(ok.json.results[0].rows[0].values.level).toBe(1);
  });

  it('survives clients that leave mid-body and mid-response, and writes nothing after an abort', async () => {
    const port = reader.port;
    // mid-body: the server waits for the rest, then the client goes away
    for (let i = 0; i < 20; i++) {
      await exchange(
        port,
        Buffer.from(
          `POST /v1/features/lookup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.sample}\r\nContent-Length: 1000\r\n\r\n{"feature":`,
        ),
        false,
        20,
      );
    }
    // mid-response: the store is slow, the client leaves before the answer
    counting.delayMs = 150;
    try {
      const sockets = Array.from({ length: 20 }, (_, i) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.on('error', () => {});
        s.write(
          `GET /v1/features/azar::user-profile/${700_000 + i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.sample}\r\n\r\n`,
        );
        return s;
      });
      await sleep(30);
      for (const s of sockets) s.destroy();
      await sleep(300);
    } finally {
      counting.delayMs = 0;
    }
    // a large response read partly
    const keys = Array.from({ length: 200 }, (_, i) => 800_000 + i);
    const body = JSON.stringify({ feature: 'azar::user-profile', keys });
    const partial = await new Promise<number>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.write(
        `POST /v1/features/lookup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.sample}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      s.once('data', (d) => {
        s.destroy();
        resolve(d.length);
      });
    });
    expect(partial).toBeGreaterThan(0);
    await sleep(50);
    const m = await http.get('/metrics', undefined);
    expect(m.status).toBe(200);
    expect(
      metric(m.text, 'ferry_reader_requests_total', { route: 'lookup_one', status: '499' }),
    ).toBeGreaterThanOrEqual(20);
    expect(
      metric(m.text, 'ferry_reader_requests_total', { route: 'lookup', status: '499' }),
    ).toBeGreaterThanOrEqual(20);
    // only the /metrics request itself is in flight
    expect(metric(m.text, 'ferry_reader_inflight_requests')).toBe(1);
    expect((await http.get('/healthz', undefined)).status).toBe(200);
  });
});
