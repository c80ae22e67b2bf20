import type { CachedRow } from './row-json.ts';

/** A key's id within its feature: the key value itself for one numeric key field, else text. */
export type KeyId = string | number;

interface Entry {
  row: CachedRow;
  bytes: number;
  /** Read since eviction last looked at it (CLOCK's reference bit). */
  used: boolean;
  /** Served as fresh until then. */
  freshUntil: number;
  /** Served only as stale (store failing) until then; dropped after. */
  staleUntil: number;
}

export type CacheLookup = { row: CachedRow; fresh: boolean } | undefined;

const entryOverhead = 120;
/** Entries one scope gives up per round of eviction, so every feature shares the pressure. */
const evictionStride = 16;

/**
 * An in-process LRU of rows bounded by approximate bytes (the row's estimate plus its key
 * and bookkeeping), approximated with CLOCK (second chance) so that a hit only sets a flag.
 * Rows are kept per scope (a feature and revision) in maps of key ids, so a lookup hashes
 * the key value alone (a number for numeric keys) rather than a concatenated string. Each
 * map keeps insertion order; eviction walks the scopes in turn from their oldest entries,
 * and an entry read since it was last looked at goes to the back instead of out. (Moving an
 * entry on every hit, delete + set, cost more than the rest of a cached lookup.) Expired
 * entries stay until their stale window passes, so they can be served marked stale while
 * the store fails, or until memory pressure evicts them.
 */
export class RowCache {
  private readonly scopes = new Map<string, Map<KeyId, Entry>>();
  private usedBytes = 0;
  private count = 0;
  evictions = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.usedBytes;
  }

  get(scope: string, id: KeyId, now: number): CacheLookup {
    const rows = this.scopes.get(scope);
    if (rows === undefined) return undefined;
    const e = rows.get(id);
    if (e === undefined) return undefined;
    if (now < e.freshUntil) {
      e.used = true;
      return { row: e.row, fresh: true };
    }
    if (now < e.staleUntil) {
      e.used = true;
      return { row: e.row, fresh: false };
    }
    this.remove(rows, id, e);
    return undefined;
  }

  set(scope: string, id: KeyId, row: CachedRow, freshUntil: number, staleUntil: number): void {
    const bytes = row.bytes + (typeof id === 'string' ? 2 * id.length : 8) + entryOverhead;
    if (bytes > this.maxBytes) return;
    let rows = this.scopes.get(scope);
    if (rows === undefined) {
      rows = new Map();
      this.scopes.set(scope, rows);
    }
    const old = rows.get(id);
    if (old !== undefined) this.remove(rows, id, old);
    rows.set(id, { row, bytes, used: false, freshUntil, staleUntil: Math.max(staleUntil, freshUntil) });
    this.usedBytes += bytes;
    this.count++;
    if (this.usedBytes > this.maxBytes) this.evict();
  }

  delete(scope: string, id: KeyId): void {
    const rows = this.scopes.get(scope);
    const e = rows?.get(id);
    if (rows !== undefined && e !== undefined) this.remove(rows, id, e);
  }

  clear(): void {
    this.scopes.clear();
    this.usedBytes = 0;
    this.count = 0;
  }

  private evict(): void {
    while (this.usedBytes > this.maxBytes && this.count > 0) {
      for (const [scope, rows] of this.scopes) {
        this.evictFrom(rows, evictionStride);
        if (rows.size === 0) this.scopes.delete(scope);
        if (this.usedBytes <= this.maxBytes) return;
      }
    }
  }

  /** CLOCK over one scope: evicts up to `n` entries, giving read ones a second chance. */
  private evictFrom(rows: Map<KeyId, Entry>, n: number): void {
    let chances = rows.size;
    for (const [id, e] of rows) {
      if (n === 0 || this.usedBytes <= this.maxBytes) return;
      if (e.used && chances-- > 0) {
        // moved to the back: visited again only after every older entry
        e.used = false;
        rows.delete(id);
        rows.set(id, e);
        continue;
      }
      this.remove(rows, id, e);
      this.evictions++;
      n--;
    }
  }

  private remove(rows: Map<KeyId, Entry>, id: KeyId, e: Entry): void {
    rows.delete(id);
    this.usedBytes -= e.bytes;
    this.count--;
  }
}
