/**
 * Pages written concurrently, committed in order: a page's `work` (its writes) starts at once, up to
 * `maxInFlight` pages at a time, and its `commit` (moving the saved position past it) runs only after
 * its own work and the commit of the page before it. So the saved position never passes a page that
 * is not stored, while the writes of several pages overlap. A failure fails every later commit.
 */
export class OrderedPages {
  private last: Promise<void> = Promise.resolve();
  private readonly inFlight: Promise<void>[] = [];

  constructor(private readonly maxInFlight: number) {}

  /** Starts a page; resolves when fewer than maxInFlight pages are under way (throws a failed one). */
  async add<T>(work: () => Promise<T>, commit: (result: T) => Promise<void> | void): Promise<void> {
    const before = this.last;
    const page = (async () => {
      const result = await work();
      await before;
      await commit(result);
    })();
    page.catch(() => undefined); // awaited (and thrown) by add or committed
    this.last = page;
    this.inFlight.push(page);
    if (this.inFlight.length >= this.maxInFlight) await this.inFlight.shift();
  }

  /** Resolves when every page added is committed; throws the first failure. */
  committed(): Promise<void> {
    return this.last;
  }

  /** Resolves when every page added has ended, committed or not. */
  settled(): Promise<void> {
    return this.last.catch(() => undefined);
  }
}
