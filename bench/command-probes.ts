import { encodeCommandMessage } from '../domain/commands/command-message.ts';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import type { OnlineStore } from '../stores/online/online-store.ts';
import type { CommandProducer } from '../streaming/commands/command-producer.ts';

/**
 * Freshness of commands as a client sees it, from outside the consumer: a probe is an UPDATE of a
 * key of its own (beside the load's keys, on the same topic) stamped with its send time; the
 * online store is polled until the probe's row is there with that time. Freshness = when it was
 * found minus when it was sent, to within the poll interval (10 ms). A poll reads the 8 oldest
 * probes not found yet: at most 800 keys a second, however far the consumer falls behind.
 * Nothing in the consumer is hooked.
 */
export class CommandProbes {
  private next: number;
  private readonly outstanding = new Map<number, number>();
  private readonly found = new Map<number, number>();
  private readonly samples: number[] = [];
  private sending: NodeJS.Timeout | undefined;
  private polling: NodeJS.Timeout | undefined;
  private measuring = false;
  private reading = false;

  constructor(
    private readonly producer: CommandProducer,
    private readonly online: OnlineStore,
    private readonly def: FeatureDefinition,
    /** Probe keys start here (above every key of the load). */
    firstKey: number,
    private readonly values: Record<string, unknown>,
    private readonly pollMs = 10,
    /** Keys read per poll, the oldest outstanding first: a consumer that falls behind must not also be slowed by a growing probe read. */
    private readonly maxPerPoll = 8,
  ) {
    this.next = firstKey;
  }

  /** Sends one probe now; resolves with its key once the broker has it. */
  async send(): Promise<number> {
    const key = this.next++;
    const at = Date.now();
    this.outstanding.set(key, at);
    await this.producer.sendMessages([
      encodeCommandMessage(this.def, {
        feature: this.def.name,
        method: 'UPDATE',
        keys: { user_id: key },
        values: this.values,
        eventTimeMs: at,
      }),
    ]);
    this.poll();
    return key;
  }

  /** Polls the store until every probe sent so far is found or `timeoutMs` passes. */
  async settle(timeoutMs: number): Promise<{ unread: number }> {
    this.poll();
    const until = Date.now() + timeoutMs;
    while (this.outstanding.size > 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, this.pollMs));
    return { unread: this.outstanding.size };
  }

  /** When the probe of `key` was found (ms since epoch), once it was. */
  foundAt(key: number): number | undefined {
    return this.found.get(key);
  }

  /** Sends a probe every `everyMs`, recording the freshness of each while measuring. */
  start(everyMs: number): void {
    this.measuring = true;
    this.sending = setInterval(() => void this.send(), everyMs);
  }

  /** Stops sending; the probes in flight still count once found. */
  stop(): void {
    clearInterval(this.sending);
  }

  /** The freshness of the probes found while measuring, ms, sorted. */
  freshness(): number[] {
    this.measuring = false;
    return [...this.samples].sort((a, b) => a - b);
  }

  close(): void {
    clearInterval(this.sending);
    clearTimeout(this.polling);
    this.outstanding.clear();
  }

  private poll(): void {
    if (this.polling !== undefined || this.reading) return;
    this.polling = setTimeout(() => {
      this.polling = undefined;
      void this.read();
    }, this.pollMs);
  }

  private async read(): Promise<void> {
    if (this.outstanding.size === 0) return;
    this.reading = true;
    try {
      const keys = [...this.outstanding.keys()].slice(0, this.maxPerPoll);
      const rows = await this.online.readObjects(
        this.def,
        keys.map((k) => ({ user_id: k })),
      );
      const now = Date.now();
      rows.forEach((row, i) => {
        const key = keys[i]!;
        const sentAt = this.outstanding.get(key)!;
        if (!row.found || row.lastUpdatedAtMs === null || row.lastUpdatedAtMs < sentAt) return;
        this.outstanding.delete(key);
        this.found.set(key, now);
        if (this.measuring) this.samples.push(now - sentAt);
      });
    } catch {
      // the store busy or restarting: the next poll asks again
    } finally {
      this.reading = false;
      if (this.outstanding.size > 0) this.poll();
    }
  }
}
