import type { FieldValue } from '../values/coerce-value.ts';
import { type AggregateField, numericFunctions } from './aggregate-field.ts';
import {
  type FlatEvents,
  firstFlatEventFrom,
  flatStride,
  type PartialAggregate,
} from './partial-aggregate.ts';

/**
 * The read of a key held as its events (a small key's, inline) when every field is count, sum,
 * avg, min or max: the numbers the engine's partials would hold (count, and per input n, sum, min
 * and max), summed per window into one array of numbers, with no object per window or input.
 * This is the reader's common case; `NumericHeldRead.of` says whether a spec's fields allow it
 * (the engine takes any other read). The values are those `fieldValue` gives from a partial.
 */
export class NumericHeldRead {
  /** Per window: count, then n, sum, min, max of each input. */
  private readonly acc: Float64Array;
  private readonly stride: number;

  private constructor(
    private readonly fields: readonly AggregateField[],
    private readonly windowOfField: readonly number[],
    /** The inputs the fields read, in a fixed order. */
    readonly inputs: readonly string[],
    windows: number,
  ) {
    this.stride = 1 + 4 * inputs.length;
    this.acc = new Float64Array(windows * this.stride);
    this.inputOfField = fields.map((f) => (f.of === undefined ? -1 : inputs.indexOf(f.of)));
  }
  /** Each field's input among `inputs` (-1: count). */
  private readonly inputOfField: readonly number[];

  /** The numeric read of these fields, or undefined when one of them is not count, sum, avg, min or max. */
  static of(
    fields: readonly AggregateField[],
    windowOfField: readonly number[],
    windows: number,
  ): NumericHeldRead | undefined {
    const inputs: string[] = [];
    for (const f of fields) {
      if (f.fn === 'count') continue;
      if (!numericFunctions.has(f.fn) || f.of === undefined) return undefined;
      if (!inputs.includes(f.of)) inputs.push(f.of);
    }
    return new NumericHeldRead(fields, windowOfField, inputs, windows);
  }

  /** Where each input is in an event of `held` (its offset in the event's stretch), -1 when its events have none. */
  columnsOf(held: FlatEvents): number[] {
    return this.inputs.map((name) => {
      const j = held.names.indexOf(name);
      return j < 0 ? -1 : 2 + j;
    });
  }

  /** Empties every window's sums (the start of a key's read). */
  clear(): void {
    const { acc, stride } = this;
    for (let base = 0; base < acc.length; base += stride) {
      acc[base] = 0;
      for (let k = 0; k < this.inputs.length; k++) {
        const at = base + 1 + 4 * k;
        acc[at] = 0;
        acc[at + 1] = 0;
        acc[at + 2] = Number.POSITIVE_INFINITY;
        acc[at + 3] = Number.NEGATIVE_INFINITY;
      }
    }
  }

  /** Adds a partial (a lifetime's) to window `w`. */
  addPartial(w: number, p: PartialAggregate): void {
    const { acc } = this;
    const base = w * this.stride;
    acc[base] = acc[base]! + p.count;
    for (let k = 0; k < this.inputs.length; k++) {
      const ip = p.inputs[this.inputs[k]!];
      if (ip === undefined) continue;
      const at = base + 1 + 4 * k;
      acc[at] = acc[at]! + ip.n;
      acc[at + 1] = acc[at + 1]! + ip.sum;
      if (ip.min < acc[at + 2]!) acc[at + 2] = ip.min;
      if (ip.max > acc[at + 3]!) acc[at + 3] = ip.max;
    }
  }

  /** Adds to window `w` the events of `held` (time order) with event time in [from, to). */
  addEvents(w: number, held: FlatEvents, columns: readonly number[], from: number, to: number): void {
    const { acc } = this;
    const base = w * this.stride;
    const { flat } = held;
    const step = flatStride(held);
    for (let i = firstFlatEventFrom(held, from); i < flat.length; i += step) {
      const t = flat[i] as number;
      if (t >= to) break;
      acc[base] = acc[base]! + 1;
      for (let k = 0; k < columns.length; k++) {
        const c = columns[k]!;
        if (c < 0) continue;
        const v = flat[i + c];
        if (typeof v !== 'number') continue;
        const at = base + 1 + 4 * k;
        acc[at] = acc[at]! + 1;
        acc[at + 1] = acc[at + 1]! + v;
        if (v < acc[at + 2]!) acc[at + 2] = v;
        if (v > acc[at + 3]!) acc[at + 3] = v;
      }
    }
  }

  /** Every field's value from the windows' sums, in the order of the fields (as `fieldValue` gives them). */
  values(): FieldValue[] {
    const { acc, fields } = this;
    const out: FieldValue[] = new Array(fields.length);
    for (let j = 0; j < fields.length; j++) {
      const f = fields[j]!;
      const base = this.windowOfField[j]! * this.stride;
      if (f.fn === 'count') {
        out[j] = acc[base]!;
        continue;
      }
      const at = base + 1 + 4 * this.inputOfField[j]!;
      const n = acc[at]!;
      switch (f.fn) {
        case 'sum':
          out[j] = n > 0 ? acc[at + 1]! : 0;
          break;
        case 'avg':
          out[j] = n > 0 ? acc[at + 1]! / n : null;
          break;
        case 'min':
          out[j] = n > 0 ? acc[at + 2]! : null;
          break;
        default:
          out[j] = n > 0 ? acc[at + 3]! : null;
      }
    }
    return out;
  }
}
