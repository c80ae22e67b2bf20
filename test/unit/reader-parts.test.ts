import { describe, expect, it } from 'vitest';
import { loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { mergeSnapshots, ReaderMetrics, renderMetrics } from '../../reader/metrics.ts';
import { parseCacheFile, ReaderConfigError, readReaderConfig } from '../../reader/reader-config.ts';
import type { CachedRow } from '../../reader/row-json.ts';
import { renderRow } from '../../reader/row-json.ts';
import { cachePolicy, ServedCatalog } from '../../reader/served-features.ts';
import { StoreGate } from '../../reader/store-gate.ts';
import { parseTokens, sha256Hex, TokensFileError, TokenTable } from '../../reader/tokens.ts';
import { TimeoutError } from '../../reader/with-timeout.ts';
import type { AppliedFeature } from '../../stores/registry/applied-feature.ts';

describe('reader parts', () => {
  it('TokenTable maps bearer tokens through SHA-256 to services', () => {
    const t = new TokenTable([{ service: 'svc', sha256: sha256Hex('s3cret').toUpperCase() }]);
    expect(t.authenticate('Bearer s3cret')).toEqual({ service: 'svc' });
    expect(t.authenticate('bearer   s3cret')).toEqual({ service: 'svc' });
    expect(t.authenticate('Bearer s3cret')).toEqual({ service: 'svc' });
    expect(t.authenticate('')).toHaveProperty('problem');
    expect(t.authenticate('Bearer other')).toEqual({ problem: 'unknown token' });
    expect(t.authenticate('Token s3cret')).toHaveProperty('problem');
    expect(parseTokens(`tokens:\n  - service: a\n    sha256: ${sha256Hex('x')}\n`, 't.yaml')).toEqual([
      { service: 'a', sha256: sha256Hex('x') },
    ]);
    expect(() => parseTokens('tokens:\n  - service: a\n    sha256: abc\n', 't.yaml')).toThrow(
      TokensFileError,
    );
    expect(() =>
      parseTokens(
        `tokens:\n  - {service: a, sha256: ${sha256Hex('x')}}\n  - {service: b, sha256: ${sha256Hex('x')}}\n`,
        't.yaml',
      ),
    ).toThrow(/twice/);
    expect(() => parseTokens('tokens: [{service: "a b", sha256: x}]', 't.yaml')).toThrow(/tokens\.0/);
  });

  it('cache policy: real-time vs upsync-only defaults, overrides by name and namespace, capped by retention', () => {
    const { definitions, errors } = loadDefinitionsFromText(
      'p.yaml',
      `
ns::live:
  feature_type: Object
  owner: t
  schema: { id: { type: Long, is_key_field: true }, v: { type: Long } }
ns::batch:
  feature_type: Object
  owner: t
  schema: { id: { type: Long, is_key_field: true }, v: { type: Long } }
  access: { readers: ["*"], writers: [] }
other::short:
  feature_type: Object
  owner: t
  schema: { id: { type: Long, is_key_field: true }, v: { type: Long } }
  retention: { online: 2s }
`,
    );
    expect(errors).toEqual([]);
    const [live, batch, short] = definitions as [never, never, never];
    const cache = { ...readReaderConfig({}).cache, realtimeTtlMs: 1000, batchTtlMs: 60_000 };
    expect(cachePolicy(live, cache)).toEqual({
      ttlMs: 1000,
      staleIfErrorMs: 0,
      redis: false,
      redisTtlMs: 10_000,
    });
    expect(cachePolicy(batch, cache).ttlMs).toBe(60_000);
    expect(
      cachePolicy(short, { ...cache, features: { '*': { ttlMs: 5000, staleIfErrorMs: 60_000 } } }),
    ).toMatchObject({ ttlMs: 2000, staleIfErrorMs: 2000 });
    const features = { 'ns::*': { ttlMs: 50, redis: true }, 'ns::live': { ttlMs: 7 } };
    expect(cachePolicy(live, { ...cache, features })).toMatchObject({ ttlMs: 7, redis: true });
    expect(cachePolicy(batch, { ...cache, features })).toMatchObject({ ttlMs: 50, redis: true });
    const applied = definitions.map(
      (d, i) => ({ name: d.name, revision: i + 1, definition: d }) as unknown as AppliedFeature,
    );
    const catalog = new ServedCatalog(applied, cache);
    expect(catalog.resolve('live')?.name).toBe('ns::live');
    expect(catalog.readsEverything('anyone')).toBe(true);
  });

  it('reads the per-feature cache file and the FERRY_READER_* variables', () => {
    expect(
      parseCacheFile(
        'features:\n  ns::a: { ttl: 250ms, redis: true, redis_ttl: 1m, stale_if_error: 5m }\n',
        'c.yaml',
      ),
    ).toEqual({
      'ns::a': { ttlMs: 250, redis: true, redisTtlMs: 60_000, staleIfErrorMs: 300_000 },
    });
    expect(() => parseCacheFile('features:\n  ns::a: { ttl: soon }\n', 'c.yaml')).toThrow(/ns::a\.ttl/);
    expect(() => parseCacheFile('feature: {}\n', 'c.yaml')).toThrow(ReaderConfigError);
    const c = readReaderConfig({
      FERRY_READER_THREADS: '3',
      FERRY_READER_CACHE_MB: '0',
      FERRY_READER_REDIS_FEATURES: 'a::b, c::*',
    });
    expect(c.threads).toBe(3);
    expect(c.cache.maxBytes).toBe(0);
    expect(c.cache.features).toEqual({ 'a::b': { redis: true }, 'c::*': { redis: true } });
    expect(readReaderConfig({}).threads).toBeGreaterThanOrEqual(1);
    expect(() => readReaderConfig({ FERRY_READER_MAX_KEYS: 'many' })).toThrow(/FERRY_READER_MAX_KEYS/);
    expect(() => readReaderConfig({ FERRY_READER_CACHE_FILE: '/nonexistent/cache.yaml' })).toThrow(
      /no such file/,
    );
  });

  it('renders rows with projection, History limit and the stale mark', () => {
    const r: CachedRow = {
      found: true,
      lastUpdatedAtMs: 5,
      values: null,
      entries: [
        {
          values: { a: 1, b: 'x' },
          eventTimeMs: 5,
          json: '{"values":{"a":1,"b":"x"},"_last_updated_at_ms":5}',
        },
        {
          values: { a: 2, b: 'y' },
          eventTimeMs: 4,
          json: '{"values":{"a":2,"b":"y"},"_last_updated_at_ms":4}',
        },
      ],
      body: Buffer.from('full'),
      bytes: 0,
    };
    expect(renderRow(r, undefined, undefined, false)).toBe(r.body);
    expect(JSON.parse(renderRow(r, ['b'], 1, true).toString())).toEqual({
      found: true,
      entries: [{ values: { b: 'x' }, _last_updated_at_ms: 5 }],
      _last_updated_at_ms: 5,
      stale: true,
    });
  });

  it('sums metrics of several threads into one Prometheus text', () => {
    const gauges = () => ({
      cacheEntries: 2,
      cacheBytes: 100,
      cacheEvictions: 0,
      cacheRejections: 5,
      inflight: 1,
      storeKeysInFlight: 0,
    });
    const a = new ReaderMetrics(gauges);
    const b = new ReaderMetrics(gauges);
    a.observe('lookup', 'ns::f', 200, 0.0003);
    b.observe('lookup', 'ns::f', 200, 0.002);
    b.observe('lookup', 'ns::f', 503, 0.4);
    a.feature('ns::f').cacheHits += 3;
    b.feature('ns::f').cacheMisses += 1;
    const merged = mergeSnapshots([a.snapshot(), b.snapshot()]);
    expect(merged.routes[0]!.statuses).toEqual({ 200: 2, 503: 1 });
    expect(merged.cacheEntries).toBe(4);
    const text = renderMetrics([a.snapshot(), b.snapshot()], 2);
    expect(text).toContain('ferry_reader_requests_total{route="lookup",feature="ns::f",status="200"} 2');
    expect(text).toContain('ferry_reader_cache_rejections_total 10');
    expect(text).toContain(
      'ferry_reader_request_duration_seconds_bucket{route="lookup",feature="ns::f",le="0.0005"} 1',
    );
    expect(text).toContain(
      'ferry_reader_request_duration_seconds_bucket{route="lookup",feature="ns::f",le="+Inf"} 3',
    );
    expect(text).toContain('ferry_reader_cache_hit_ratio 0.75');
    expect(text).toContain('ferry_reader_threads 2');
  });

  it('StoreGate bounds the keys in flight, admits in order, and refuses a read that waits too long', async () => {
    const gate = new StoreGate(10);
    const releases: (() => void)[] = [];
    const call = () =>
      new Promise<string>((resolve) => {
        releases.push(() => resolve('done'));
      });
    const a = await gate.run(6, 1000, call);
    expect(gate.keysInFlight).toBe(6);
    const order: string[] = [];
    const b = gate.run(6, 1000, call).then((r) => {
      order.push('b');
      return r;
    });
    const c = gate.run(2, 1000, call).then((r) => {
      order.push('c');
      return r;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(gate.keysInFlight).toBe(6); // c fits, but waits behind b
    releases[0]!();
    expect(await a.result).toBe('done');
    await Promise.all([b, c]);
    expect(order).toEqual(['b', 'c']);
    expect(gate.keysInFlight).toBe(8);
    // a read larger than the bound runs alone; one that cannot get in times out
    const late = gate.run(50, 30, call);
    await expect(late).rejects.toThrow(TimeoutError);
    releases[1]!();
    releases[2]!();
    await new Promise((r) => setTimeout(r, 0));
    expect(gate.keysInFlight).toBe(0);
    const big = await gate.run(50, 30, call);
    expect(gate.keysInFlight).toBe(50);
    releases[3]!();
    await big.result;
    await new Promise((r) => setTimeout(r, 0));
    expect(gate.keysInFlight).toBe(0);
  });
});
