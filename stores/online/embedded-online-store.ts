import { mkdirSync } from 'node:fs';
import { type Database, open, type RootDatabase } from 'lmdb';
import { aggregationEngineOf } from '../../domain/aggregations/aggregation-definition.ts';
import { MemoryAggregationState } from '../../domain/aggregations/aggregation-state.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import { formatFieldType } from '../../domain/definitions/field-types.ts';
import type { OnlineLayout } from '../../domain/kinds/feature-kind.ts';
import { type FeatureType, layoutOf } from '../../domain/kinds/feature-kinds.ts';
import { aggregateResult, servedAggregates } from './aggregate-results.ts';
import {
  type CompiledFeature,
  type CompiledField,
  compileFeature,
  isExpired,
  projectFields,
} from './compiled-feature.ts';
import {
  type AggregateSegment,
  EmbeddedAggregationState,
  flushInline,
  readKeyRow,
  stateForRead,
} from './embedded-aggregation-state.ts';
import {
  decodeHistoryValue,
  decodeObjectEntry,
  encodeHistoryValue,
  encodeObjectEntry,
  type ObjectEntry,
} from './embedded-entry-codec.ts';
import { inlineStateForWrite, isInline, type KeyRow } from './inline-aggregation.ts';
import type {
  AggregateAppend,
  AggregateOutcome,
  HistoryAppend,
  HistoryEntry,
  HistoryReadResult,
  KeyDelete,
  KeyValues,
  ObjectReadResult,
  ObjectWrite,
  OnlineStore,
  ReadOptions,
} from './online-store.ts';
import { OnlineStoreInputError } from './online-store.ts';
import { eventsByKey, prepareAggregateEvents, requireHistory } from './prepare-aggregate-events.ts';
import {
  historyLimit,
  type KeyTuple,
  prepareDeletes,
  prepareHistoryAppends,
  prepareKeys,
  prepareObjectWrites,
  requireLayout,
  unknownFeature,
} from './prepare-input.ts';
import { historyNotFound, ObjectResultBuilder, objectNotFound } from './read-results.ts';
import { replaces, type StoredCell } from './reconcile-cells.ts';

/**
 * The embedded online store: LMDB (`lmdb`) in one folder, no server.
 *
 * Layout: one LMDB database per feature (value bytes: embedded-entry-codec.ts).
 * - Object `object:<feature>`: key = the key values → one entry per key holding every field's
 *   cell with its own event time and expiry, so a read is one `get`. Writes merge field by
 *   field inside an LMDB write transaction (transactions are serialized, so concurrent
 *   partial updates cannot lose each other); a delete leaves a deletion time in the entry.
 * - History `history:<feature>`: key = [...key values, eventTimeMs, entryHash] → the entry's
 *   cells; read newest first by a reverse range; trimmed to the definition's maximum in the
 *   transaction that appends. Deletion times of History keys live in `ferry:history-deleted`.
 * - `ferry:features` records what ensureFeature created (the append-only field list gives
 *   each field its id); `ferry:meta` holds metadata.
 * Every transaction is an abortable child transaction: all of a call is written or nothing.
 * Expired values are invisible on read and removed by sweepExpired.
 */

export interface EmbeddedOnlineStoreOptions {
  /** Folder of the LMDB environment (created if absent). */
  path: string;
  /** Most features the environment can hold (LMDB named databases); default 1,000. */
  maxFeatures?: number;
}

interface FeatureRecord {
  featureType: FeatureType;
  keys: { name: string; type: string }[];
  fields: string[];
}

interface FeatureState {
  compiled: CompiledFeature;
  db: Database<Buffer, LmdbKey>;
  /** Field name → id (its position in the stored field list). */
  ids: Map<string, number>;
  stored: (field: string) => boolean;
  /** Per projection, the id of each field (undefined: the store has no such field yet). */
  projectionIds: WeakMap<readonly CompiledField[], (number | undefined)[]>;
}

type LmdbKey = (string | number)[];

const ENTRY_MAX_KEY = Number.POSITIVE_INFINITY;

function keyId(key: KeyTuple): string {
  return key.length === 1 ? `${typeof key[0]}:${key[0]}` : JSON.stringify(key);
}

