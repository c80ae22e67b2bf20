/**
 * A token bucket for `upsync.max_rows_per_second`: up to one second's worth of rows may go at
 * once, and over time no more than `ratePerSecond` rows per second. `take(n)` waits until n rows may
 * be written; `sleep` is injected so waiting can heartbeat and notice cancellation.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSecond > 0)) throw new Error(`rate must be positive, got ${ratePerSecond}`);
    this.tokens = ratePerSecond;
    this.last = this.now();
  }

  get capacity(): number {
    return this.ratePerSecond;
  }

  async take(n: number): Promise<void> {
    const t = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    if (this.tokens >= n) {
      this.tokens -= n;
      return;
    }
    const waitMs = ((n - this.tokens) / this.ratePerSecond) * 1000;
    await this.sleep(waitMs);
    // the wait paid for the deficit: the bucket is empty from now
    this.tokens = 0;
    this.last = this.now();
  }
}
