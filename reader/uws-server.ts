import uWS from 'uWebSockets.js';
import type { ReaderMetrics } from './metrics.ts';
import { type ReaderApi, type Reply, statusText } from './reader-api.ts';

export interface UwsServerOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  shutdownTimeoutMs: number;
  metrics: ReaderMetrics;
}

export interface UwsServer {
  port: number;
  /** Stops accepting, waits for in-flight requests (bounded), then closes every connection. */
  close(): Promise<void>;
}

/** Per-request state kept on uWS's response object. */
interface Tracked extends uWS.HttpResponse {
  aborted?: boolean;
  done?: boolean;
}

const isPromise = (v: Reply | Promise<Reply>): v is Promise<Reply> =>
  typeof (v as Promise<Reply>).then === 'function';

/**
 * Serves a ReaderApi with uWebSockets.js in the calling thread. Every response is written
 * corked; a request answered later (store read, body upload) has an abort handler, and
 * nothing is written to it after it was aborted.
 */
export function serveUws(api: ReaderApi, options: UwsServerOptions): Promise<UwsServer> {
  const app = uWS.App();
  const { metrics } = options;

  const observe = (route: string, reply: Reply | null, status: number, start: number) => {
    const seconds = (performance.now() - start) / 1000;
    const features = reply?.features;
    if (features === undefined || features.length === 0) metrics.observe(route, '', status, seconds);
    else for (const f of features) metrics.observe(route, f, status, seconds);
  };

  const write = (res: uWS.HttpResponse, reply: Reply, close: boolean) => {
    if (reply.status !== 200) res.writeStatus(statusText[reply.status] ?? `${reply.status} Error`);
    res.writeHeader('content-type', reply.contentType ?? 'application/json');
    if (reply.headers !== undefined) for (const [k, v] of reply.headers) res.writeHeader(k, v);
    res.end(reply.body, close || api.draining);
  };

  /** Answers a request still inside its handler (uWS has it corked already). */
  const sendNow = (res: uWS.HttpResponse, route: string, reply: Reply, start: number) => {
    write(res, reply, false);
    observe(route, reply, reply.status, start);
  };

  /** Starts tracking a request that is answered later. */
  const track = (res: Tracked, route: string, start: number) => {
    api.inflight++;
    res.onAborted(() => {
      res.aborted = true;
      if (res.done) return;
      res.done = true;
      api.inflight--;
      observe(route, null, 499, start);
    });
  };

  /** Answers a tracked request, unless it was aborted or answered already. */
  const send = (res: Tracked, route: string, reply: Reply, start: number, close = false) => {
    if (res.done) return;
    res.done = true;
    api.inflight--;
    if (res.aborted) return;
    res.cork(() => write(res, reply, close));
    observe(route, reply, reply.status, start);
  };

  const later = (res: Tracked, route: string, reply: Promise<Reply>, start: number) => {
    reply.then(
      (r) => send(res, route, r, start),
      (e: unknown) => send(res, route, api.failure(e), start),
    );
  };

  /** Reads the body (bounded), then calls `handle` with its text; 413 and close above the limit. */
  const withBody = (
    res: Tracked,
    req: uWS.HttpRequest,
    route: string,
    start: number,
    handle: (text: string) => Reply | Promise<Reply>,
  ) => {
    const declared = req.getHeader('content-length');
    track(res, route, start);
    if (declared !== '' && Number(declared) > options.maxBodyBytes) {
      send(res, route, api.tooLarge(), start, true);
      return;
    }
    let parts: Buffer[] | null = null;
    let size = 0;
    res.onData((chunk, isLast) => {
      if (res.done) return;
      size += chunk.byteLength;
      if (size > options.maxBodyBytes) {
        send(res, route, api.tooLarge(), start, true);
        return;
      }
      // the chunk is only valid during this call: decode it now or copy it
      if (!isLast) {
        if (parts === null) parts = [];
        parts.push(Buffer.from(new Uint8Array(chunk)));
        return;
      }
      let text: string;
      if (parts === null) text = Buffer.from(chunk).toString('utf8');
      else {
        parts.push(Buffer.from(chunk));
        text = Buffer.concat(parts).toString('utf8');
      }
      let reply: Reply | Promise<Reply>;
      try {
        reply = handle(text);
      } catch (e) {
        reply = api.failure(e);
      }
      if (isPromise(reply)) later(res, route, reply, start);
      else send(res, route, reply, start);
    });
  };

  const notAllowed = (allow: string) => (res: uWS.HttpResponse, _req: uWS.HttpRequest) =>
    sendNow(res, 'method_not_allowed', api.methodNotAllowed(allow), performance.now());

  app.post('/v1/features/lookup', (res, req) => {
    const start = performance.now();
    const auth = req.getHeader('authorization');
    withBody(res, req, 'lookup', start, (text) => api.lookup(auth, text));
  });
  app.any('/v1/features/lookup', notAllowed('POST'));

  const lookupOne = (res: Tracked, req: uWS.HttpRequest, hasKey: boolean) => {
    const start = performance.now();
    const feature = req.getParameter(0) ?? '';
    if (feature === 'lookup' && !hasKey) {
      sendNow(res, 'method_not_allowed', api.methodNotAllowed('POST'), start);
      return;
    }
    const reply = api.lookupOne(
      req.getHeader('authorization'),
      feature,
      hasKey ? req.getParameter(1) : undefined,
      req.getQuery() ?? '',
    );
    if (!isPromise(reply)) {
      sendNow(res, 'lookup_one', reply, start);
      return;
    }
    track(res, 'lookup_one', start);
    later(res, 'lookup_one', reply, start);
  };
  app.get('/v1/features/:feature/:key', (res, req) => lookupOne(res, req, true));
  app.get('/v1/features/:feature', (res, req) => lookupOne(res, req, false));
  app.any('/v1/features/:feature/:key', notAllowed('GET'));
  app.any('/v1/features/:feature', notAllowed('GET'));

  app.post('/v1/commands', (res, req) => {
    const start = performance.now();
    const auth = req.getHeader('authorization');
    withBody(res, req, 'push', start, (text) => api.push(auth, text));
  });
  app.any('/v1/commands', notAllowed('POST'));

  app.post('/v1/events/:topic', (res, req) => {
    const start = performance.now();
    const auth = req.getHeader('authorization');
    const topic = req.getParameter(0) ?? '';
    withBody(res, req, 'push_events', start, (text) => api.pushEvents(auth, topic, text));
  });
  app.any('/v1/events/:topic', notAllowed('POST'));

  app.get('/healthz', (res) => sendNow(res, 'healthz', api.healthz(), performance.now()));
  app.get('/readyz', (res) => {
    const start = performance.now();
    track(res, 'readyz', start);
    later(res, 'readyz', api.readyz(), start);
  });
  app.get('/metrics', (res, req) => {
    const start = performance.now();
    const auth = req.getHeader('authorization');
    track(res, 'metrics', start);
    later(res, 'metrics', api.metrics(auth), start);
  });
  app.get('/openapi.json', (res) => sendNow(res, 'openapi', api.openApi(), performance.now()));
  for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) app.any(path, notAllowed('GET'));
  app.any('/*', (res, req) =>
    sendNow(res, 'not_found', api.notFound(req.getMethod(), req.getUrl()), performance.now()),
  );

  return new Promise((resolve, reject) => {
    app.listen(options.host, options.port, (listenSocket) => {
      if (!listenSocket) {
        app.close();
        reject(new Error(`cannot listen on ${options.host}:${options.port}`));
        return;
      }
      const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close: () => {
          closing ??= (async () => {
            api.draining = true;
            uWS.us_listen_socket_close(listenSocket);
            const deadline = Date.now() + options.shutdownTimeoutMs;
            while (api.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
            app.close();
          })();
          return closing;
        },
      });
    });
  });
}