function sameKeys(a: FeatureRecord['keys'], b: FeatureRecord['keys']): boolean {
  return a.length === b.length && a.every((k, i) => k.name === b[i]!.name && k.type === b[i]!.type);
}

/** The LMDB database of a feature is `<prefix>:<name>`, by its layout: names on disk, never change them. */
const layoutDbPrefix: Record<OnlineLayout, string> = {
  row: 'object',
  entries: 'history',
  aggregates: 'aggregates',
};

export class EmbeddedOnlineStore implements OnlineStore {
  readonly kind = 'embedded' as const;
  /**
   * Pages of 500 rows, three in flight: an upsync then holds about 1,500 rows' objects at a time,
   * which die young; pages of 1,000 two in flight kept them alive just long enough for V8 to promote
   * every page to the old generation in some runs (30 full collections per million rows). Fewer
   * commits also map fewer LMDB pages (each commit copies the right edge of the B-tree to new pages
   * that the next reads through the map). BENCHMARKS.md, "Upsync".
   */
  readonly bulkWriteRows = 500;
  readonly bulkWritesInFlight = 3;
  /** Expired values are hidden on read and removed by `sweepExpired`. */
  readonly expiresByItself = false;
  private readonly meta: Database<string, string>;
  private readonly registry: Database<FeatureRecord, string>;
  private readonly historyDeleted: Database<number, LmdbKey>;
  private readonly dbs = new Map<string, Database<Buffer, LmdbKey>>();
  private readonly states = new WeakMap<FeatureDefinition, FeatureState>();
  private closed = false;

  private constructor(private readonly root: RootDatabase) {
    this.meta = root.openDB<string, string>({ name: 'ferry:meta', encoding: 'string' });
    this.registry = root.openDB<FeatureRecord, string>({ name: 'ferry:features' });
    this.historyDeleted = root.openDB<number, LmdbKey>({ name: 'ferry:history-deleted' });
  }

  static open(options: EmbeddedOnlineStoreOptions): EmbeddedOnlineStore {
    mkdirSync(options.path, { recursive: true });
    const root = open({ path: options.path, maxDbs: (options.maxFeatures ?? 1000) + 8 });
    return new EmbeddedOnlineStore(root);
  }

  private featureDb(def: FeatureDefinition): Database<Buffer, LmdbKey> {
    const name = `${layoutDbPrefix[layoutOf(def)]}:${def.name}`;
    let db = this.dbs.get(name);
    if (!db) {
      db = this.root.openDB<Buffer, LmdbKey>({ name, encoding: 'binary' });
      this.dbs.set(name, db);
    }
    return db;
  }

  private recordOf(def: FeatureDefinition): FeatureRecord {
    const byName = new Map(def.fields.map((f) => [f.name, f]));
    return {
      featureType: def.featureType,
      keys: def.keyFields.map((name) => ({ name, type: formatFieldType(byName.get(name)!.type) })),
      fields: def.fields.filter((f) => !f.isKey).map((f) => f.name),
    };
  }

  /** What the store knows of the feature; throws when ensureFeature never ran for it. */
  private state(def: FeatureDefinition): FeatureState {
    const cached = this.states.get(def);
    if (cached) return cached;
    const record = this.registry.get(def.name);
    if (!record) throw unknownFeature(def.name);
    const compiled = compileFeature(def);
    const mine = this.recordOf(def);
    if (record.featureType !== def.featureType) {
      throw new OnlineStoreInputError(
        def.name,
        'feature_type',
        `the online store holds it as ${record.featureType}`,
      );
    }
    if (!sameKeys(record.keys, mine.keys)) {
      throw new OnlineStoreInputError(
        def.name,
        def.keyFields[0]!,
        'key fields differ from the stored feature',
      );
    }
    const ids = new Map(record.fields.map((f, i) => [f, i]));
    const state: FeatureState = {
      compiled,
      db: this.featureDb(def),
      ids,
      projectionIds: new WeakMap(),
      stored: (field) => {
        if (ids.has(field)) return true;
        // another process may have run ensureFeature since: ids only ever get added
        const latest = this.registry.get(def.name)?.fields ?? [];
        for (let i = 0; i < latest.length; i++) ids.set(latest[i]!, i);
        state.projectionIds = new WeakMap();
        return ids.has(field);
      },
    };
    this.states.set(def, state);
    return state;
  }

