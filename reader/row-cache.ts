import { FrequencySketch, hashKeyId } from './frequency-sketch.ts';
import type { CachedRow } from './row-json.ts';

/** A key's id within its feature: the key value itself for one numeric key field, else text. */
export type KeyId = string | number;

/** What a lookup finds: the row, and until when it is fresh (past that, only stale). */
export interface CacheEntry {
  readonly row: CachedRow;
  readonly freshUntil: number;
}

interface Entry extends CacheEntry {
  row: CachedRow;
  id: KeyId;
  scope: Scope;
  bytes: number;
  /** Its place in the ring of slots the clock hand walks. */
  slot: number;
  /** Read since the hand last passed it (CLOCK's reference bit). */
  used: boolean;
  /** Served as fresh until then. */
  freshUntil: number;
  /** Served only as stale (store failing) until then; dropped after. */
  staleUntil: number;
}

/** The rows of one feature and revision, by key id (a handle: look it up once per request). */
export interface Scope {
  rows: Map<KeyId, Entry>;
  /** Mixed into the frequency hash, so equal ids of two features count apart. */
  seed: number;
}

/**
 * The copy of a row that the cache keeps: made here, not where rows are read.
 * - V8 pretenures an allocation site whose objects tend to survive: once the cache had kept
 *   rows made in row-json.ts, V8 allocated every row made there in the old generation, also the
 *   rows of lookups that are answered and dropped. A full cache then cost 10-20% more CPU per
 *   lookup even when no lookup used it (63 MB promoted in 8 s against 0.05 MB with no cache;
 *   none with --no-allocation-site-pretenuring). Rows kept are copies made at this site alone.
 * - The bytes get memory of their own: a row's bytes are cut from Node's shared 8 KB pool, and
 *   one cached row would keep its whole pool alive after the pool's other rows were gone.
 */
function keptRow(row: CachedRow): CachedRow {
  const bytes = new Uint8Array(row.body.length);
  bytes.set(row.body);
  return {
    found: row.found,
    lastUpdatedAtMs: row.lastUpdatedAtMs,
    values: row.values === null ? null : { ...row.values },
    entries:
      row.entries === null
        ? null
        : row.entries.map((e) => ({ values: { ...e.values }, eventTimeMs: e.eventTimeMs, json: e.json })),
    body: Buffer.from(bytes.buffer, 0, bytes.length),
    bytes: row.bytes,
  };
}

function sameRow(a: CachedRow, b: CachedRow): boolean {
  return a.found === b.found && a.lastUpdatedAtMs === b.lastUpdatedAtMs && a.body.equals(b.body);
}

export type CacheLookup = { row: CachedRow; fresh: boolean } | undefined;

const entryOverhead = 120;
/** A guess at a row's size, to size the frequency sketch for the rows that fit. */
const typicalEntryBytes = 500;

/**
 * An in-process cache of rows bounded by approximate bytes (the row's estimate plus its key
 * and bookkeeping), evicting with CLOCK (second chance) and admitting with TinyLFU.
 *
 * - Rows are kept per scope (a feature and revision) in maps of key ids, so a lookup hashes
 *   the key value alone (a number for numeric keys) rather than a concatenated string.
 * - Every entry also has a slot in one ring over all scopes. The clock hand stays where it
 *   stopped between calls: an eviction looks at the next few slots only, never at deleted
 *   entries (a `Map` walked from its start visits every hole earlier deletions left, which
 *   made a miss 10x dearer between rehashes). A hit only sets the entry's reference bit; the
 *   hand gives a read entry a second chance and clears the bit.
 * - When the cache is full, a new row gets in only if its key was asked for more often lately
 *   than the key it would push out (a frequency sketch that halves with time). A key asked for
 *   once (the tail of a uniform or Zipf load) does not push out one asked for often, and a
 *   miss in a full cache costs nothing more than the read it needed anyway.
 *
 * Expired entries stay: until their stale window passes they can be served marked stale while
 * the store fails; after it they are misses, kept for the read that follows (which most often
 * finds the same row and only renews its freshness) until the hand evicts them.
 */
