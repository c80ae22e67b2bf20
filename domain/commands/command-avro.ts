import avro from 'avsc';
import { schemaFingerprint } from '../codec/avro-schema.ts';
import { CommandError } from './feature-command.ts';

/**
 * The Avro form of a command envelope, for producers that prefer a binary encoding to JSON.
 * One generic record for every feature: the key and value maps take any Ferry value (null,
 * boolean, long, double, string, bytes, or a list of those); `_last_updated_at_ms` is a long in
 * `values`, as in the JSON form. A Kafka message says it is Avro with the header
 * `content-type: avro/binary` and names the schema by `ferry-schema: <fingerprint>`.
 *
 * Encoding and decoding are done here by hand (avsc only computes the schema's fingerprint and
 * cross-checks in tests): avsc trusts block counts and lengths until the end of a read, so a
 * hostile count makes it loop for a very long time, and it refuses longs near ±2^53 that Ferry
 * allows. This decoder checks every length and count against the bytes left and fails fast.
 */

const scalarBranches = ['null', 'boolean', 'long', 'double', 'string', 'bytes'] as const;
const methods = ['UPDATE', 'DELETE', 'APPEND'] as const;

export const commandEnvelopeSchema = {
  type: 'record',
  name: 'FeatureCommand',
  namespace: 'ferry.commands',
  doc: 'A Ferry feature command: {feature_name, method, keys{...}, values{..., _last_updated_at_ms}}',
  fields: [
    { name: 'feature_name', type: 'string' },
    { name: 'method', type: { type: 'enum', name: 'Method', symbols: ['UPDATE', 'DELETE', 'APPEND'] } },
    {
      name: 'keys',
      type: { type: 'map', values: [...scalarBranches, { type: 'array', items: [...scalarBranches] }] },
    },
    {
      name: 'values',
      type: { type: 'map', values: [...scalarBranches, { type: 'array', items: [...scalarBranches] }] },
    },
  ],
} as const;

const envelopeType = avro.Type.forSchema(commandEnvelopeSchema as unknown as avro.Schema, {
  wrapUnions: true,
});

/** The fingerprint that the `ferry-schema` header of an Avro command carries. */
export const commandEnvelopeFingerprint = schemaFingerprint(commandEnvelopeSchema as unknown as avro.Schema);

/** An append-only Avro binary writer. */
class Writer {
  private readonly chunks: Buffer[] = [];

  long(v: number): void {
    let z = v >= 0 ? BigInt(v) << 1n : (-BigInt(v) << 1n) - 1n;
    const out: number[] = [];
    while (z > 0x7fn) {
      out.push(Number(z & 0x7fn) | 0x80);
      z >>= 7n;
    }
    out.push(Number(z));
    this.chunks.push(Buffer.from(out));
  }

  bytes(b: Uint8Array): void {
    this.long(b.length);
    this.chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }

  string(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }

  double(v: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(v);
    this.chunks.push(b);
  }

  boolean(v: boolean): void {
    this.chunks.push(Buffer.from([v ? 1 : 0]));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeScalar(w: Writer, v: unknown, path: string): void {
  if (v === null || v === undefined) {
    w.long(0);
  } else if (typeof v === 'boolean') {
    w.long(1);
    w.boolean(v);
  } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
    w.long(2);
    w.long(v);
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new CommandError(`${path}: ${v} cannot be encoded`);
    w.long(3);
    w.double(v);
  } else if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new CommandError(`${path}: ${v} is outside ±2^53`);
    w.long(2);
    w.long(Number(v));
  } else if (typeof v === 'string') {
    w.long(4);
    w.string(v);
  } else if (v instanceof Uint8Array) {
    w.long(5);
    w.bytes(v);
  } else {
    throw new CommandError(`${path}: a ${typeof v} cannot be encoded`);
  }
}

function writeMap(w: Writer, m: Record<string, unknown>, path: string): void {
  const entries = Object.entries(m);
  if (entries.length > 0) {
    w.long(entries.length);
    for (const [k, v] of entries) {
      w.string(k);
      if (Array.isArray(v)) {
        w.long(6);
        if (v.length > 0) {
          w.long(v.length);
          v.forEach((x, i) => {
            writeScalar(w, x, `${path}.${k}[${i}]`);
          });
        }
        w.long(0);
      } else writeScalar(w, v, `${path}.${k}`);
    }
  }
  w.long(0);
}

/** An envelope in plain JS values (numbers, strings, booleans, Buffers, arrays, null). */
export interface CommandEnvelope {
  feature_name: string;
  method: 'UPDATE' | 'DELETE' | 'APPEND';
  keys: Record<string, unknown>;
  values: Record<string, unknown>;
}