  async ensureFeature(def: FeatureDefinition): Promise<void> {
    const mine = this.recordOf(def);
    await this.registry.childTransaction(() => {
      const current = this.registry.get(def.name);
      if (current) {
        if (current.featureType !== mine.featureType) {
          throw new OnlineStoreInputError(
            def.name,
            'feature_type',
            `the online store holds it as ${current.featureType}; a new type needs a new feature version`,
          );
        }
        if (!sameKeys(current.keys, mine.keys)) {
          throw new OnlineStoreInputError(
            def.name,
            def.keyFields[0]!,
            `key fields changed (${current.keys.map((k) => `${k.name} ${k.type}`).join(', ')} stored); ` +
              'a key change needs a new feature version',
          );
        }
        const added = mine.fields.filter((f) => !current.fields.includes(f));
        if (added.length === 0) return;
        this.registry.putSync(def.name, { ...current, fields: [...current.fields, ...added] });
      } else {
        this.registry.putSync(def.name, mine);
      }
    });
    this.featureDb(def);
    this.states.delete(def);
  }

  private idsOf(st: FeatureState, fields: readonly CompiledField[]): (number | undefined)[] {
    let ids = st.projectionIds.get(fields);
    if (!ids) {
      ids = fields.map((f) => st.ids.get(f.name));
      st.projectionIds.set(fields, ids);
    }
    return ids;
  }

  async writeObjects(def: FeatureDefinition, writes: readonly ObjectWrite[]): Promise<void> {
    const st = this.state(def);
    const feature = st.compiled;
    const prepared = prepareObjectWrites(feature, writes, st.stored);
    if (prepared.length === 0) return;
    const now = Date.now();
    const retention = feature.retentionMs;
    await st.db.childTransaction(() => {
      const pending = new Map<string, { key: KeyTuple; entry: ObjectEntry; changed: boolean }>();
      for (const w of prepared) {
        if (w.cells.length === 0 || isExpired(feature, w.eventTimeMs, now)) continue;
        const id = keyId(w.key);
        let p = pending.get(id);
        if (!p) {
          const bytes = st.db.get(w.key);
          p = {
            key: w.key,
            entry: bytes ? decodeObjectEntry(bytes) : { deletedAt: undefined, cells: [] },
            changed: false,
          };
          pending.set(id, p);
        }
        const entry = p.entry;
        if (entry.deletedAt !== undefined && w.eventTimeMs <= entry.deletedAt) continue;
        const expiresAt = retention === undefined ? 0 : w.eventTimeMs + retention;
        for (const cell of w.cells) {
          const fid = st.ids.get(cell.field.name)!;
          const incoming: StoredCell = [w.eventTimeMs, expiresAt, cell.bytes];
          const current = entry.cells[fid];
          if (!current || replaces(incoming, current)) {
            entry.cells[fid] = incoming;
            p.changed = true;
          }
        }
      }
      for (const { key, entry, changed } of pending.values()) {
        if (!changed) continue;
        entry.cells.forEach((c, fid) => {
          if (c && c[1] !== 0 && c[1] <= now) entry.cells[fid] = undefined;
        });
        st.db.putSync(key, encodeObjectEntry(entry));
      }
    });
  }

  async writeAggregateEvents(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    nowMs = Date.now(),
  ): Promise<AggregateOutcome[]> {
    return this.writeAggregates(def, events, nowMs, 'live', 0);
  }

  async writeAggregateHistory(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    cutMs: number,
    nowMs = Date.now(),
  ): Promise<AggregateOutcome[]> {
    return this.writeAggregates(def, events, nowMs, 'history', cutMs);
  }

