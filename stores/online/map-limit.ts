/**
 * Maps `items` through `fn` with at most `limit` calls in flight; results in input order.
 * The first failure rejects the whole map and starts no further calls.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  if (items.length === 0) return out;
  if (items.length <= limit) {
    const all = await Promise.all(items.map(fn));
    for (let i = 0; i < all.length; i++) out[i] = all[i]!;
    return out;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        next = items.length;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}
