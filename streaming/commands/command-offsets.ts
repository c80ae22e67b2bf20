/**
 * Which Kafka offsets may be committed. A partition's committable offset is the smallest offset
 * still *held* (a command whose offline copy is not written yet), or else the offset after the
 * last message whose online write succeeded. Holds are released in any order.
 *
 * A hold remembers the generation it was taken in: after a reassignment (`reset`) the messages
 * are delivered again from the committed offset, and releases of older holds are ignored.
 */
export interface OffsetHold {
  /** `topic/partition`. */
  readonly tp: string;
  readonly offset: number;
  readonly generation: number;
}

class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number | undefined {
    return this.items[0];
  }

  push(v: number): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= v) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = v;
  }

  pop(): number | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]! < a[l]! ? r : l;
      if (a[c]! >= last) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

class PartitionOffsets {
  /** The offset after the last message fully processed online; -1 before the first. */
  next = -1;
  private readonly heap = new MinHeap();
  /** Released holds still in the heap (lazy deletion), by offset. */
  private readonly released = new Map<number, number>();
  held = 0;

  hold(offset: number): void {
    this.heap.push(offset);
    this.held++;
  }

  release(offset: number): void {
    this.released.set(offset, (this.released.get(offset) ?? 0) + 1);
    this.held--;
    this.prune();
  }

  private prune(): void {
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined) return;
      const r = this.released.get(top);
      if (!r) return;
      this.heap.pop();
      if (r === 1) this.released.delete(top);
      else this.released.set(top, r - 1);
    }
  }

  /** Undefined until a message was processed in this generation. */
  committable(): number | undefined {
    if (this.next < 0) return undefined;
    const min = this.heap.peek();
    return min !== undefined ? Math.min(min, this.next) : this.next;
  }
}

export class OffsetTracker {
  private generation = 0;
  private readonly partitions = new Map<string, PartitionOffsets>();
  private readonly committed = new Map<string, number>();

  static tp(topic: string, partition: number): string {
    return `${topic}/${partition}`;
  }

  private part(tp: string): PartitionOffsets {
    let p = this.partitions.get(tp);
    if (!p) {
      p = new PartitionOffsets();
      this.partitions.set(tp, p);
    }
    return p;
  }

  /** Holds `offset` until released: the partition's commit stays at or before it. */
  hold(tp: string, offset: number): OffsetHold {
    this.part(tp).hold(offset);
    return { tp, offset, generation: this.generation };
  }

  release(h: OffsetHold): void {
    if (h.generation !== this.generation) return;
    this.partitions.get(h.tp)?.release(h.offset);
  }

  /** Every message up to and including `offset` was applied online (and its holds taken). */
  processed(tp: string, offset: number): void {
    const p = this.part(tp);
    if (offset + 1 > p.next) p.next = offset + 1;
  }

  /** Forgets every partition (after a reassignment): the consumer resumes from the committed offsets. */
  reset(): void {
    this.generation++;
    this.partitions.clear();
    this.committed.clear();
  }

  /** Changes on every reset. */
  get currentGeneration(): number {
    return this.generation;
  }

  isCurrent(h: OffsetHold): boolean {
    return h.generation === this.generation;
  }

  heldCount(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.held;
    return n;
  }

  /** Offsets to commit now: committable ones that moved past what was last committed. */
  toCommit(): { tp: string; offset: number }[] {
    const out: { tp: string; offset: number }[] = [];
    for (const [tp, p] of this.partitions) {
      const c = p.committable();
      if (c === undefined) continue;
      const last = this.committed.get(tp);
      if (last === undefined || c > last) out.push({ tp, offset: c });
    }
    return out;
  }

  /** Records a successful commit. */
  committedAt(tp: string, offset: number): void {
    const last = this.committed.get(tp);
    if (last === undefined || offset > last) this.committed.set(tp, offset);
  }

  committedOffset(tp: string): number | undefined {
    return this.committed.get(tp);
  }
}