  private async writeAggregates(
    def: FeatureDefinition,
    events: readonly AggregateAppend[],
    nowMs: number,
    segment: AggregateSegment,
    cutMs: number,
  ): Promise<AggregateOutcome[]> {
    const st = this.state(def);
    if (segment === 'history') requireHistory(st.compiled);
    const prepared = prepareAggregateEvents(st.compiled, events);
    const engine = aggregationEngineOf(def);
    const out: AggregateOutcome[] = new Array(prepared.length);
    // each key's events together, in call order; one transaction for the call
    await st.db.childTransaction(() => {
      for (const { key, items } of eventsByKey(prepared)) {
        const liveRow = readKeyRow(st.db, key, 'live');
        const historyRow = engine.spec.history ? readKeyRow(st.db, key, 'history') : undefined;
        // a small key's state is its meta entry's events: the engine writes to it in memory
        const row = segment === 'history' ? historyRow : liveRow;
        const inline = isInline(row);
        const target = inline
          ? inlineStateForWrite(engine, row)
          : new EmbeddedAggregationState(st.db, key, segment);
        const keyEvents = items.map((i) => prepared[i]!.event);
        let outcomes: AggregateOutcome[];
        if (segment === 'history') {
          // the live state's meta gives the cut; the backfill only reads it
          outcomes = engine.addHistory(target, liveRow?.meta, keyEvents, cutMs);
        } else {
          // the live state refuses what is before the history's cut (a backfill's)
          outcomes = engine.add(target, keyEvents, historyRow?.meta);
        }
        // what expired of this key goes now (the Cassandra store's TTLs do the same)
        if (target instanceof MemoryAggregationState)
          flushInline(st.db, key, segment, target, engine.spec, nowMs);
        else target.expire(nowMs, engine.spec);
        items.forEach((i, j) => {
          out[i] = outcomes[j]!;
        });
      }
    });
    return out;
  }

  async readAggregates(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { atMs?: number },
  ): Promise<ObjectReadResult[]> {
    const st = this.state(def);
    const feature = st.compiled;
    requireLayout(feature, 'aggregates');
    const fields = servedAggregates(feature, options?.fields);
    const engine = aggregationEngineOf(def);
    const t = options?.atMs ?? Date.now();
    return prepareKeys(feature, keys).map((key) =>
      aggregateResult(
        engine,
        stateForRead(st.db, key, 'live'),
        fields,
        t,
        engine.spec.history ? stateForRead(st.db, key, 'history') : undefined,
      ),
    );
  }

  async readObjects(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions,
  ): Promise<ObjectReadResult[]> {
    const st = this.state(def);
    const feature = st.compiled;
    requireLayout(feature, 'row');
    const fields = projectFields(feature, options?.fields);
    const ids = this.idsOf(st, fields);
    const tuples = prepareKeys(feature, keys);
    const now = Date.now();
    const out: ObjectReadResult[] = new Array(tuples.length);
    for (let i = 0; i < tuples.length; i++) {
      const bytes = st.db.get(tuples[i]!);
      if (!bytes) {
        out[i] = objectNotFound(fields);
        continue;
      }
      const cells = decodeObjectEntry(bytes).cells;
      const b = new ObjectResultBuilder();
      for (let j = 0; j < fields.length; j++) {
        const fid = ids[j];
        const cell = fid === undefined ? undefined : cells[fid];
        if (
          cell &&
          cell[2] !== null &&
          (cell[1] === 0 || cell[1] > now) &&
          !isExpired(feature, cell[0], now)
        ) {
          b.add(fields[j]!, cell[2], cell[0]);
        } else b.add(fields[j]!, undefined, 0);
      }
      out[i] = b.result();
    }
    return out;
  }

