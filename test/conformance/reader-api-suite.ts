import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../config/settings.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { loadDefinitions, loadDefinitionsFromText } from '../../domain/definitions/load-definitions.ts';
import { type ReaderConfig, readReaderConfig } from '../../reader/reader-config.ts';
import { type ReaderHandle, startReader } from '../../reader/start-reader.ts';
import { sha256Hex, type TokenEntry } from '../../reader/tokens.ts';
import type {
  AggregateAppend,
  AggregateOutcome,
  HistoryAppend,
  HistoryReadResult,
  KeyDelete,
  KeyValues,
  ObjectReadResult,
  ObjectWrite,
  OnlineStore,
  ReadOptions,
} from '../../stores/online/online-store.ts';
import { DefinitionRegistry } from '../../stores/registry/definition-registry.ts';
import { seedCommands } from '../fixtures/seed-commands.ts';

/**
 * The read API's behaviour against a running reader, shared by
 * test/unit/reader-embedded.test.ts (LMDB) and test/integration/reader-cassandra.test.ts.
 */

export const testFeaturesYaml = `
test::pair-stat:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    peer_id: { type: Text, is_key_field: true }
    chats: { type: Long, default_value: 0 }
    last_chat_at: { type: Timestamp, default_value: "1970-01-01T00:00:00Z" }
  access:
    readers: [sample-app, live-recommender]
    writers: [sample-app]

test::stale-ok:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    score: { type: Double, default_value: 0.5 }
  access:
    readers: [sample-app]
    writers: [sample-app]

test::short-ttl:
  feature_type: Object
  owner: test
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
`;

export const tokens = { sample: 'sample-token-1', live: 'live-token-2' };
export const tokenEntries: TokenEntry[] = [
  { service: 'sample-app', sha256: sha256Hex(tokens.sample) },
  { service: 'live-recommender', sha256: sha256Hex(tokens.live) },
];

