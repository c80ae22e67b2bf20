/** Upper bounds (seconds) of the request latency histogram buckets. */
export const latencyBuckets = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

export interface RouteSeries {
  route: string;
  feature: string;
  /** Status code → requests. */
  statuses: Record<string, number>;
  /** Per bucket (not cumulative), the last one is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

export interface FeatureCounters {
  cacheHits: number;
  cacheMisses: number;
  /** Keys read past the cache while its hit ratio for the feature stayed under the floor. */
  cacheBypassed: number;
  staleServed: number;
  storeReads: number;
  storeKeys: number;
  storeErrors: number;
  storeTimeouts: number;
  redisHits: number;
  redisMisses: number;
  redisErrors: number;
}

/** Plain data, so worker threads can send theirs to be summed. */
export interface MetricsSnapshot {
  routes: RouteSeries[];
  features: Record<string, FeatureCounters>;
  /** `feature\u0000method` → commands accepted. */
  commands: Record<string, number>;
  /** `feature\u0000rule\u0000outcome` → pushed domain events (outcome mapped, or skipped with rule ''). */
  events: Record<string, number>;
  cacheEntries: number;
  cacheBytes: number;
  cacheEvictions: number;
  cacheRejections: number;
  inflight: number;
  storeKeysInFlight: number;
  /** Store failures outside lookups (readiness pings, definition reloads). */
  otherStoreErrors: number;
}

export interface MetricsGauges {
  cacheEntries: number;
  cacheBytes: number;
  cacheEvictions: number;
  cacheRejections: number;
  inflight: number;
  storeKeysInFlight: number;
}

const newCounters = (): FeatureCounters => ({
  cacheHits: 0,
  cacheMisses: 0,
  cacheBypassed: 0,
  staleServed: 0,
  storeReads: 0,
  storeKeys: 0,
  storeErrors: 0,
  storeTimeouts: 0,
  redisHits: 0,
  redisMisses: 0,
  redisErrors: 0,
});

/** One thread's counters. Label values are route names and served feature names only (bounded). */
export class ReaderMetrics {
  private readonly routes = new Map<string, RouteSeries>();
  private readonly features = new Map<string, FeatureCounters>();
  private readonly commands = new Map<string, number>();
  private readonly events = new Map<string, number>();
  otherStoreErrors = 0;

  constructor(private readonly gauges: () => MetricsGauges) {}