/** Encodes an envelope; integers become longs, other numbers doubles, Buffers bytes. */
export function encodeCommandAvro(envelope: CommandEnvelope): Buffer {
  const w = new Writer();
  w.string(envelope.feature_name);
  const m = methods.indexOf(envelope.method);
  if (m < 0) throw new CommandError(`method: ${envelope.method} cannot be encoded`);
  w.long(m);
  writeMap(w, envelope.keys, 'keys');
  writeMap(w, envelope.values, 'values');
  return w.toBuffer();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A bounds-checked reader of Avro binary data. */
class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get left(): number {
    return this.buf.length - this.pos;
  }

  fail(what: string): never {
    throw new CommandError(`not a valid Avro command: ${what} at byte ${this.pos} of ${this.buf.length}`);
  }

  long(what: string): number {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail(`truncated ${what}`);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        const v = (result >> 1n) ^ -(result & 1n);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
          this.fail(`${what} ${v} outside ±2^53`);
        return Number(v);
      }
      shift += 7n;
    }
    return this.fail(`${what}: varint longer than 10 bytes`);
  }

  bytes(what: string): Buffer {
    const n = this.long(`${what} length`);
    if (n < 0) this.fail(`negative ${what} length ${n}`);
    if (n > this.left) this.fail(`${what} of ${n} bytes runs past the end (truncated)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(what: string): string {
    const b = this.bytes(what);
    try {
      return utf8.decode(b);
    } catch {
      return this.fail(`${what} is not UTF-8`);
    }
  }

  double(what: string): number {
    if (this.left < 8) this.fail(`truncated ${what}`);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  boolean(what: string): boolean {
    if (this.left < 1) this.fail(`truncated ${what}`);
    const b = this.buf[this.pos++]!;
    if (b > 1) this.fail(`${what}: boolean byte ${b}`);
    return b === 1;
  }

  /** Reads the blocks of a map or array; each item takes at least `minItemBytes`. */
  blocks(what: string, minItemBytes: number, item: () => void): void {
    for (;;) {
      let count = this.long(`${what} block count`);
      if (count === 0) return;
      if (count < 0) {
        count = -count;
        const size = this.long(`${what} block size`);
        if (size < 0 || size > this.left) this.fail(`${what} block size ${size} runs past the end`);
      }
      if (count * minItemBytes > this.left)
        this.fail(`${what} block of ${count} items cannot fit in the ${this.left} bytes left (truncated)`);
      for (let i = 0; i < count; i++) item();
    }
  }
}

function readScalar(r: Reader, branch: number, what: string): unknown {
  switch (branch) {
    case 0:
      return null;
    case 1:
      return r.boolean(what);
    case 2:
      return r.long(what);
    case 3:
      return r.double(what);
    case 4:
      return r.string(what);
    case 5:
      return Buffer.from(r.bytes(what));
    default:
      return r.fail(`${what}: union branch ${branch} out of range`);
  }
}

function readValue(r: Reader, what: string): unknown {
  const branch = r.long(`${what} union branch`);
  if (branch !== 6) return readScalar(r, branch, what);
  const items: unknown[] = [];
  r.blocks(what, 1, () => {
    items.push(readScalar(r, r.long(`${what} item union branch`), `${what}[${items.length}]`));
  });
  return items;
}

function readMap(r: Reader, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  r.blocks(what, 2, () => {
    const key = r.string(`${what} key`);
    out[key] = readValue(r, `${what}.${key}`);
  });
  return { ...out };
}

/** Decodes an Avro envelope written with `commandEnvelopeSchema`; throws CommandError naming the fault. */
export function decodeCommandAvro(buf: Buffer): CommandEnvelope {
  const r = new Reader(buf);
  const feature_name = r.string('feature_name');
  const m = r.long('method');
  const method = methods[m] ?? r.fail(`method enum index ${m} out of range`);
  const keys = readMap(r, 'keys');
  const values = readMap(r, 'values');
  if (r.left > 0) r.fail(`${r.left} trailing bytes`);
  return { feature_name, method, keys, values };
}

/** The feature name at the start of an Avro envelope that may be damaged further on (for dead letters). */
export function peekAvroFeatureName(buf: Buffer): string | undefined {
  try {
    return new Reader(buf).string('feature_name');
  } catch {
    return undefined;
  }
}

/** avsc's own decoder of the envelope (for cross-checks in tests only: it trusts block counts). */
export function decodeCommandAvroWithAvsc(buf: Buffer): unknown {
  return envelopeType.fromBuffer(buf);
}
