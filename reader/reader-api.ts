import type { OnlineStore } from '../stores/online/online-store.ts';
import { OnlineStoreInputError } from '../stores/online/online-store.ts';
import type { CommandPublisher } from '../streaming/commands/command-publisher.ts';
import { ApiError, errorBody, StoreUnavailableError } from './api-error.ts';
import { prepareEventPush } from './event-push-request.ts';
import type { FeatureReader, ReadRows } from './feature-reader.ts';
import { bindItem, bindQuery, type LookupItem, parseLookupBody } from './lookup-request.ts';
import { type MetricsSnapshot, type ReaderMetrics, renderMetrics } from './metrics.ts';
import { openApiJson } from './openapi.ts';
import { type PreparedPush, preparePush } from './push-request.ts';
import type { ReaderConfig } from './reader-config.ts';
import type { KeyId } from './row-cache.ts';
import { renderRow } from './row-json.ts';
import { mayRead, type ServedCatalog, type ServedFeature } from './served-features.ts';
import type { TokenTable } from './tokens.ts';
import { TimeoutError, withTimeout } from './with-timeout.ts';

/** A response, independent of the HTTP server that sends it. */
export interface Reply {
  status: number;
  /** JSON text, or its UTF-8 bytes (lookups: copied together from the cached rows). */
  body: string | Buffer;
  /** Default: application/json. */
  contentType?: string;
  headers?: readonly (readonly [string, string])[];
  /** Served features the request named (metrics labels). */
  features?: readonly string[];
}

export interface ReaderApiDeps {
  tokens: TokenTable;
  reader: FeatureReader;
  publisher: CommandPublisher;
  store: OnlineStore;
  config: ReaderConfig;
  metrics: ReaderMetrics;
  /** Snapshots of every thread's metrics (this thread's alone when it serves by itself). */
  gatherMetrics: () => Promise<MetricsSnapshot[]>;
  threads: number;
  /** Called after a push changed keys, to drop them from the other threads' caches; the push is answered once it resolves. */
  onPushed?: (cachePrefix: string, ids: readonly KeyId[]) => Promise<void>;
  log: (message: string) => void;
}

export const statusText: Record<number, string> = {
  200: '200 OK',
  202: '202 Accepted',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

const resultsOpen = Buffer.from('{"results":[');
const commaByte = 0x2c;
const close = Buffer.from(']}');

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as Promise<T>)?.then === 'function';

export function errorReply(status: number, code: string, message: string, field?: string): Reply {
  const headers: [string, string][] = [];
  if (status === 401) headers.push(['www-authenticate', 'Bearer realm="ferry"']);
  if (status === 503) headers.push(['retry-after', '1']);
  return { status, body: errorBody(code, message, field), headers };
}

/**
 * The read API, independent of the HTTP server: each method takes what the request carried
 * (Authorization header, body text, path parameters, query) and returns a Reply, synchronously
 * when it can (a lookup served wholly from cache), otherwise as a promise.
 */
/** Aggregation events the store refused as late (valid, but too old to count): the count and the first reasons. */
function refusedPart(refused: readonly string[]): { late?: number; lateReasons?: string[] } {
  return refused.length === 0 ? {} : { late: refused.length, lateReasons: refused.slice(0, 10) };
}

export class ReaderApi {
  /** The features served; null until the definitions are first loaded. */
  catalog: ServedCatalog | null = null;
  /** Requests being answered (kept by the HTTP server; for graceful shutdown and metrics). */
  inflight = 0;
  /** Set on shutdown: /readyz answers 503 so balancers stop sending requests. */
  draining = false;
  private readonly openapi = openApiJson();

  constructor(private readonly deps: ReaderApiDeps) {}

