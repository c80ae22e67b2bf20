import type { StoredCell } from './reconcile-cells.ts';

/**
 * The bytes of the embedded store's LMDB values. Fields are named by their id: the
 * position of the field in the feature's append-only field list (ensureFeature only adds),
 * so ids never change and entries need not repeat field names.
 *
 * Object entry:  flags (bit 0: deleted), [deletedAtMs], then per stored field:
 *                fieldId, eventTimeMs, ttl (0: never expires, else expiresAt − eventTime + 1),
 *                cell length + 1 (0: the field was cleared), cell bytes.
 * History value: ttl as above (relative to the entry's event time in its key), then per
 *                field: fieldId, cell length, cell bytes.
 * Numbers are unsigned LEB128 varints (exact up to 2^53).
 */

export interface ObjectEntry {
  deletedAt: number | undefined;
  /** Indexed by field id. */
  cells: (StoredCell | undefined)[];
}

export interface HistoryValue {
  expiresAt: number;
  /** Indexed by field id. */
  cells: (Uint8Array | undefined)[];
}

class Writer {
  buf = Buffer.allocUnsafe(256);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(n: number): void {
    this.room(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

const writer = new Writer();

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
  }

  bytes(len: number): Uint8Array {
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  get more(): boolean {
    return this.pos < this.buf.length;
  }
}

export function encodeObjectEntry(e: ObjectEntry): Buffer {
  const w = writer;
  w.pos = 0;
  w.varint(e.deletedAt === undefined ? 0 : 1);
  if (e.deletedAt !== undefined) w.varint(e.deletedAt);
  for (let id = 0; id < e.cells.length; id++) {
    const c = e.cells[id];
    if (!c) continue;
    w.varint(id);
    w.varint(c[0]);
    w.varint(c[1] === 0 ? 0 : c[1] - c[0] + 1);
    if (c[2] === null) w.varint(0);
    else {
      w.varint(c[2].length + 1);
      w.bytes(c[2]);
    }
  }
  return w.done();
}

export function decodeObjectEntry(buf: Uint8Array): ObjectEntry {
  const r = new Reader(buf);
  const flags = r.varint();
  const deletedAt = flags & 1 ? r.varint() : undefined;
  const cells: (StoredCell | undefined)[] = [];
  while (r.more) {
    const id = r.varint();
    const t = r.varint();
    const ttl = r.varint();
    const len = r.varint();
    cells[id] = [t, ttl === 0 ? 0 : t + ttl - 1, len === 0 ? null : r.bytes(len - 1)];
  }
  return { deletedAt, cells };
}

export function encodeHistoryValue(eventTimeMs: number, v: HistoryValue): Buffer {
  const w = writer;
  w.pos = 0;
  w.varint(v.expiresAt === 0 ? 0 : v.expiresAt - eventTimeMs + 1);
  for (let id = 0; id < v.cells.length; id++) {
    const c = v.cells[id];
    if (!c) continue;
    w.varint(id);
    w.varint(c.length);
    w.bytes(c);
  }
  return w.done();
}

export function decodeHistoryValue(eventTimeMs: number, buf: Uint8Array): HistoryValue {
  const r = new Reader(buf);
  const ttl = r.varint();
  const cells: (Uint8Array | undefined)[] = [];
  while (r.more) {
    const id = r.varint();
    cells[id] = r.bytes(r.varint());
  }
  return { expiresAt: ttl === 0 ? 0 : eventTimeMs + ttl - 1, cells };
}
