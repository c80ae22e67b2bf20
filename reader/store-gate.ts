import { TimeoutError } from './with-timeout.ts';

interface Waiter {
  n: number;
  admit(): void;
}

/**
 * Bounds the keys one thread has in flight in the online store (a bulkhead). Past the bound,
 * reads wait in order; one that waits longer than its timeout is refused (503) without ever
 * reaching the store, so an overloaded store sheds load instead of queueing it without end.
 * A slot is freed when the store call settles, even if the caller gave up on it earlier.
 * A read larger than the bound runs alone.
 */
export class StoreGate {
  private inflight = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly maxKeys: number) {}

  /** Keys being read now. */
  get keysInFlight(): number {
    return this.inflight;
  }

  /** Runs `call` once `n` keys fit; rejects with TimeoutError when that takes over `timeoutMs`. */
  async run<T>(
    n: number,
    timeoutMs: number,
    call: () => Promise<T>,
  ): Promise<{ result: Promise<T>; waitedMs: number }> {
    const start = Date.now();
    // a waiter's keys are counted when it is admitted
    if (this.queue.length > 0 || !this.fits(n)) await this.wait(n, timeoutMs);
    else this.inflight += n;
    let result: Promise<T>;
    try {
      result = call();
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      () => this.release(n),
      () => this.release(n),
    );
    return { result, waitedMs: Date.now() - start };
  }

  private fits(n: number): boolean {
    return this.inflight === 0 || this.inflight + n <= this.maxKeys;
  }

  private wait(n: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        n,
        admit: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(
          new TimeoutError(
            `waited over ${timeoutMs} ms for the online store (${this.inflight} keys in flight)`,
          ),
        );
        this.drain();
      }, timeoutMs);
      this.queue.push(waiter);
    });
  }

  private release(n: number): void {
    this.inflight -= n;
    this.drain();
  }

  /** Admits waiters in order while they fit, counting their keys at once. */
  private drain(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.n)) {
      const w = this.queue.shift()!;
      this.inflight += w.n;
      w.admit();
    }
  }
}