  /** The reply for an error thrown while answering. */
  failure(e: unknown): Reply {
    if (e instanceof ApiError) return errorReply(e.status, e.code, e.message, e.field);
    if (e instanceof StoreUnavailableError) return errorReply(503, 'store_unavailable', e.message);
    if (e instanceof OnlineStoreInputError) return errorReply(400, 'invalid_request', e.message, e.field);
    this.deps.log(`reader: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return errorReply(500, 'internal_error', 'internal error');
  }

  private service(authorization: string): string {
    const a = this.deps.tokens.authenticate(authorization);
    if ('problem' in a) throw new ApiError(401, 'unauthorized', a.problem);
    return a.service;
  }

  private served(): ServedCatalog {
    if (this.catalog === null)
      throw new ApiError(503, 'not_ready', 'the feature definitions are not loaded yet');
    return this.catalog;
  }

  /**
   * The feature a caller may read. A feature the service may not read is 403 without a hint
   * whether it exists: an unknown name is 403 too, with the same message, unless the service
   * may read every feature (then it learns nothing new from 404).
   */
  private readable(catalog: ServedCatalog, name: string, service: string, field: string): ServedFeature {
    const feature = catalog.resolve(name);
    if (feature === undefined && catalog.readsEverything(service)) {
      throw new ApiError(404, 'unknown_feature', `unknown feature "${name}"`, field);
    }
    if (feature === undefined || !mayRead(feature, service)) {
      throw new ApiError(403, 'forbidden', `service "${service}" may not read feature "${name}"`, field);
    }
    return feature;
  }

  /** POST /v1/features/lookup */
  lookup(authorization: string, body: string): Reply | Promise<Reply> {
    try {
      const service = this.service(authorization);
      const catalog = this.served();
      const raw = parseLookupBody(body, this.deps.config.maxKeys);
      const features = raw.map((r) =>
        this.readable(catalog, r.feature, service, r.path === '' ? 'feature' : `${r.path}.feature`),
      );
      const items = raw.map((r, i) => bindItem(features[i]!, r));
      const labels = features.length === 1 ? [features[0]!.name] : [...new Set(features.map((f) => f.name))];
      const reads = items.map((it) => this.deps.reader.read(it.feature, it.keys, it.fields, it.limit));
      if (!reads.some(isPromise))
        return { status: 200, body: this.renderResults(items, reads as ReadRows[]), features: labels };
      return Promise.all(reads).then(
        (done) => ({ status: 200, body: this.renderResults(items, done), features: labels }),
        (e: unknown) => ({ ...this.failure(e), features: labels }),
      );
    } catch (e) {
      return this.failure(e);
    }
  }

  /**
   * `{"results":[{"feature":…,"rows":[row,…]},…]}`: the cached row bytes copied once into one
   * buffer of the exact size (half the time of Buffer.concat over a part per row and comma).
   */
  private renderResults(items: readonly LookupItem[], reads: readonly ReadRows[]): Buffer {
    const bodies: Buffer[] = [];
    let size = resultsOpen.length + close.length + items.length - 1;
    for (let k = 0; k < items.length; k++) {
      const it = items[k]!;
      const { rows, stale } = reads[k]!;
      size += it.feature.resultPrefix.length + close.length + Math.max(0, rows.length - 1);
      for (let i = 0; i < rows.length; i++) {
        const b = renderRow(rows[i]!, it.fields, it.limit, stale !== null && stale[i] === true);
        bodies.push(b);
        size += b.length;
      }
    }
    const out = Buffer.allocUnsafe(size);
    out.set(resultsOpen, 0);
    let at = resultsOpen.length;
    let n = 0;
    for (let k = 0; k < items.length; k++) {
      if (k > 0) out[at++] = commaByte;
      const prefix = items[k]!.feature.resultPrefix;
      out.set(prefix, at);
      at += prefix.length;
      const count = reads[k]!.rows.length;
      for (let i = 0; i < count; i++) {
        if (i > 0) out[at++] = commaByte;
        const b = bodies[n++]!;
        out.set(b, at);
        at += b.length;
      }
      out.set(close, at);
      at += close.length;
    }
    out.set(close, at);
    return out;
  }

  /** GET /v1/features/<feature>[/<key>][?<key fields>&fields=…&limit=…] */
  lookupOne(
    authorization: string,
    featureParam: string,
    keyParam: string | undefined,
    query: string,
  ): Reply | Promise<Reply> {
    try {
      const service = this.service(authorization);
      const catalog = this.served();
      const decode = (s: string, field: string) => {
        try {
          return decodeURIComponent(s);
        } catch {
          throw new ApiError(400, 'invalid_request', 'malformed percent-encoding', field);
        }
      };
      const feature = this.readable(catalog, decode(featureParam, 'feature'), service, 'feature');
      const item = bindQuery(feature, keyParam === undefined ? undefined : decode(keyParam, 'key'), query);
      const labels = [feature.name];
      const render = (r: ReadRows): Reply => {
        const row = renderRow(r.rows[0]!, item.fields, item.limit, r.stale?.[0] === true);
        return {
          status: 200,
          body: Buffer.concat([feature.singlePrefix, row.subarray(1)]),
          features: labels,
        };
      };
      const read = this.deps.reader.read(feature, item.keys, item.fields, item.limit);
      if (!isPromise(read)) return render(read);
      return read.then(render, (e: unknown) => ({ ...this.failure(e), features: labels }));
    } catch (e) {
      return this.failure(e);
    }
  }

  /** POST /v1/commands */
  async push(authorization: string, body: string): Promise<Reply> {
    let labels: string[] | undefined;
    try {
      const service = this.service(authorization);
      const prepared = preparePush(body, service, this.served(), this.deps.config.maxKeys);
      labels = prepared.touched.map((t) => t.feature.name);
      const { mode, refused } = await this.publish(prepared, service, labels);
      return {
        status: mode === 'applied' ? 200 : 202,
        body: JSON.stringify({ accepted: prepared.count - refused.length, mode, ...refusedPart(refused) }),
        features: labels,
      };
    } catch (e) {
      return labels === undefined ? this.failure(e) : { ...this.failure(e), features: labels };
    }
  }

  /** POST /v1/events/{topic}: domain events through the from_events rules of the features that read `topic`. */
  async pushEvents(authorization: string, topic: string, body: string): Promise<Reply> {
    let labels: string[] | undefined;
    try {
      const service = this.service(authorization);
      const prepared = prepareEventPush(topic, body, service, this.served(), this.deps.config.maxKeys);
      labels = [...new Set([...prepared.touched.map((t) => t.feature.name), ...prepared.skipped.keys()])];
      const { mode, refused } =
        prepared.count > 0
          ? await this.publish(prepared, service, labels)
          : { mode: this.deps.publisher.mode, refused: [] };
      for (const [feature, n] of prepared.skipped) this.deps.metrics.event(feature, '', 'skipped', n);
      for (const [feature, rules] of prepared.mapped)
        for (const [rule, n] of rules) this.deps.metrics.event(feature, rule, 'mapped', n);
      return {
        status: mode === 'applied' ? 200 : 202,
        body: JSON.stringify({
          events: prepared.events,
          commands: prepared.count,
          skipped: Object.fromEntries(prepared.skipped),
          mode,
          ...refusedPart(refused),
        }),
        features: labels,
      };
    } catch (e) {
      return labels === undefined ? this.failure(e) : { ...this.failure(e), features: labels };
    }
  }

  /** Hands checked commands to the publisher (the store, or Kafka), then drops the keys they change from every cache. */
  private async publish(
    prepared: PreparedPush,
    service: string,
    labels: string[],
  ): Promise<{ mode: 'applied' | 'published'; refused: string[] }> {
    const publisher = this.deps.publisher;
    let refused: string[];
    try {
      refused = await withTimeout(
        publisher.publish(prepared.batches, service),
        this.deps.config.storeTimeoutMs,
        'the command publisher',
      );
    } catch (e) {
      if (e instanceof ApiError || e instanceof OnlineStoreInputError) throw e;
      const names = labels.join(', ');
      for (const name of labels)
        this.deps.metrics.feature(name)[e instanceof TimeoutError ? 'storeTimeouts' : 'storeErrors']++;
      throw new StoreUnavailableError(names, e instanceof TimeoutError ? 'timeout' : 'error', e);
    }
    for (const { feature, ids } of prepared.touched) {
      await this.deps.reader.invalidate(feature, ids);
      await this.deps.onPushed?.(feature.cachePrefix, ids);
    }
    for (const b of prepared.batches) {
      const byMethod = new Map<string, number>();
      for (const c of b.commands) byMethod.set(c.method, (byMethod.get(c.method) ?? 0) + 1);
      for (const [m, n] of byMethod) this.deps.metrics.command(b.definition.name, m, n);
    }
    return { mode: publisher.mode, refused };
  }

  healthz(): Reply {
    return { status: 200, body: '{"status":"ok"}' };
  }

  async readyz(): Promise<Reply> {
    if (this.draining) return errorReply(503, 'shutting_down', 'the reader is shutting down');
    if (this.catalog === null)
      return errorReply(503, 'not_ready', 'the feature definitions are not loaded yet');
    try {
      await withTimeout(this.deps.store.ping(), this.deps.config.storeTimeoutMs, 'the online store');
    } catch (e) {
      this.deps.metrics.otherStoreErrors++;
      return errorReply(
        503,
        'store_unavailable',
        `the online store is not reachable: ${(e as Error).message}`,
      );
    }
    return {
      status: 200,
      body: JSON.stringify({ status: 'ready', store: this.deps.store.kind, features: this.catalog.size }),
    };
  }

  async metrics(authorization: string): Promise<Reply> {
    try {
      if (this.deps.config.metricsRequireToken) this.service(authorization);
      const snaps = await this.deps.gatherMetrics();
      return {
        status: 200,
        body: renderMetrics(snaps, this.deps.threads),
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
      };
    } catch (e) {
      return this.failure(e);
    }
  }

  openApi(): Reply {
    return { status: 200, body: this.openapi };
  }

  notFound(method: string, url: string): Reply {
    return errorReply(404, 'not_found', `no route ${method.toUpperCase()} ${url}; see /openapi.json`);
  }

  methodNotAllowed(allow: string): Reply {
    return { ...errorReply(405, 'method_not_allowed', `use ${allow}`), headers: [['allow', allow]] };
  }

  tooLarge(): Reply {
    return errorReply(
      413,
      'payload_too_large',
      `the body is larger than ${this.deps.config.maxBodyBytes} bytes`,
    );
  }
}