  async appendHistory(def: FeatureDefinition, entries: readonly HistoryAppend[]): Promise<void> {
    const st = this.state(def);
    const feature = st.compiled;
    const prepared = prepareHistoryAppends(feature, entries, st.stored);
    if (prepared.length === 0) return;
    const now = Date.now();
    const retention = feature.retentionMs;
    const max = historyLimit(feature, undefined);
    await st.db.childTransaction(() => {
      const touched = new Map<string, { key: KeyTuple; deletedAt: number | undefined }>();
      for (const e of prepared) {
        if (isExpired(feature, e.eventTimeMs, now)) continue;
        const id = keyId(e.key);
        let t = touched.get(id);
        if (!t) {
          t = { key: e.key, deletedAt: this.historyDeleted.get([feature.name, ...e.key]) };
          touched.set(id, t);
        }
        if (t.deletedAt !== undefined && e.eventTimeMs <= t.deletedAt) continue;
        const cells: Uint8Array[] = [];
        for (const cell of e.cells) cells[st.ids.get(cell.field.name)!] = cell.bytes!;
        const expiresAt = retention === undefined ? 0 : e.eventTimeMs + retention;
        st.db.putSync(
          [...e.key, e.eventTimeMs, e.entryHash],
          encodeHistoryValue(e.eventTimeMs, { expiresAt, cells }),
        );
      }
      for (const { key } of touched.values()) {
        const beyond = [
          ...st.db.getKeys({ start: [...key, ENTRY_MAX_KEY], end: key, reverse: true, offset: max }),
        ];
        for (const k of beyond) st.db.removeSync(k);
      }
    });
  }

  async readHistory(
    def: FeatureDefinition,
    keys: readonly KeyValues[],
    options?: ReadOptions & { limit?: number },
  ): Promise<HistoryReadResult[]> {
    const st = this.state(def);
    const feature = st.compiled;
    requireLayout(feature, 'entries');
    const fields = projectFields(feature, options?.fields);
    const ids = this.idsOf(st, fields);
    const limit = historyLimit(feature, options?.limit);
    const tuples = prepareKeys(feature, keys);
    const now = Date.now();
    return tuples.map((key) => {
      if (limit === 0) return historyNotFound();
      const entries: HistoryEntry[] = [];
      for (const { key: k, value } of st.db.getRange({
        start: [...key, ENTRY_MAX_KEY],
        end: key,
        reverse: true,
      })) {
        const eventTimeMs = k[key.length] as number;
        const v = decodeHistoryValue(eventTimeMs, value);
        if (isExpired(feature, eventTimeMs, now) || (v.expiresAt !== 0 && v.expiresAt <= now)) break;
        const b = new ObjectResultBuilder();
        for (let j = 0; j < fields.length; j++) {
          const fid = ids[j];
          b.add(fields[j]!, fid === undefined ? undefined : v.cells[fid], eventTimeMs);
        }
        entries.push({ values: b.values, eventTimeMs });
        if (entries.length >= limit) break;
      }
      return entries.length > 0 ? { found: true, entries } : historyNotFound();
    });
  }

  async deleteKeys(def: FeatureDefinition, deletes: readonly KeyDelete[]): Promise<void> {
    const st = this.state(def);
    const feature = st.compiled;
    const prepared = prepareDeletes(feature, deletes);
    if (prepared.length === 0) return;
    const now = Date.now();
    const oneRowPerKey = layoutOf(def) === 'row';
    await st.db.childTransaction(() => {
      for (const d of prepared) {
        if (oneRowPerKey) {
          const bytes = st.db.get(d.key);
          const entry: ObjectEntry = bytes ? decodeObjectEntry(bytes) : { deletedAt: undefined, cells: [] };
          if (entry.deletedAt !== undefined && entry.deletedAt >= d.eventTimeMs) continue;
          entry.deletedAt = d.eventTimeMs;
          let left = 0;
          entry.cells.forEach((c, fid) => {
            if (c && (c[0] <= d.eventTimeMs || (c[1] !== 0 && c[1] <= now))) entry.cells[fid] = undefined;
            else if (c) left++;
          });
          // a deletion time that no accepted write could be older than is not needed
          if (left === 0 && isExpired(feature, d.eventTimeMs, now)) st.db.removeSync(d.key);
          else st.db.putSync(d.key, encodeObjectEntry(entry));
        } else {
          const markKey = [feature.name, ...d.key];
          const mark = this.historyDeleted.get(markKey);
          if (mark !== undefined && mark >= d.eventTimeMs) continue;
          if (!isExpired(feature, d.eventTimeMs, now)) this.historyDeleted.putSync(markKey, d.eventTimeMs);
          for (const k of [...st.db.getKeys({ start: d.key, end: [...d.key, d.eventTimeMs, '\uffff'] })]) {
            if (k.length === d.key.length + 2) st.db.removeSync(k);
          }
        }
      }
    });
  }

