/**
 * Runs tasks one at a time per key, in call order (tasks of different keys run concurrently): the
 * read-modify-write of one key's aggregation state must not interleave with another of the same
 * key in this process (the consumer applies several Kafka partitions at once, a backfill runs
 * beside it).
 */
export class KeyLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(task, task);
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await mine;
    } finally {
      // the last task of a key removes its entry
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
