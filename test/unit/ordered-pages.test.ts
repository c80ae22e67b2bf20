import { describe, expect, it } from 'vitest';
import { OrderedPages } from '../../activities/ordered-pages.ts';
import { ReadAhead } from '../../activities/read-ahead.ts';

/** A promise the test resolves by hand. */
function gate<T = void>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => {
    open = r;
  });
  return { p, open };
}

describe('OrderedPages: writes overlap, positions move in order', () => {
  it('commits pages in the order they were added even when later writes finish first', async () => {
    const pages = new OrderedPages(4);
    const commits: number[] = [];
    const writes = [gate(), gate(), gate()];
    for (const i of [0, 1, 2])
      await pages.add(
        async () => writes[i]!.p.then(() => i),
        (n) => void commits.push(n),
      );
    writes[2]!.open();
    writes[1]!.open();
    await Promise.resolve();
    expect(commits).toEqual([]); // page 0 is not written yet: nothing may move past it
    writes[0]!.open();
    await pages.committed();
    expect(commits).toEqual([0, 1, 2]);
  });

  it('holds the caller while maxInFlight pages are under way', async () => {
    const pages = new OrderedPages(2);
    const first = gate();
    await pages.add(
      () => first.p,
      () => {},
    );
    let added = false;
    const second = pages
      .add(
        async () => {},
        () => {},
      )
      .then(() => {
        added = true;
      });
    await new Promise((r) => setImmediate(r));
    expect(added).toBe(false);
    first.open();
    await second;
    expect(added).toBe(true);
  });

  it('a failed page fails every later commit, and committed() throws it', async () => {
    const pages = new OrderedPages(4);
    const commits: number[] = [];
    await pages.add(
      async () => {
        throw new Error('store down');
      },
      () => void commits.push(0),
    );
    await pages.add(
      async () => 1,
      (n) => void commits.push(n),
    );
    await expect(pages.committed()).rejects.toThrow('store down');
    await pages.settled();
    expect(commits).toEqual([]);
  });
});

describe('ReadAhead', () => {
  async function* source(n: number, log: string[]) {
    try {
      for (let i = 0; i < n; i++) {
        log.push(`fetch ${i}`);
        yield i;
      }
    } finally {
      log.push('closed');
    }
  }

  it('fetches the next item while the current one is used, and closes an early stop', async () => {
    const log: string[] = [];
    const r = new ReadAhead(source(5, log));
    expect(await r.next()).toBe(0);
    await Promise.resolve();
    expect(log).toEqual(['fetch 0', 'fetch 1']);
    expect(await r.atEnd()).toBe(false);
    await r.close();
    expect(log.at(-1)).toBe('closed');
  });

  it('reads to the end, then close does nothing more', async () => {
    const log: string[] = [];
    const r = new ReadAhead(source(2, log));
    const got: number[] = [];
    for (let x = await r.next(); x !== undefined; x = await r.next()) got.push(x);
    expect(got).toEqual([0, 1]);
    await r.close();
    expect(log.filter((l) => l === 'closed')).toHaveLength(1);
  });
});