  async sweepExpired(def: FeatureDefinition, nowMs: number): Promise<number> {
    const st = this.state(def);
    const feature = st.compiled;
    const expired = (eventTimeMs: number, expiresAt: number) =>
      (expiresAt !== 0 && expiresAt <= nowMs) || isExpired(feature, eventTimeMs, nowMs);
    let removed = 0;
    const batch = 1_000;
    const oneRowPerKey = layoutOf(def) === 'row';
    let start: LmdbKey | undefined;
    for (;;) {
      // find candidates outside the write lock, then re-check each inside a short transaction
      const candidates: LmdbKey[] = [];
      let last: LmdbKey | undefined;
      let seen = 0;
      for (const { key: raw, value } of st.db.getRange(
        start === undefined ? {} : { start, exclusiveStart: true },
      )) {
        // LMDB hands a one-value key array back as the bare value
        const key: LmdbKey = Array.isArray(raw) ? raw : [raw as string | number];
        last = key;
        seen++;
        if (oneRowPerKey) {
          const e = decodeObjectEntry(value);
          const stale = e.cells.some((c) => c && expired(c[0], c[1]));
          const deadMark =
            e.deletedAt !== undefined && !e.cells.some(Boolean) && isExpired(feature, e.deletedAt, nowMs);
          if (stale || deadMark) candidates.push(key);
        } else {
          const t = key[key.length - 2] as number;
          if (expired(t, decodeHistoryValue(t, value).expiresAt)) candidates.push(key);
        }
        if (seen >= batch) break;
      }
      if (candidates.length > 0) {
        removed += await st.db.childTransaction(() => {
          let n = 0;
          for (const key of candidates) {
            if (!oneRowPerKey) {
              if (st.db.removeSync(key)) n++;
              continue;
            }
            const bytes = st.db.get(key);
            if (!bytes) continue;
            const e = decodeObjectEntry(bytes);
            let left = 0;
            e.cells.forEach((c, fid) => {
              if (c && expired(c[0], c[1])) {
                e.cells[fid] = undefined;
                n++;
              } else if (c) left++;
            });
            const keepMark = e.deletedAt !== undefined && !isExpired(feature, e.deletedAt, nowMs);
            if (left === 0 && !keepMark) st.db.removeSync(key);
            else st.db.putSync(key, encodeObjectEntry(e));
          }
          return n;
        });
      }
      if (seen < batch) break;
      start = last;
    }
    if (!oneRowPerKey && feature.retentionMs !== undefined) {
      const marks: LmdbKey[] = [];
      for (const { key, value } of this.historyDeleted.getRange({
        start: [feature.name],
        end: [feature.name, '\uffff'],
      })) {
        if (key[0] === feature.name && isExpired(feature, value, nowMs)) marks.push(key);
      }
      if (marks.length > 0) {
        await this.historyDeleted.childTransaction(() => {
          for (const k of marks) this.historyDeleted.removeSync(k);
        });
      }
    }
    return removed;
  }

  /** Entries LMDB holds for the feature now (keys of an Object feature, entries of a History one), expired or not. */
  storedEntryCount(def: FeatureDefinition): number {
    return this.state(def).db.getCount();
  }

  /** The meta entry of an Aggregation key's live state, decoded (for tests and tools). */
  aggregateKeyRow(def: FeatureDefinition, keys: KeyValues): KeyRow | undefined {
    const st = this.state(def);
    return readKeyRow(st.db, prepareKeys(st.compiled, [keys])[0]!, 'live');
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.meta.get(key);
  }

  async putMeta(key: string, value: string): Promise<void> {
    await this.meta.put(key, value);
  }

  async listMeta(prefix: string): Promise<[string, string][]> {
    const out: [string, string][] = [];
    for (const { key, value } of this.meta.getRange({ start: prefix })) {
      if (!key.startsWith(prefix)) break;
      out.push([key, value]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  async deleteMeta(key: string): Promise<void> {
    await this.meta.remove(key);
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('the embedded online store is closed');
    this.registry.get('');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }
}

export async function openEmbeddedOnlineStore(
  options: EmbeddedOnlineStoreOptions,
): Promise<EmbeddedOnlineStore> {
  return EmbeddedOnlineStore.open(options);
}
