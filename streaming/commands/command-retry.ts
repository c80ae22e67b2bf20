/** Runs `fn` until it succeeds, waiting with backoff between failures; stops on `signal`. */
export async function retrying<T>(
  what: string,
  fn: () => Promise<T>,
  options: {
    signal?: AbortSignal;
    fatal?: (e: unknown) => boolean;
    onRetry?: (e: unknown, attempt: number, waitMs: number) => void;
    initialMs?: number;
    maxMs?: number;
  } = {},
): Promise<T> {
  const initial = options.initialMs ?? 200;
  const max = options.maxMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (options.fatal?.(e)) throw e;
      if (options.signal?.aborted)
        throw new Error(`${what}: stopped while retrying: ${(e as Error).message}`);
      const wait = Math.min(max, initial * 2 ** Math.min(attempt - 1, 20));
      options.onRetry?.(e, attempt, wait);
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve();
        }, wait);
        options.signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}