/** A config for tests: small limits, long freshness by default, short for test::short-ttl. */
export function testReaderConfig(): ReaderConfig {
  const base = readReaderConfig({});
  return {
    ...base,
    threads: 1,
    maxBodyBytes: 64 * 1024,
    maxKeys: 200,
    storeTimeoutMs: 400,
    refreshMs: 60_000,
    shutdownTimeoutMs: 5000,
    cache: {
      ...base.cache,
      maxBytes: 16 * 1024 * 1024,
      realtimeTtlMs: 60_000,
      batchTtlMs: 60_000,
      features: {
        'test::short-ttl': { ttlMs: 200 },
        'test::stale-ok': { ttlMs: 100, staleIfErrorMs: 60_000 },
      },
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The real store with counted reads and a switch to make it fail or hang (the reader under
 * test goes through it; the store itself is untouched).
 */
export class CountingStore implements OnlineStore {
  readonly kind: OnlineStore['kind'];
  readonly bulkWriteRows: number;
  readonly bulkWritesInFlight: number;
  readonly expiresByItself: boolean;
  readonly reads = new Map<string, number>();
  /** Keys asked for, per feature. */
  readonly keysRead = new Map<string, number>();
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  delayMs = 0;

  constructor(readonly inner: OnlineStore) {
    this.kind = inner.kind;
    this.bulkWriteRows = inner.bulkWriteRows;
    this.bulkWritesInFlight = inner.bulkWritesInFlight;
    this.expiresByItself = inner.expiresByItself;
  }

  readsOf(feature: string): number {
    return this.reads.get(feature) ?? 0;
  }

  keysReadOf(feature: string): number {
    return this.keysRead.get(feature) ?? 0;
  }

  private async gate(): Promise<void> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.mode === 'fail') throw new Error('the store is down (test)');
    if (this.mode === 'hang') await new Promise(() => {});
  }

  async readObjects(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions,
  ): Promise<ObjectReadResult[]> {
    this.reads.set(def.name, this.readsOf(def.name) + 1);
    this.keysRead.set(def.name, this.keysReadOf(def.name) + keys.length);
    await this.gate();
    return this.inner.readObjects(def, keys, options);
  }

  async readHistory(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { limit?: number },
  ): Promise<HistoryReadResult[]> {
    this.reads.set(def.name, this.readsOf(def.name) + 1);
    await this.gate();
    return this.inner.readHistory(def, keys, options);
  }

  async readAggregates(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { atMs?: number },
  ): Promise<ObjectReadResult[]> {
    this.reads.set(def.name, this.readsOf(def.name) + 1);
    this.keysRead.set(def.name, this.keysReadOf(def.name) + keys.length);
    await this.gate();
    return this.inner.readAggregates(def, keys, options);
  }

  async writeAggregateEvents(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    nowMs?: number,
  ): Promise<AggregateOutcome[]> {
    await this.gate();
    return this.inner.writeAggregateEvents(def, events, nowMs);
  }

  async writeAggregateHistory(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    cutMs: number,
    nowMs?: number,
  ): Promise<AggregateOutcome[]> {
    await this.gate();
    return this.inner.writeAggregateHistory(def, events, cutMs, nowMs);
  }

  async ping(): Promise<void> {
    await this.gate();
    return this.inner.ping();
  }

  async writeObjects(def: FeatureDefinition, writes: readonly ObjectWrite[]): Promise<void> {
    await this.gate();
    return this.inner.writeObjects(def, writes);
  }

  async appendHistory(def: FeatureDefinition, entries: readonly HistoryAppend[]): Promise<void> {
    await this.gate();
    return this.inner.appendHistory(def, entries);
  }

  async deleteKeys(def: FeatureDefinition, deletes: readonly KeyDelete[]): Promise<void> {
    await this.gate();
    return this.inner.deleteKeys(def, deletes);
  }

  ensureFeature(def: FeatureDefinition): Promise<void> {
    return this.inner.ensureFeature(def);
  }
  sweepExpired(def: FeatureDefinition, nowMs: number): Promise<number> {
    return this.inner.sweepExpired(def, nowMs);
  }
  getMeta(key: string): Promise<string | undefined> {
    return this.inner.getMeta(key);
  }
  putMeta(key: string, value: string): Promise<void> {
    return this.inner.putMeta(key, value);
  }
  listMeta(prefix: string): Promise<[string, string][]> {
    return this.inner.listMeta(prefix);
  }
  deleteMeta(key: string): Promise<void> {
    return this.inner.deleteMeta(key);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The sample features (features/) and the test ones, recorded in the registry and created in the store. */
export async function applyTestFeatures(store: OnlineStore): Promise<Map<string, FeatureDefinition>> {
  const sample = await loadDefinitions(['features']);
  const extra = loadDefinitionsFromText('reader-test.yaml', testFeaturesYaml);
  const errors = [...sample.errors, ...extra.errors];
  if (errors.length > 0) throw new Error(`bad definitions: ${JSON.stringify(errors)}`);
  const registry = new DefinitionRegistry(store);
  const defs = new Map<string, FeatureDefinition>();
  for (const d of [...sample.definitions, ...extra.definitions]) {
    await store.ensureFeature(d);
    await registry.record(d);
    defs.set(d.name, d);
  }
  return defs;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are read freely
  json: any;
}

export function client(base: () => string) {
  const call = async (path: string, init: RequestInit = {}): Promise<HttpResult> => {
    const r = await fetch(`${base()}${path}`, init);
    const text = await r.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, text, json };
  };
  const auth = (token: string | undefined): Record<string, string> =>
    token === undefined ? {} : { authorization: `Bearer ${token}` };
  return {
    call,
    get: (path: string, token: string | undefined = tokens.sample) => call(path, { headers: auth(token) }),
    post: (path: string, body: unknown, token: string | undefined = tokens.sample) =>
      call(path, {
        method: 'POST',
        headers: { ...auth(token), 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
  };
}

/** The value of one Prometheus sample line, 0 when absent. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (want.every((w) => rest.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

export function describeReaderApi(name: string, openStore: () => Promise<OnlineStore>): void {
  describe(`reader API: ${name}`, () => {
    let store: OnlineStore;
    let counting: CountingStore;
    let reader: ReaderHandle;
    let defs: Map<string, FeatureDefinition>;
    const now = Date.now();
    /** The reader's clock: the wall clock moved on by the tests (cache freshness), never slept for. */
    let clockAheadMs = 0;
    const clock = () => Date.now() + clockAheadMs;
    const http = client(() => `http://127.0.0.1:${reader.port}`);
    const lookup = (body: unknown, token?: string) => http.post('/v1/features/lookup', body, token);
    const push = (body: unknown, token?: string) => http.post('/v1/commands', body, token);
    let nextId = 50_000;
    const freshId = () => nextId++;

    beforeAll(async () => {
      store = await openStore();
      defs = await applyTestFeatures(store);
      const profile = defs.get('azar::user-profile')!;
      await store.writeObjects(profile, [
        {
          keys: { user_id: 1001 },
          values: { gender: 'F', country_code: 'KR', level: 7, age: 30 },
          eventTimeMs: now - 10_000,
        },
        { keys: { user_id: 1002 }, values: { level: 3 }, eventTimeMs: now - 5_000 },
      ]);
      await store.appendHistory(
        defs.get('azar-match::recent-matches')!,
        [1, 2, 3, 4, 5].map((i) => ({
          keys: { user_id: 1001 },
          values: { peer_user_id: 100 + i, chat_duration_sec: i * 10 },
          eventTimeMs: now - 60_000 + i * 1000,
        })),
      );
      await store.writeObjects(defs.get('test::pair-stat')!, [
        {
          keys: { user_id: 1, peer_id: 'b' },
          values: { chats: 4, last_chat_at: now - 1000 },
          eventTimeMs: now - 1000,
        },
      ]);
      await store.writeObjects(defs.get('live::realtime-room-context')!, [
        {
          keys: { live_room_id: 'room-1' },
          values: { viewer_count: 10, vision_tags: ['cat', 'guitar'] },
          eventTimeMs: now - 2000,
        },
      ]);
      counting = new CountingStore(store);
      reader = await startReader({
        store: counting,
        settings: readSettings({}),
        config: testReaderConfig(),
        tokens: tokenEntries,
        host: '127.0.0.1',
        port: 0,
        log: () => {},
        clock,
      });
    });

    afterAll(async () => {
      await reader?.close();
      await store?.close();
    });

    describe('lookups', () => {
      it('returns every key in request order with defaults filled, found and _last_updated_at_ms', async () => {
        const r = await lookup({
          requests: [
            {
              feature: 'azar::user-profile',
              keys: [{ user_id: 1002 }, { user_id: 9_999_999 }, { user_id: 1001 }],
            },
            { feature: 'live::realtime-room-context', keys: ['room-1'] },
          ],
        });
        expect(r.status).toBe(200);
        expect(r.headers.get('content-type')).toBe('application/json');
        const [profiles, rooms] = r.json.results;
        expect(profiles.feature).toBe('azar::user-profile');
        expect(profiles.rows).toEqual([
          {
            found: true,
            values: { gender: 'UNKNOWN', country_code: 'XX', age: 0, level: 3, avg_chat_sec: 0 },
            _last_updated_at_ms: now - 5_000,
          },
          {
            found: false,
            values: { gender: 'UNKNOWN', country_code: 'XX', age: 0, level: 0, avg_chat_sec: 0 },
            _last_updated_at_ms: null,
          },
          {
            found: true,
            values: { gender: 'F', country_code: 'KR', age: 30, level: 7, avg_chat_sec: 0 },
            _last_updated_at_ms: now - 10_000,
          },
        ]);
        expect(rooms.feature).toBe('live::realtime-room-context');
        expect(rooms.rows[0]).toEqual({
          found: true,
          values: {
            host_user_id: '',
            has_guest: false,
            viewer_count: 10,
            recent_10min_gift_count: 0,
            vision_tags: ['cat', 'guitar'],
          },
          _last_updated_at_ms: now - 2000,
        });
      });

      it('accepts short names, bare key values, the one-item form, and keeps the order of items', async () => {
        const r = await lookup({ feature: 'user-profile', keys: [1001, 1002] });
        expect(r.status).toBe(200);
        expect(r.json.results[0].rows.map((x: { values: { level: number } }) => x.values.level)).toEqual([
          7, 3,
        ]);
        const order = await lookup({
          requests: [
            { feature: 'live::realtime-room-context', keys: ['room-1'] },
            { feature: 'azar::user-profile', keys: [1001] },
            { feature: 'live::realtime-room-context', keys: ['room-2'] },
          ],
        });
        expect(order.json.results.map((x: { feature: string }) => x.feature)).toEqual([
          'live::realtime-room-context',
          'azar::user-profile',
          'live::realtime-room-context',
        ]);
        expect(order.json.results[2].rows[0].found).toBe(false);
      });

      it('projects the named fields only, in the order asked', async () => {
        const r = await lookup({
          feature: 'azar::user-profile',
          keys: [1001, 4242],
          fields: ['level', 'gender'],
        });
        expect(r.status).toBe(200);
        expect(r.json.results[0].rows).toEqual([
          { found: true, values: { level: 7, gender: 'F' }, _last_updated_at_ms: now - 10_000 },
          { found: false, values: { level: 0, gender: 'UNKNOWN' }, _last_updated_at_ms: null },
        ]);
        expect(Object.keys(r.json.results[0].rows[0].values)).toEqual(['level', 'gender']);
      });

      it('returns the last N entries of a History feature, newest first', async () => {
        const r = await lookup({ feature: 'azar-match::recent-matches', keys: [1001, 1002], limit: 3 });
        expect(r.status).toBe(200);
        const [one, none] = r.json.results[0].rows;
        expect(one.found).toBe(true);
        expect(one.entries.map((e: { values: { peer_user_id: number } }) => e.values.peer_user_id)).toEqual([
          105, 104, 103,
        ]);
        expect(one.entries[0]).toEqual({
          values: { peer_user_id: 105, chat_duration_sec: 50, peer_country_code: 'XX' },
          _last_updated_at_ms: now - 55_000,
        });
        expect(one._last_updated_at_ms).toBe(now - 55_000);
        expect(none).toEqual({ found: false, entries: [], _last_updated_at_ms: null });
        const all = await lookup({
          feature: 'azar-match::recent-matches',
          keys: [1001],
          fields: ['peer_user_id'],
        });
        expect(all.json.results[0].rows[0].entries).toHaveLength(5);
        expect(all.json.results[0].rows[0].entries[4]).toEqual({
          values: { peer_user_id: 101 },
          _last_updated_at_ms: now - 59_000,
        });
        const huge = await lookup({ feature: 'azar-match::recent-matches', keys: [1001], limit: 10_000 });
        expect(huge.status).toBe(200);
        expect(huge.json.results[0].rows[0].entries).toHaveLength(5);
      });

      it('answers a GET for one key, by path or by query for composite keys', async () => {
        const one = await http.get('/v1/features/azar::user-profile/1001?fields=level,country_code');
        expect(one.status).toBe(200);
        expect(one.json).toEqual({
          feature: 'azar::user-profile',
          found: true,
          values: { level: 7, country_code: 'KR' },
          _last_updated_at_ms: now - 10_000,
        });
        const short = await http.get('/v1/features/user-profile/1002');
        expect(short.json.values.level).toBe(3);
        const pair = await http.get('/v1/features/test::pair-stat?user_id=1&peer_id=b');
        expect(pair.json).toEqual({
          feature: 'test::pair-stat',
          found: true,
          values: { chats: 4, last_chat_at: new Date(now - 1000).toISOString() },
          _last_updated_at_ms: now - 1000,
        });
        const encoded = await http.get(
          `/v1/features/${encodeURIComponent('test::pair-stat')}?user_id=2&peer_id=${encodeURIComponent('a b/c')}`,
        );
        expect(encoded.json.found).toBe(false);
        expect(encoded.json.values.last_chat_at).toBe('1970-01-01T00:00:00.000Z');
        const hist = await http.get('/v1/features/azar-match::recent-matches/1001?limit=2');
        expect(hist.json.entries).toHaveLength(2);
        const composite = await http.get('/v1/features/test::pair-stat/1');
        expect(composite.status).toBe(400);
        expect(composite.json.error.field).toBe('key');
        const noKey = await http.get('/v1/features/test::pair-stat');
        expect(noKey.status).toBe(400);
        const badLimit = await http.get('/v1/features/azar-match::recent-matches/1001?limit=0');
        expect(badLimit.json.error.field).toBe('limit');
      });
    });

    describe('push', () => {
      it('applies a command, then lookups return the new value', async () => {
        const id = freshId();
        const before = await http.get(`/v1/features/azar::user-profile/${id}`);
        expect(before.json.found).toBe(false);
        const r = await push({
          feature_name: 'azar::user-profile',
          method: 'UPDATE',
          keys: { user_id: id },
          values: { level: 12, _last_updated_at_ms: now },
        });
        expect(r.status).toBe(200);
        expect(r.json).toEqual({ accepted: 1, mode: 'applied' });
        const after = await http.get(`/v1/features/azar::user-profile/${id}`);
        expect(after.json).toMatchObject({
          found: true,
          values: { level: 12, gender: 'UNKNOWN' },
          _last_updated_at_ms: now,
        });
      });

      it('accepts a list in the Kafka shape (seed messages byte for byte, upper case, APPEND, DELETE)', async () => {
        // match-feature keeps values one day: the seed's 2023 event time would be expired, so its time is now
        const matchWindow = seedCommands.matchWindow.replace('1700000720000', String(now));
        const r = await push(
          `[${seedCommands.userProfileLevel},${seedCommands.guestEntrance},${matchWindow},` +
            `{"FEATURE_NAME":"recent-matches","METHOD":"APPEND","KEYS":{"USER_ID":1003},"VALUES":{"PEER_USER_ID":7,"_LAST_UPDATED_AT_MS":${now}}}]`,
        );
        expect(r.status).toBe(200);
        expect(r.json.accepted).toBe(4);
        const got = await lookup({
          requests: [
            { feature: 'live::live-room-context', keys: ['room-42'] },
            { feature: 'azar-match::match-feature', keys: [1001] },
            { feature: 'azar-match::recent-matches', keys: [1003] },
          ],
        });
        expect(got.json.results[0].rows[0].values).toEqual({ has_guest: true });
        expect(got.json.results[1].rows[0].values).toEqual({
          recent_10min_match_count: 5,
          recent_10min_avg_chat_duration: 71.4,
        });
        expect(got.json.results[2].rows[0].entries[0].values.peer_user_id).toBe(7);
        const del = await push({
          feature_name: 'live::live-room-context',
          method: 'DELETE',
          keys: { live_room_id: 'room-42' },
          values: { _last_updated_at_ms: now },
        });
        expect(del.status).toBe(200);
        const gone = await http.get('/v1/features/live::live-room-context/room-42');
        expect(gone.json.found).toBe(false);
      });

      it('refuses a push as a whole: 400 naming the field, nothing applied', async () => {
        const id = freshId();
        const r = await push([
          {
            feature_name: 'azar::user-profile',
            method: 'UPDATE',
            keys: { user_id: id },
            values: { level: 1, _last_updated_at_ms: now },
          },
          {
            feature_name: 'azar::user-profile',
            method: 'UPDATE',
            keys: { user_id: id },
            values: { level: 'high', _last_updated_at_ms: now },
          },
        ]);
        expect(r.status).toBe(400);
        expect(r.json.error).toMatchObject({ code: 'invalid_command', field: '[1].values.level' });
        expect((await http.get(`/v1/features/azar::user-profile/${id}`)).json.found).toBe(false);
        const noTime = await push({
          feature_name: 'azar::user-profile',
          method: 'UPDATE',
          keys: { user_id: id },
          values: { level: 1 },
        });
        expect(noTime.json.error.field).toBe('values._last_updated_at_ms');
        const badMethod = await push({
          feature_name: 'azar::user-profile',
          method: 'UPSERT',
          keys: { user_id: id },
        });
        expect(badMethod.json.error.field).toBe('method');
        const notJson = await push('{"feature_name":');
        expect(notJson.json.error.code).toBe('invalid_json');
      });

      it('needs the service to be a writer of every feature pushed (403), and 404 only for all-readers', async () => {
        const r = await push(
          {
            feature_name: 'azar::user-profile',
            method: 'UPDATE',
            keys: { user_id: 1 },
            values: { level: 1, _last_updated_at_ms: now },
          },
          tokens.live,
        );
        expect(r.status).toBe(403);
        expect(r.json.error).toMatchObject({ code: 'forbidden', field: 'feature_name' });
        const unknownForLive = await push(
          {
            feature_name: 'azar::nope',
            method: 'UPDATE',
            keys: { user_id: 1 },
            values: { level: 1, _last_updated_at_ms: now },
          },
          tokens.live,
        );
        expect(unknownForLive.status).toBe(403);
        const unknownForSample = await push({
          feature_name: 'azar::nope',
          method: 'UPDATE',
          keys: { user_id: 1 },
          values: { _last_updated_at_ms: now },
        });
        expect(unknownForSample.status).toBe(404);
      });
    });

    describe('events (from_events rules, the seed’s statements)', () => {
      const events = (topic: string, body: unknown, token?: string) =>
        http.post(`/v1/events/${topic}`, body, token);
      const room = () => `ev-room-${freshId()}`;
      const guest = (
        liveRoomId: string,
        eventType: string,
        timestampMillis: unknown,
        participantType = 'GUEST',
      ) => ({
        liveRoomId,
        userId: 5,
        participantType,
        eventType,
        timestampMillis,
      });
      const hasGuest = async (id: string) =>
        (await http.get(`/v1/features/live::live-room-context/${id}`)).json as {
          found: boolean;
          values: { has_guest: boolean };
          _last_updated_at_ms: number | null;
        };

      it('examples 2-1 and 2-2: a guest’s ENTRANCE sets has_guest, a LEAVE clears it; late and repeated events do not win', async () => {
        const id = room();
        const r = await events('live_room_event', [
          guest(id, 'ENTRANCE', now - 3000),
          guest(id, 'ENTRANCE', now - 3000, 'HOST'),
        ]);
        expect(r.status).toBe(200);
        expect(r.json).toEqual({
          events: 2,
          commands: 1,
          skipped: { 'live::live-room-context': 1 },
          mode: 'applied',
        });
        expect(await hasGuest(id)).toMatchObject({
          found: true,
          values: { has_guest: true },
          _last_updated_at_ms: now - 3000,
        });
        await events('live_room_event', guest(id, 'LEAVE', now - 1000));
        expect((await hasGuest(id)).values.has_guest).toBe(false);
        // a late ENTRANCE (older than the LEAVE), and the first event again: neither wins
        await events('live_room_event', [
          guest(id, 'ENTRANCE', now - 2000),
          guest(id, 'ENTRANCE', now - 3000),
        ]);
        expect(await hasGuest(id)).toMatchObject({
          values: { has_guest: false },
          _last_updated_at_ms: now - 1000,
        });
      });

      it('example 1 and example 3’s mapping: the user CDC sets the level, a match event appends a match', async () => {
        const id = freshId();
        expect(
          (await events('azar_user_cdc', { userId: id, userLevel: 9, timestampMillis: now - 500 })).status,
        ).toBe(200);
        expect((await http.get(`/v1/features/azar::user-profile/${id}`)).json).toMatchObject({
          values: { level: 9 },
        });
        const m = await events('azar_match_event', {
          matchId: 'm1',
          userId: id,
          peerUserId: 77,
          chat_duration: '42',
          timestampMillis: new Date(now - 400).toISOString(),
        });
        expect(m.status).toBe(200);
        const got = (await http.get(`/v1/features/azar-match::recent-matches/${id}`)).json;
        expect(got.entries[0]).toMatchObject({
          values: { peer_user_id: 77, chat_duration_sec: 42, peer_country_code: 'XX' },
          _last_updated_at_ms: now - 400,
        });
      });

      it('refuses a push that a rule cannot map as a whole (400 naming event, feature and rule); nothing changes', async () => {
        const id = room();
        await events('live_room_event', guest(id, 'ENTRANCE', now - 5000));
        const cases: [unknown, RegExp][] = [
          [
            [guest(id, 'LEAVE', now - 100), guest(id, 'LEAVE', 'yesterday')],
            /event \[1\]: live::live-room-context rule guest-leave: event_time: expected a time/,
          ],
          [guest(id, 'LEAVE', now + 86_400_000), /ahead of now/],
          [guest(id, 'LEAVE', -1), /not after 1970/],
          [
            { participantType: 'GUEST', eventType: 'LEAVE', timestampMillis: now },
            /keys.live_room_id: the event gives no value/,
          ],
          [{ ...guest(id, 'LEAVE', now), liveRoomId: { nested: 1 } }, /an object cannot be stored/],
        ];
        for (const [body, message] of cases) {
          const r = await events('live_room_event', body);
          expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
          expect(r.json.error.code).toBe('invalid_event');
          expect(r.json.error.message).toMatch(message);
        }
        let deep: unknown = { liveRoomId: id };
        for (let i = 0; i < 2000; i++) deep = { payload: deep };
        const odd = [
          ['{"liveRoomId":', 'invalid_json'],
          [JSON.stringify(7), 'invalid_request'],
          [JSON.stringify([]), 'invalid_request'],
          [JSON.stringify([[1]]), 'invalid_request'],
        ];
        for (const [body, code] of odd)
          expect((await events('live_room_event', body!)).json.error.code).toBe(code);
        // deep nesting and unknown shapes match no rule: skipped, not an error
        expect((await events('live_room_event', deep)).json).toMatchObject({
          commands: 0,
          skipped: { 'live::live-room-context': 1 },
        });
        expect(await hasGuest(id)).toMatchObject({
          values: { has_guest: true },
          _last_updated_at_ms: now - 5000,
        });
      });

      it('knows which topics are read and who may write: 404, 403, 401, 413', async () => {
        expect((await events('nobody_reads_this', { a: 1 })).status).toBe(404);
        expect((await events('live_room_event', guest(room(), 'ENTRANCE', now), 'not-a-token')).status).toBe(
          401,
        );
        const anonymous = await http.call('/v1/events/live_room_event', {
          method: 'POST',
          body: JSON.stringify(guest(room(), 'ENTRANCE', now)),
        });
        expect(anonymous.status).toBe(401);
        // live-recommender reads live features but writes none of them
        const forbidden = await events('live_room_event', guest(room(), 'ENTRANCE', now), tokens.live);
        expect(forbidden.status).toBe(403);
        const big = await events('live_room_event', {
          ...guest(room(), 'ENTRANCE', now),
          pad: 'x'.repeat(70 * 1024),
        });
        expect(big.status).toBe(413);
        expect((await http.get('/v1/events/live_room_event')).status).toBe(405);
      });

      it('/metrics counts events by feature and rule: mapped and skipped', async () => {
        const before = (await http.get('/metrics')).text;
        const id = room();
        await events('live_room_event', [
          guest(id, 'ENTRANCE', now - 10),
          guest(id, 'ENTRANCE', now - 10, 'HOST'),
        ]);
        const after = (await http.get('/metrics')).text;
        const count = (t: string, labels: Record<string, string>) =>
          metric(t, 'ferry_reader_events_total', labels);
        const mapped = { feature: 'live::live-room-context', rule: 'guest-entrance', outcome: 'mapped' };
        const skipped = { feature: 'live::live-room-context', rule: '', outcome: 'skipped' };
        expect(count(after, mapped) - count(before, mapped)).toBe(1);
        expect(count(after, skipped) - count(before, skipped)).toBe(1);
      });
    });

    describe('access', () => {
      it('answers 401 without a token, with an unknown one, or a malformed Authorization header', async () => {
        const body = { feature: 'azar::user-profile', keys: [1001] };
        const cases: (Record<string, string> | undefined)[] = [
          undefined,
          { authorization: 'Bearer not-a-known-token' },
          { authorization: 'Basic c2FtcGxlOnNlY3JldA==' },
          { authorization: 'Bearer' },
          { authorization: `Bearer ${tokens.sample} extra` },
          { authorization: tokens.sample },
        ];
        for (const headers of cases) {
          for (const r of [
            await http.call('/v1/features/lookup', { method: 'POST', headers, body: JSON.stringify(body) }),
            await http.call('/v1/features/azar::user-profile/1001', { headers }),
            await http.call('/v1/commands', { method: 'POST', headers, body: '{}' }),
          ]) {
            expect(r.status, JSON.stringify(headers)).toBe(401);
            expect(r.json.error.code).toBe('unauthorized');
            expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
          }
        }
      });

      it('answers 403 for a feature the service may not read, and the same for an unknown one', async () => {
        const forbidden = await lookup({ feature: 'azar-match::match-feature', keys: [1001] }, tokens.live);
        const unknown = await lookup({ feature: 'azar-match::no-such-featur', keys: [1001] }, tokens.live);
        expect(forbidden.status).toBe(403);
        expect(unknown.status).toBe(403);
        expect(forbidden.json.error.code).toBe('forbidden');
        const anonymise = (r: HttpResult, name: string) => ({
          status: r.status,
          body: r.text.replace(name, '<feature>'),
          headers: [...r.headers].filter(([k]) => k !== 'date' && k !== 'content-length'),
        });
        expect(anonymise(unknown, 'azar-match::no-such-featur')).toEqual(
          anonymise(forbidden, 'azar-match::match-feature'),
        );
        const get1 = await http.get('/v1/features/azar-match::match-feature/1001', tokens.live);
        const get2 = await http.get('/v1/features/azar-match::no-such-featur/1001', tokens.live);
        expect(anonymise(get2, 'azar-match::no-such-featur')).toEqual(
          anonymise(get1, 'azar-match::match-feature'),
        );
        // a short name that exists gets no better treatment
        const short = await lookup({ feature: 'match-feature', keys: [1001] }, tokens.live);
        expect(anonymise(short, 'match-feature')).toEqual(anonymise(forbidden, 'azar-match::match-feature'));
      });

      it('refuses a batch that mixes allowed and forbidden features as a whole, before reading', async () => {
        const readsBefore = counting.readsOf('live::realtime-room-context');
        const r = await lookup(
          {
            requests: [
              { feature: 'live::realtime-room-context', keys: ['room-9'] },
              { feature: 'azar-match::recent-matches', keys: [1001] },
            ],
          },
          tokens.live,
        );
        expect(r.status).toBe(403);
        expect(r.json.error.field).toBe('requests[1].feature');
        expect(r.json.results).toBeUndefined();
        expect(counting.readsOf('live::realtime-room-context')).toBe(readsBefore);
        const allowed = await lookup(
          { feature: 'live::realtime-room-context', keys: ['room-1'] },
          tokens.live,
        );
        expect(allowed.status).toBe(200);
      });

      it('answers 404 for an unknown feature to a service that may read every feature', async () => {
        const r = await lookup({
          requests: [
            { feature: 'azar::user-profile', keys: [1] },
            { feature: 'azar::nope', keys: [1] },
          ],
        });
        expect(r.status).toBe(404);
        expect(r.json.error).toEqual({
          code: 'unknown_feature',
          message: 'unknown feature "azar::nope"',
          field: 'requests[1].feature',
        });
        expect((await http.get('/v1/features/azar::nope/1')).status).toBe(404);
      });
    });

    describe('limits and bad input', () => {
      it('answers 413 for a body over the limit, declared or streamed', async () => {
        const big = JSON.stringify({ feature: 'azar::user-profile', keys: [1], pad: 'x'.repeat(70 * 1024) });
        const r = await lookup(big);
        expect(r.status).toBe(413);
        expect(r.json.error.code).toBe('payload_too_large');
        const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
        let sent = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ < 8) controller.enqueue(chunk);
            else controller.close();
          },
        });
        const streamed = await http.call('/v1/features/lookup', {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens.sample}` },
          body: stream,
          duplex: 'half',
        } as RequestInit);
        expect(streamed.status).toBe(413);
        const pushBig = await push(`[${'{"feature_name":"x"},'.repeat(4000)}{}]`);
        expect(pushBig.status).toBe(413);
      });

      it('answers 400 naming the field at fault', async () => {
        const cases: [unknown, string, string?][] = [
          ['{"requests": [', 'invalid_json'],
          [[1, 2], 'invalid_request', 'requests'],
          [{ requests: {} }, 'invalid_request', 'requests'],
          [{ requests: [] }, 'invalid_request', 'requests'],
          [{ requests: [{ keys: [1] }] }, 'invalid_request', 'requests[0].feature'],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [] }] },
            'invalid_request',
            'requests[0].keys',
          ],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [1, { user_id: 'abc' }] }] },
            'invalid_request',
            'requests[0].keys[1].user_id',
          ],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [{ userid: 1 }] }] },
            'invalid_request',
            'requests[0].keys[0].userid',
          ],
          [
            { requests: [{ feature: 'test::pair-stat', keys: [{ user_id: 1 }] }] },
            'invalid_request',
            'requests[0].keys[0].peer_id',
          ],
          [
            { requests: [{ feature: 'test::pair-stat', keys: [1] }] },
            'invalid_request',
            'requests[0].keys[0]',
          ],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [1], feilds: ['level'] }] },
            'invalid_request',
            'requests[0].feilds',
          ],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [1], fields: ['level', 'lvl'] }] },
            'invalid_request',
            'requests[0].fields[1]',
          ],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [1], fields: ['user_id'] }] },
            'invalid_request',
            'requests[0].fields[0]',
          ],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [1], limit: 2 }] },
            'invalid_request',
            'requests[0].limit',
          ],
          [
            { requests: [{ feature: 'azar-match::recent-matches', keys: [1], limit: -1 }] },
            'invalid_request',
            'requests[0].limit',
          ],
          [{ feature: 'azar::user-profile', keys: [null] }, 'invalid_request', 'keys[0]'],
          [
            { requests: [{ feature: 'azar::user-profile', keys: [1] }], extra: 1 },
            'invalid_request',
            'extra',
          ],
        ];
        for (const [body, code, field] of cases) {
          const r = await lookup(body);
          expect(r.status, JSON.stringify(body)).toBe(400);
          expect(r.json.error.code, JSON.stringify(body)).toBe(code);
          expect(r.json.error.field, JSON.stringify(body)).toBe(field);
          expect(typeof r.json.error.message).toBe('string');
        }
      });

      it('answers 400 too_many_keys above the batch limit', async () => {
        const keys = Array.from({ length: 201 }, (_, i) => i);
        const r = await lookup({
          requests: [
            { feature: 'azar::user-profile', keys: keys.slice(0, 150) },
            { feature: 'user-profile', keys: keys.slice(150) },
          ],
        });
        expect(r.status).toBe(400);
        expect(r.json.error).toMatchObject({ code: 'too_many_keys', field: 'requests' });
        const ok = await lookup({ feature: 'azar::user-profile', keys: keys.slice(0, 200) });
        expect(ok.status).toBe(200);
        expect(ok.json.results[0].rows).toHaveLength(200);
      });

      it('answers 404 for unknown routes and 405 with Allow for a wrong method', async () => {
        const r = await http.get('/v2/nothing');
        expect(r.status).toBe(404);
        expect(r.json.error.code).toBe('not_found');
        const m = await http.get('/v1/features/lookup');
        expect(m.status).toBe(405);
        expect(m.headers.get('allow')).toBe('POST');
        const del = await http.call('/v1/commands', { method: 'DELETE' });
        expect(del.status).toBe(405);
      });
    });

    describe('operations', () => {
      it('/healthz and /readyz', async () => {
        const h = await http.get('/healthz', undefined);
        expect(h.status).toBe(200);
        expect(h.json).toEqual({ status: 'ok' });
        const r = await http.get('/readyz', undefined);
        expect(r.status).toBe(200);
        expect(r.json).toMatchObject({ status: 'ready', store: store.kind });
      });

      it('/openapi.json is OpenAPI 3.1 and lists every route', async () => {
        const r = await http.get('/openapi.json', undefined);
        expect(r.status).toBe(200);
        expect(r.json.openapi).toBe('3.1.0');
        expect(Object.keys(r.json.paths).sort()).toEqual(
          [
            '/healthz',
            '/metrics',
            '/openapi.json',
            '/readyz',
            '/v1/commands',
            '/v1/events/{topic}',
            '/v1/features/lookup',
            '/v1/features/{feature}',
            '/v1/features/{feature}/{key}',
          ].sort(),
        );
        expect(Object.keys(r.json.paths['/v1/features/lookup'])).toEqual(['post']);
        expect(Object.keys(r.json.paths['/v1/commands'])).toEqual(['post']);
        expect(Object.keys(r.json.paths['/v1/events/{topic}'])).toEqual(['post']);
        for (const p of [
          '/v1/features/{feature}',
          '/v1/features/{feature}/{key}',
          '/healthz',
          '/readyz',
          '/metrics',
          '/openapi.json',
        ]) {
          expect(Object.keys(r.json.paths[p])).toEqual(['get']);
        }
      });

      it('/metrics counts requests and latency by route and feature, cache hits and store errors', async () => {
        await lookup({ feature: 'azar::user-profile', keys: [1001] });
        await lookup({ feature: 'azar::user-profile', keys: [1001] });
        await http.get('/v1/features/azar::user-profile/1001');
        await lookup({ feature: 'azar::user-profile', keys: ['x'] });
        const m = await http.get('/metrics', undefined);
        expect(m.status).toBe(200);
        expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
        const t = m.text;
        expect(
          metric(t, 'ferry_reader_requests_total', {
            route: 'lookup',
            feature: 'azar::user-profile',
            status: '200',
          }),
        ).toBeGreaterThanOrEqual(2);
        expect(
          metric(t, 'ferry_reader_requests_total', {
            route: 'lookup_one',
            feature: 'azar::user-profile',
            status: '200',
          }),
        ).toBeGreaterThanOrEqual(1);
        expect(
          metric(t, 'ferry_reader_requests_total', { route: 'lookup', status: '400' }),
        ).toBeGreaterThanOrEqual(1);
        expect(t).toContain('# TYPE ferry_reader_request_duration_seconds histogram');
        const count = metric(t, 'ferry_reader_request_duration_seconds_count', {
          route: 'lookup',
          feature: 'azar::user-profile',
        });
        expect(
          metric(t, 'ferry_reader_request_duration_seconds_bucket', {
            route: 'lookup',
            feature: 'azar::user-profile',
            le: '+Inf',
          }),
        ).toBe(count);
        expect(
          metric(t, 'ferry_reader_cache_hits_total', { feature: 'azar::user-profile' }),
        ).toBeGreaterThanOrEqual(2);
        const ratio = metric(t, 'ferry_reader_cache_hit_ratio');
        expect(ratio).toBeGreaterThan(0);
        expect(ratio).toBeLessThanOrEqual(1);
        expect(t).toMatch(
          /^ferry_reader_store_errors_total\{feature="azar::user-profile",kind="timeout"\} \d+$/m,
        );
        expect(t).toMatch(/^ferry_reader_cache_bytes \d+$/m);
        expect(t).toMatch(/^ferry_reader_threads 1$/m);
      });
    });

    describe('cache', () => {
      const feature = 'azar::user-profile';
      const hits = async () =>
        metric((await http.get('/metrics', undefined)).text, 'ferry_reader_cache_hits_total', { feature });

      it('serves a second read from the cache (a hit in /metrics, no store read)', async () => {
        const id = freshId();
        const reads = counting.readsOf(feature);
        const hitsBefore = await hits();
        expect((await lookup({ feature, keys: [id] })).status).toBe(200);
        expect(counting.readsOf(feature)).toBe(reads + 1);
        const second = await lookup({ feature, keys: [id] });
        expect(second.json.results[0].rows[0].found).toBe(false);
        expect(counting.readsOf(feature)).toBe(reads + 1);
        expect(await hits()).toBe(hitsBefore + 1);
      });

      it('reads the store again once the freshness of the feature has passed', async () => {
        const f = 'test::short-ttl';
        const id = freshId();
        const reads = counting.readsOf(f);
        await lookup({ feature: f, keys: [id] });
        await lookup({ feature: f, keys: [id] });
        expect(counting.readsOf(f)).toBe(reads + 1);
        clockAheadMs += 260; // past the feature's 250 ms freshness
        await lookup({ feature: f, keys: [id] });
        expect(counting.readsOf(f)).toBe(reads + 2);
      });

      it('shares one store read between concurrent misses of the same key (single-flight)', async () => {
        const id = freshId();
        const reads = counting.readsOf(feature);
        counting.delayMs = 150;
        try {
          const all = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              i % 2 === 0 ? lookup({ feature, keys: [id] }) : http.get(`/v1/features/${feature}/${id}`),
            ),
          );
          for (const r of all) expect(r.status).toBe(200);
        } finally {
          counting.delayMs = 0;
        }
        expect(counting.readsOf(feature)).toBe(reads + 1);
      });

      it('reads a key once when lookups that overlap miss it together, and answers each its own rows', async () => {
        const [a, b, c] = [freshId(), freshId(), freshId()];
        const def = defs.get(feature)!;
        await store.writeObjects(
          def,
          [a, b, c].map((id) => ({
            keys: { user_id: id },
            values: { level: id % 90 },
            eventTimeMs: now - 100,
          })),
        );
        const keysBefore = counting.keysReadOf(feature);
        counting.delayMs = 100;
        let answers: Awaited<ReturnType<typeof lookup>>[];
        try {
          answers = await Promise.all([
            lookup({ feature, keys: [a, b] }),
            lookup({ feature, keys: [b, c, b] }),
            lookup({ feature, keys: [c] }),
          ]);
        } finally {
          counting.delayMs = 0;
        }
        expect(counting.keysReadOf(feature) - keysBefore).toBe(3);
        const levels = answers.map((r) =>
          r.json.results[0].rows.map((x: { values: { level: number } }) => x.values.level),
        );
        expect(levels).toEqual([[a % 90, b % 90], [b % 90, c % 90, b % 90], [c % 90]]);
      });

      it('drops the cached row of a key when a push changes it', async () => {
        const id = freshId();
        await store.writeObjects(defs.get(feature)!, [
          { keys: { user_id: id }, values: { level: 1 }, eventTimeMs: now - 100 },
        ]);
        expect((await http.get(`/v1/features/${feature}/${id}`)).json.values.level).toBe(1);
        expect((await http.get(`/v1/features/${feature}/${id}`)).json.values.level).toBe(1);
        const pushed = await push({
          feature_name: feature,
          method: 'UPDATE',
          keys: { user_id: id },
          values: { level: 2, _last_updated_at_ms: now },
        });
        expect(pushed.status).toBe(200);
        expect((await http.get(`/v1/features/${feature}/${id}`)).json.values.level).toBe(2);
      });
    });

    describe('store failures', () => {
      it('answers 503 quickly when the store fails, and within the timeout when it hangs', async () => {
        const failing = freshId();
        counting.mode = 'fail';
        try {
          // a failure answers at once: one store call, not retried until the timeout
          const readsBefore = counting.readsOf('azar::user-profile');
          const r = await lookup({ feature: 'azar::user-profile', keys: [failing] });
          expect(r.status).toBe(503);
          expect(r.json.error.code).toBe('store_unavailable');
          expect(r.json.error.message).toMatch(/^the online store failed for azar::user-profile: /);
          expect(r.headers.get('retry-after')).toBe('1');
          expect(counting.readsOf('azar::user-profile') - readsBefore).toBe(1);
          expect((await http.get('/readyz', undefined)).status).toBe(503);
          // a hang answers when the store timeout fires (a reader without one would never answer,
          // and the test would time out)
          counting.mode = 'hang';
          const hung = await http.get(`/v1/features/azar::user-profile/${freshId()}`);
          expect(hung.status).toBe(503);
          expect(hung.json.error.message).toBe(
            'the online store did not answer in time for azar::user-profile',
          );
          const pushed = await push({
            feature_name: 'azar::user-profile',
            method: 'UPDATE',
            keys: { user_id: 1 },
            values: { level: 1, _last_updated_at_ms: now },
          });
          expect(pushed.status).toBe(503);
          // cached rows are still served
          expect((await lookup({ feature: 'azar::user-profile', keys: [1001] })).status).toBe(200);
        } finally {
          counting.mode = 'ok';
        }
        const m = (await http.get('/metrics', undefined)).text;
        expect(
          metric(m, 'ferry_reader_store_errors_total', { feature: 'azar::user-profile', kind: 'error' }),
        ).toBeGreaterThanOrEqual(1);
        expect(
          metric(m, 'ferry_reader_store_errors_total', { feature: 'azar::user-profile', kind: 'timeout' }),
        ).toBeGreaterThanOrEqual(1);
        expect((await lookup({ feature: 'azar::user-profile', keys: [failing] })).status).toBe(200);
      });

      it('serves cached rows marked stale where the feature allows it', async () => {
        const id = freshId();
        await store.writeObjects(defs.get('test::stale-ok')!, [
          { keys: { user_id: id }, values: { score: 0.9 }, eventTimeMs: now },
        ]);
        expect(
          (await lookup({ feature: 'test::stale-ok', keys: [id] })).json.results[0].rows[0].stale,
        ).toBeUndefined();
        clockAheadMs += 150; // past the feature's freshness
        counting.mode = 'fail';
        try {
          const r = await lookup({ feature: 'test::stale-ok', keys: [id] });
          expect(r.status).toBe(200);
          expect(r.json.results[0].rows[0]).toEqual({
            found: true,
            values: { score: 0.9 },
            _last_updated_at_ms: now,
            stale: true,
          });
          const uncached = await lookup({ feature: 'test::stale-ok', keys: [id, freshId()] });
          expect(uncached.status).toBe(503);
        } finally {
          counting.mode = 'ok';
        }
        const fresh = await lookup({ feature: 'test::stale-ok', keys: [id] });
        expect(fresh.json.results[0].rows[0].stale).toBeUndefined();
      });
    });
  });
}
