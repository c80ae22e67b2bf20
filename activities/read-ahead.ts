/**
 * An async iterator read one item ahead: the next item is fetched while the caller works on the
 * current one. `close` ends an iteration stopped before its end (the source's `return`, e.g. a
 * database read that frees its result).
 */
export class ReadAhead<T> {
  private readonly source: AsyncIterator<T>;
  private upcoming: Promise<IteratorResult<T>>;
  private ended = false;

  constructor(iterable: AsyncIterable<T>) {
    this.source = iterable[Symbol.asyncIterator]();
    this.upcoming = this.fetch();
  }

  private fetch(): Promise<IteratorResult<T>> {
    const p = this.source.next();
    p.catch(() => undefined); // awaited (and thrown) by next
    return p;
  }

  /** The next item (undefined at the end); starts fetching the one after it. */
  async next(): Promise<T | undefined> {
    const got = await this.upcoming;
    if (got.done) {
      this.ended = true;
      return undefined;
    }
    this.upcoming = this.fetch();
    return got.value;
  }

  /** Whether the source has no item after the current one (waits for the read ahead). */
  async atEnd(): Promise<boolean> {
    this.ended = (await this.upcoming).done === true;
    return this.ended;
  }

  /** Ends the read early: waits for the item being fetched, then closes the source. */
  async close(): Promise<void> {
    if (this.ended) return;
    await this.upcoming.catch(() => undefined);
    await this.source.return?.(undefined);
  }
}