export class RowCache {
  private readonly scopes = new Map<string, Scope>();
  private readonly ring: (Entry | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private hand = 0;
  private usedBytes = 0;
  private count = 0;
  private readonly sketch: FrequencySketch;
  evictions = 0;
  /** Rows not kept because the row they would push out was asked for about as often or more. */
  rejections = 0;
  /** Slots the clock hand has looked at (eviction work; stays a small multiple of the rows set). */
  handSteps = 0;

  constructor(readonly maxBytes: number) {
    this.sketch = new FrequencySketch(Math.ceil(maxBytes / typicalEntryBytes));
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.usedBytes;
  }

  /** The row of `id`, if cached; counts the request for admission either way. */
  get(scope: string, id: KeyId, now: number): CacheLookup {
    const e = this.getIn(this.scopeOf(scope), id, now);
    return e === undefined ? undefined : { row: e.row, fresh: now < e.freshUntil };
  }

  set(scope: string, id: KeyId, row: CachedRow, freshUntil: number, staleUntil: number): void {
    this.setIn(this.scopeOf(scope), id, row, freshUntil, staleUntil);
  }

  /** The rows of a feature and revision (its cache prefix), for getIn/setIn. */
  scopeOf(name: string): Scope {
    let s = this.scopes.get(name);
    if (s === undefined) {
      s = { rows: new Map(), seed: hashKeyId(name, 0x811c9dc5) };
      this.scopes.set(name, s);
    }
    return s;
  }

  /**
   * The entry of `id` if cached and not past its stale window (fresh while `now <
   * freshUntil`); counts the request for admission (a hit, once per lap of the hand).
   * Allocates nothing.
   */
  getIn(s: Scope, id: KeyId, now: number): CacheEntry | undefined {
    const e = s.rows.get(id);
    if (e === undefined) {
      this.sketch.record(hashKeyId(id, s.seed));
      return undefined;
    }
    if (now < e.staleUntil) {
      // a hit is counted once per lap of the hand: a cached key read since the hand last
      // passed is safe from eviction anyway, and a 100-key hit then costs a map lookup per key
      if (!e.used) {
        this.sketch.record(hashKeyId(id, s.seed));
        e.used = true;
      }
      return e;
    }
    // past its stale window: a miss, but the entry stays for the row the miss reads (most often
    // the same row, refreshed in place by setIn) until then or until the hand evicts it
    this.sketch.record(hashKeyId(id, s.seed));
    return undefined;
  }

  setIn(s: Scope, id: KeyId, row: CachedRow, freshUntil: number, staleUntil: number): void {
    const bytes = row.bytes + (typeof id === 'string' ? 2 * id.length : 8) + entryOverhead;
    if (bytes > this.maxBytes) return;
    const old = s.rows.get(id);
    staleUntil = Math.max(staleUntil, freshUntil);
    if (old !== undefined) {
      old.freshUntil = freshUntil;
      old.staleUntil = staleUntil;
      // a row read again because its copy expired is most often the same row: it only gets a
      // new freshness (copying it would make old-generation garbage of the copy it replaces, and
      // V8's concurrent marking of that garbage was the largest cost of a cache on skewed keys)
      if (sameRow(old.row, row)) return;
      this.usedBytes += bytes - old.bytes;
      old.row = keptRow(row);
      old.bytes = bytes;
    } else {
      if (this.usedBytes + bytes > this.maxBytes && !this.admits(s, id, bytes)) {
        this.rejections++;
        return;
      }
      const e: Entry = {
        row: keptRow(row),
        id,
        scope: s,
        bytes,
        slot: 0,
        used: false,
        freshUntil,
        staleUntil,
      };
      e.slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.ring.length;
      this.ring[e.slot] = e;
      s.rows.set(id, e);
      this.usedBytes += bytes;
      this.count++;
      while (this.usedBytes > this.maxBytes && this.count > 1) {
        const v = this.victim();
        if (v === e)
          e.used = true; // not the row just admitted: the hand passes it once
        else this.remove(v, true);
      }
      return;
    }
    while (this.usedBytes > this.maxBytes && this.count > 1) this.remove(this.victim(), true);
  }

  delete(scope: string, id: KeyId): void {
    const e = this.scopes.get(scope)?.rows.get(id);
    if (e !== undefined) this.remove(e);
  }

  clear(): void {
    for (const s of this.scopes.values()) s.rows.clear();
    this.ring.length = 0;
    this.freeSlots.length = 0;
    this.hand = 0;
    this.usedBytes = 0;
    this.count = 0;
  }

  /**
   * Whether a new row of `bytes` may push out the rows the hand would evict for it: only if
   * its key was asked for lately at least two times more than each of them was. (With a margin of
   * one, the sketch's noise let a third of a Zipf load's tail churn through a full cache: each
   * row admitted is promoted to V8's old generation and soon collected from there.)
   */
  private admits(scope: Scope, id: KeyId, bytes: number): boolean {
    const candidate = this.sketch.frequency(hashKeyId(id, scope.seed));
    let freed = this.maxBytes - this.usedBytes;
    let at = this.hand;
    for (let looked = 0; freed < bytes && looked < this.ring.length; looked++) {
      const e = this.nextUnused(at);
      if (e === undefined) return true;
      if (this.sketch.frequency(hashKeyId(e.id, e.scope.seed)) + 1 >= candidate) {
        this.hand = e.slot;
        return false;
      }
      freed += e.bytes;
      at = (e.slot + 1) % this.ring.length;
    }
    return true;
  }

  /** The entry the hand evicts next; entries read since it last passed get a second chance. */
  private victim(): Entry {
    const e = this.nextUnused(this.hand)!;
    this.hand = (e.slot + 1) % this.ring.length;
    return e;
  }

  /** From slot `from` on, clears the reference bits it passes and returns the first entry without one. */
  private nextUnused(from: number): Entry | undefined {
    const ring = this.ring;
    const n = ring.length;
    if (n === 0) return undefined;
    let at = from % n;
    // two laps at most: the first clears every bit it meets
    for (let i = 0; i < 2 * n; i++, at = at + 1 === n ? 0 : at + 1) {
      this.handSteps++;
      const e = ring[at];
      if (e === undefined) continue;
      if (e.used) {
        e.used = false;
        continue;
      }
      return e;
    }
    return undefined;
  }

  private remove(e: Entry, evicted = false): void {
    e.scope.rows.delete(e.id);
    this.ring[e.slot] = undefined;
    this.freeSlots.push(e.slot);
    this.usedBytes -= e.bytes;
    this.count--;
    if (evicted) this.evictions++;
  }
}
