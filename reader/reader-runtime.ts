import type { OnlineStore } from '../stores/online/online-store.ts';
import { DefinitionRegistry } from '../stores/registry/definition-registry.ts';
import { type CommandPublisher, DirectApplyPublisher } from '../streaming/commands/command-publisher.ts';
import { FeatureReader } from './feature-reader.ts';
import { type MetricsSnapshot, ReaderMetrics } from './metrics.ts';
import { ReaderApi } from './reader-api.ts';
import type { ReaderConfig } from './reader-config.ts';
import { type KeyId, RowCache } from './row-cache.ts';
import { ServedCatalog } from './served-features.ts';
import { RedisSharedCache, type SharedCache } from './shared-cache.ts';
import { StoreGate } from './store-gate.ts';
import { type TokenEntry, TokenTable } from './tokens.ts';

export interface RuntimeOptions {
  store: OnlineStore;
  config: ReaderConfig;
  tokens: readonly TokenEntry[];
  /** Default: apply pushed commands directly to `store`. */
  publisher?: CommandPublisher;
  /** Shared Redis cache URL; empty: none. */
  redisUrl: string;
  /** Threads serving in all (for metrics); this runtime is one of them. */
  threads: number;
  /** This thread's share of the cache memory. */
  cacheBytes: number;
  log: (message: string) => void;
  /** Every thread's metrics; default: this thread's only. */
  gatherMetrics?: (own: () => MetricsSnapshot) => Promise<MetricsSnapshot[]>;
  /** The time cached rows are fresh against (default Date.now; tests pass a clock they move). */
  clock?: () => number;
  /** Tells the other threads which cached keys a push changed; resolves when they dropped them. */
  onPushed?: (cachePrefix: string, ids: readonly KeyId[]) => Promise<void>;
}

/**
 * Everything one serving thread holds: the catalog of applied features (reloaded every
 * refreshMs from the registry in the online store), the cache, the read path, metrics and
 * the API. The HTTP server is separate (see uws-server.ts).
 */
export class ReaderRuntime {
  readonly api: ReaderApi;
  readonly reader: FeatureReader;
  readonly metrics: ReaderMetrics;
  private readonly registry: DefinitionRegistry;
  private timer: NodeJS.Timeout | undefined;
  private lastRefreshError = 0;

  private constructor(
    private readonly options: RuntimeOptions,
    private readonly cache: RowCache | null,
    private readonly shared: SharedCache | null,
    private readonly publisher: CommandPublisher,
    private readonly ownsPublisher: boolean,
  ) {
    const { store, config } = options;
    this.registry = new DefinitionRegistry(store);
    this.metrics = new ReaderMetrics(() => ({
      cacheEntries: cache?.size ?? 0,
      cacheBytes: cache?.bytes ?? 0,
      cacheEvictions: cache?.evictions ?? 0,
      cacheRejections: cache?.rejections ?? 0,
      inflight: this.api.inflight,
      storeKeysInFlight: gate.keysInFlight,
    }));
    const gate = new StoreGate(config.storeMaxKeysInFlight);
    this.reader = new FeatureReader(
      store,
      cache,
      shared,
      this.metrics,
      config.storeTimeoutMs,
      gate,
      options.clock,
    );
    const own = () => this.metrics.snapshot();
    this.api = new ReaderApi({
      tokens: new TokenTable(options.tokens),
      reader: this.reader,
      publisher,
      store,
      config,
      metrics: this.metrics,
      gatherMetrics: options.gatherMetrics ? () => options.gatherMetrics!(own) : async () => [own()],
      threads: options.threads,
      ...(options.onPushed ? { onPushed: options.onPushed } : {}),
      log: options.log,
    });
  }

  static async create(options: RuntimeOptions): Promise<ReaderRuntime> {
    const cache = options.cacheBytes > 0 ? new RowCache(options.cacheBytes) : null;
    const shared =
      options.redisUrl === ''
        ? null
        : await RedisSharedCache.open({
            url: options.redisUrl,
            timeoutMs: Math.min(100, options.config.storeTimeoutMs),
            keyPrefix: options.config.cache.redisPrefix,
            onError: (e) => options.log(`reader: shared Redis cache: ${e.message}`),
          });
    const publisher = options.publisher ?? new DirectApplyPublisher(options.store);
    const runtime = new ReaderRuntime(options, cache, shared, publisher, options.publisher === undefined);
    await runtime.refresh();
    runtime.timer = setInterval(() => void runtime.refresh(), options.config.refreshMs);
    runtime.timer.unref();
    return runtime;
  }

  /** Reloads the applied definitions; on failure keeps serving the ones it has. */
  async refresh(): Promise<boolean> {
    try {
      const applied = await this.registry.list();
      this.api.catalog = new ServedCatalog(applied, this.options.config.cache);
      return true;
    } catch (e) {
      this.metrics.otherStoreErrors++;
      if (Date.now() - this.lastRefreshError > 10_000) {
        this.lastRefreshError = Date.now();
        this.options.log(`reader: cannot load the feature definitions: ${(e as Error).message}`);
      }
      return false;
    }
  }

  /** Stops the refresh and closes the shared cache and its own publisher (not the store). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.shared?.close();
    if (this.ownsPublisher) await this.publisher.close();
    this.cache?.clear();
  }
}
