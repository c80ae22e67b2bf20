import uWS from 'uWebSockets.js';
import http from 'node:http';
import type { ReaderApi, Reply } from '../reader/reader-api.ts';

/** A server the benchmark started in this thread. */
export interface BenchServer {
  port: number;
  close(): Promise<void>;
}

const isPromise = (v: Reply | Promise<Reply>): v is Promise<Reply> =>
  typeof (v as Promise<Reply>).then === 'function';

/**
 * Baseline 1: the reader's own handler (the same ReaderApi object, cache and store) on
 * Node's `http` module instead of uWebSockets.js. Only the routes the benchmark calls.
 */
export function serveNodeHttp(api: ReaderApi, port: number): Promise<BenchServer> {
  const send = (res: http.ServerResponse, r: Reply) => {
    const headers: Record<string, string> = { 'content-type': r.contentType ?? 'application/json' };
    for (const [k, v] of r.headers ?? []) headers[k] = v;
    res.writeHead(r.status, headers);
    res.end(r.body);
  };
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    if (req.method === 'POST' && req.url === '/v1/features/lookup') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = api.lookup(auth, Buffer.concat(chunks).toString('utf8'));
        if (isPromise(r))
          r.then(
            (x) => send(res, x),
            (e: unknown) => send(res, api.failure(e)),
          );
        else send(res, r);
      });
      return;
    }
    send(res, api.notFound(req.method ?? '', req.url ?? ''));
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      }),
    );
  });
}

/**
 * Baseline 2: a bare uWebSockets.js app that reads the request body and answers a fixed
 * body (the size of the reader's answer): the ceiling of the HTTP stack here.
 */
export function serveBareUws(body: string, port: number): Promise<BenchServer> {
  const app = uWS.App();
  const fixed = Buffer.from(body);
  app.any('/*', (res) => {
    res.onAborted(() => {
      res.aborted = true;
    });
    res.onData((_chunk, isLast) => {
      if (isLast && !res.aborted) {
        res.cork(() => {
          res.writeHeader('content-type', 'application/json').end(fixed);
        });
      }
    });
  });
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', port, (ls) => {
      if (!ls) {
        reject(new Error(`bare uWS: cannot listen on ${port}`));
        return;
      }
      resolve({
        port: uWS.us_socket_local_port(ls as unknown as uWS.us_socket),
        close: async () => {
          uWS.us_listen_socket_close(ls);
          app.close();
        },
      });
    });
  });
}