  observe(route: string, feature: string, status: number, seconds: number): void {
    const id = route + '\u0000' + feature;
    let s = this.routes.get(id);
    if (s === undefined) {
      s = {
        route,
        feature,
        statuses: {},
        buckets: new Array(latencyBuckets.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.routes.set(id, s);
    }
    s.statuses[status] = (s.statuses[status] ?? 0) + 1;
    let i = 0;
    while (i < latencyBuckets.length && seconds > latencyBuckets[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  feature(name: string): FeatureCounters {
    let c = this.features.get(name);
    if (c === undefined) {
      c = newCounters();
      this.features.set(name, c);
    }
    return c;
  }

  command(feature: string, method: string, n: number): void {
    const id = feature + '\u0000' + method;
    this.commands.set(id, (this.commands.get(id) ?? 0) + n);
  }

  /** Pushed events by feature and rule: `mapped` by a rule, or `skipped` (no rule matched; rule ''). */
  event(feature: string, rule: string, outcome: 'mapped' | 'skipped', n: number): void {
    const id = `${feature}\u0000${rule}\u0000${outcome}`;
    this.events.set(id, (this.events.get(id) ?? 0) + n);
  }

  snapshot(): MetricsSnapshot {
    return {
      routes: [...this.routes.values()].map((s) => ({
        ...s,
        statuses: { ...s.statuses },
        buckets: [...s.buckets],
      })),
      features: Object.fromEntries([...this.features].map(([k, v]) => [k, { ...v }])),
      commands: Object.fromEntries(this.commands),
      events: Object.fromEntries(this.events),
      ...this.gauges(),
      otherStoreErrors: this.otherStoreErrors,
    };
  }
}

/** Sums the snapshots of every thread. */
export function mergeSnapshots(snaps: readonly MetricsSnapshot[]): MetricsSnapshot {
  const routes = new Map<string, RouteSeries>();
  const features: Record<string, FeatureCounters> = {};
  const commands: Record<string, number> = {};
  const events: Record<string, number> = {};
  const out: MetricsSnapshot = {
    routes: [],
    features,
    commands,
    events,
    cacheEntries: 0,
    cacheBytes: 0,
    cacheEvictions: 0,
    cacheRejections: 0,
    inflight: 0,
    storeKeysInFlight: 0,
    otherStoreErrors: 0,
  };
  for (const s of snaps) {
    for (const r of s.routes) {
      const id = r.route + '\u0000' + r.feature;
      const m = routes.get(id);
      if (m === undefined) {
        routes.set(id, { ...r, statuses: { ...r.statuses }, buckets: [...r.buckets] });
        continue;
      }
      for (const [st, n] of Object.entries(r.statuses)) m.statuses[st] = (m.statuses[st] ?? 0) + n;
      r.buckets.forEach((n, i) => {
        m.buckets[i] = (m.buckets[i] ?? 0) + n;
      });
      m.sum += r.sum;
      m.count += r.count;
    }
    for (const [name, c] of Object.entries(s.features)) {
      const m = features[name] ?? newCounters();
      features[name] = m;
      for (const k of Object.keys(c) as (keyof FeatureCounters)[]) m[k] += c[k];
    }
    for (const [k, n] of Object.entries(s.commands)) commands[k] = (commands[k] ?? 0) + n;
    for (const [k, n] of Object.entries(s.events ?? {})) events[k] = (events[k] ?? 0) + n;
    out.cacheEntries += s.cacheEntries;
    out.cacheBytes += s.cacheBytes;
    out.cacheEvictions += s.cacheEvictions;
    out.cacheRejections += s.cacheRejections;
    out.inflight += s.inflight;
    out.storeKeysInFlight += s.storeKeysInFlight;
    out.otherStoreErrors += s.otherStoreErrors;
  }
  out.routes = [...routes.values()].sort((a, b) => (a.route + a.feature).localeCompare(b.route + b.feature));
  return out;
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

/** The Prometheus text exposition (version 0.0.4) of the summed snapshots. */
export function renderMetrics(snaps: readonly MetricsSnapshot[], threads: number): string {
  const s = mergeSnapshots(snaps);
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const featureNames = Object.keys(s.features).sort();

  family('ferry_reader_requests_total', 'counter', 'Requests answered, by route, feature and status code.');
  for (const r of s.routes) {
    for (const [status, n] of Object.entries(r.statuses)) {
      lines.push(`ferry_reader_requests_total${labels({ route: r.route, feature: r.feature, status })} ${n}`);
    }
  }
  family(
    'ferry_reader_request_duration_seconds',
    'histogram',
    'Time from request to response, by route and feature.',
  );
  for (const r of s.routes) {
    let cumulative = 0;
    r.buckets.forEach((n, i) => {
      cumulative += n;
      const le = i < latencyBuckets.length ? String(latencyBuckets[i]) : '+Inf';
      lines.push(
        `ferry_reader_request_duration_seconds_bucket${labels({ route: r.route, feature: r.feature, le })} ${cumulative}`,
      );
    });
    lines.push(
      `ferry_reader_request_duration_seconds_sum${labels({ route: r.route, feature: r.feature })} ${num(r.sum)}`,
    );
    lines.push(
      `ferry_reader_request_duration_seconds_count${labels({ route: r.route, feature: r.feature })} ${r.count}`,
    );
  }

  const perFeature = (name: string, type: string, help: string, pick: (c: FeatureCounters) => number) => {
    family(name, type, help);
    for (const f of featureNames) lines.push(`${name}${labels({ feature: f })} ${pick(s.features[f]!)}`);
  };
  perFeature(
    'ferry_reader_cache_hits_total',
    'counter',
    'Keys answered from the in-process cache.',
    (c) => c.cacheHits,
  );
  perFeature(
    'ferry_reader_cache_misses_total',
    'counter',
    'Keys not fresh in the in-process cache.',
    (c) => c.cacheMisses,
  );
  perFeature(
    'ferry_reader_cache_bypassed_total',
    'counter',
    'Keys read straight from the store, past the cache, while its hit ratio for the feature stayed under 5%.',
    (c) => c.cacheBypassed,
  );
  perFeature(
    'ferry_reader_cache_stale_served_total',
    'counter',
    'Keys served past their freshness, marked stale, because the store failed.',
    (c) => c.staleServed,
  );
  perFeature(
    'ferry_reader_feature_cache_hit_ratio',
    'gauge',
    'Cache hits / (hits + misses) of a feature.',
    (c) => (c.cacheHits + c.cacheMisses === 0 ? 0 : c.cacheHits / (c.cacheHits + c.cacheMisses)),
  );
  let hits = 0;
  let misses = 0;
  for (const f of featureNames) {
    hits += s.features[f]!.cacheHits;
    misses += s.features[f]!.cacheMisses;
  }
  family('ferry_reader_cache_hit_ratio', 'gauge', 'Cache hits / (hits + misses) over every feature.');
  lines.push(`ferry_reader_cache_hit_ratio ${hits + misses === 0 ? 0 : hits / (hits + misses)}`);
  family('ferry_reader_cache_entries', 'gauge', 'Rows in the in-process caches of all threads.');
  lines.push(`ferry_reader_cache_entries ${s.cacheEntries}`);
  family('ferry_reader_cache_bytes', 'gauge', 'Approximate bytes held by the in-process caches.');
  lines.push(`ferry_reader_cache_bytes ${s.cacheBytes}`);
  family(
    'ferry_reader_cache_evictions_total',
    'counter',
    'Rows evicted to stay within the cache memory bound.',
  );
  lines.push(`ferry_reader_cache_evictions_total ${s.cacheEvictions}`);
  family(
    'ferry_reader_cache_rejections_total',
    'counter',
    'Rows read but not cached: their keys were asked for less often lately than the rows they would push out.',
  );
  lines.push(`ferry_reader_cache_rejections_total ${s.cacheRejections}`);

  perFeature('ferry_reader_store_reads_total', 'counter', 'Online store read calls.', (c) => c.storeReads);
  perFeature(
    'ferry_reader_store_keys_read_total',
    'counter',
    'Keys read from the online store.',
    (c) => c.storeKeys,
  );
  family('ferry_reader_store_errors_total', 'counter', 'Online store calls that failed or timed out.');
  for (const f of featureNames) {
    const c = s.features[f]!;
    lines.push(`ferry_reader_store_errors_total${labels({ feature: f, kind: 'error' })} ${c.storeErrors}`);
    lines.push(
      `ferry_reader_store_errors_total${labels({ feature: f, kind: 'timeout' })} ${c.storeTimeouts}`,
    );
  }
  lines.push(
    `ferry_reader_store_errors_total${labels({ feature: '', kind: 'other' })} ${s.otherStoreErrors}`,
  );
  perFeature(
    'ferry_reader_redis_hits_total',
    'counter',
    'Keys answered from the shared Redis cache.',
    (c) => c.redisHits,
  );
  perFeature(
    'ferry_reader_redis_misses_total',
    'counter',
    'Keys not in the shared Redis cache.',
    (c) => c.redisMisses,
  );
  perFeature(
    'ferry_reader_redis_errors_total',
    'counter',
    'Shared Redis cache calls that failed (the store answered instead).',
    (c) => c.redisErrors,
  );

  family(
    'ferry_reader_commands_total',
    'counter',
    'Commands accepted by the push endpoint, by feature and method.',
  );
  for (const [k, n] of Object.entries(s.commands).sort()) {
    const [feature, method] = k.split('\u0000') as [string, string];
    lines.push(`ferry_reader_commands_total${labels({ feature, method })} ${n}`);
  }
  family(
    'ferry_reader_events_total',
    'counter',
    'Domain events pushed to /v1/events, by feature and rule: mapped to a command, or skipped (no rule matched).',
  );
  for (const [k, n] of Object.entries(s.events).sort()) {
    const [feature, rule, outcome] = k.split('\u0000') as [string, string, string];
    lines.push(`ferry_reader_events_total${labels({ feature, rule, outcome })} ${n}`);
  }
  family('ferry_reader_inflight_requests', 'gauge', 'Requests being answered.');
  lines.push(`ferry_reader_inflight_requests ${s.inflight}`);
  family(
    'ferry_reader_store_keys_in_flight',
    'gauge',
    'Keys being read from the online store (bounded per thread).',
  );
  lines.push(`ferry_reader_store_keys_in_flight ${s.storeKeysInFlight}`);
  family('ferry_reader_threads', 'gauge', 'Threads serving the read API.');
  lines.push(`ferry_reader_threads ${threads}`);
  return `${lines.join('\n')}\n`;
}
