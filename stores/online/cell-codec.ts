import avro from 'avsc';
import { fieldAvroType } from '../../domain/codec/avro-schema.ts';
import type { FieldType, ScalarType } from '../../domain/definitions/field-types.ts';
import type { FieldValue } from '../../domain/values/coerce-value.ts';

/**
 * One stored field value (a "cell"): a one-byte writer-type tag, then the Avro binary
 * encoding of the value under `fieldAvroType(type)`. For a single field the tag identifies
 * the writer schema completely (the Avro type is a function of the field type), so a cell
 * written under an older field type is resolved with Avro's promotion rules (Int → Long,
 * Float → Double, Text ↔ Bytes, ...) when the definition has since changed; an
 * incompatible cell reads as missing. Both online stores store exactly these bytes.
 */

// Stable on disk: never renumber. Lists set bit 0x40.
const scalarTag: Record<ScalarType, number> = {
  Text: 1,
  Long: 2,
  Int: 3,
  Double: 4,
  Float: 5,
  Boolean: 6,
  Timestamp: 7,
  Bytes: 8,
};
const listBit = 0x40;
const tagScalar = new Map<number, ScalarType>(
  Object.entries(scalarTag).map(([s, t]) => [t, s as ScalarType]),
);

export function typeTag(type: FieldType): number {
  return type.kind === 'scalar' ? scalarTag[type.scalar] : scalarTag[type.item] | listBit;
}

function typeOfTag(tag: number): FieldType | undefined {
  const scalar = tagScalar.get(tag & ~listBit);
  if (!scalar) return undefined;
  return tag & listBit ? { kind: 'list', item: scalar } : { kind: 'scalar', scalar };
}

const avroTypes = new Map<number, avro.Type>();

function avroTypeOfTag(tag: number): avro.Type | undefined {
  let t = avroTypes.get(tag);
  if (!t) {
    const type = typeOfTag(tag);
    if (!type) return undefined;
    t = avro.Type.forSchema(fieldAvroType(type));
    avroTypes.set(tag, t);
  }
  return t;
}

type Resolver = ReturnType<avro.Type['createResolver']>;

let scratch = Buffer.allocUnsafe(4096);

/** Encodes one value of a field: a coerced, non-null FieldValue. */
export class CellCodec {
  readonly tag: number;
  private readonly type: avro.Type;
  /** Writer tag → resolver, or null when the writer type cannot be read as this type. */
  private readonly resolvers = new Map<number, Resolver | null>();

  constructor(readonly fieldType: FieldType) {
    this.tag = typeTag(fieldType);
    this.type = avroTypeOfTag(this.tag)!;
  }

  encode(value: FieldValue): Buffer {
    for (;;) {
      scratch[0] = this.tag;
      const end = this.type.encode(value, scratch, 1);
      if (end >= 0) {
        // allocUnsafe takes small buffers from Node's pool; a loop copies a few bytes faster than copy()
        const out = Buffer.allocUnsafe(end);
        if (end <= 64) for (let i = 0; i < end; i++) out[i] = scratch[i]!;
        else scratch.copy(out, 0, 0, end);
        return out;
      }
      scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, -end + 1));
    }
  }

  /** Decodes a stored cell; undefined when it is unreadable under this field's type. */
  decode(cell: Uint8Array): FieldValue | undefined {
    const buf = Buffer.isBuffer(cell) ? cell : Buffer.from(cell.buffer, cell.byteOffset, cell.byteLength);
    const tag = buf[0]!;
    let resolver: Resolver | null | undefined;
    if (tag !== this.tag) {
      resolver = this.resolverFor(tag);
      if (resolver === null) return undefined;
    }
    try {
      const out = resolver ? this.type.decode(buf, 1, resolver) : this.type.decode(buf, 1);
      return out.offset === buf.length ? (out.value as FieldValue) : undefined;
    } catch {
      return undefined;
    }
  }

  private resolverFor(tag: number): Resolver | null {
    let r = this.resolvers.get(tag);
    if (r === undefined) {
      const writer = avroTypeOfTag(tag);
      try {
        r = writer ? this.type.createResolver(writer) : null;
      } catch {
        r = null;
      }
      this.resolvers.set(tag, r);
    }
    return r;
  }
}
