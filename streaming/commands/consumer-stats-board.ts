import type { ProcessorStats } from './command-processor.ts';

/** What the board sums per consumer topic: the counters of ProcessorStats that only grow. */
interface Totals {
  received: number;
  applied: number;
  rejected: number;
  unreadEvents: number;
  /** `feature\u0000rule\u0000outcome` → events. */
  events: Map<string, number>;
}

const empty = (): Totals => ({ received: 0, applied: 0, rejected: 0, unreadEvents: 0, events: new Map() });

function add(into: Totals, s: ProcessorStats): void {
  into.received += s.received;
  into.applied += s.applied;
  into.rejected += s.rejected;
  into.unreadEvents += s.unreadEvents;
  for (const [feature, c] of Object.entries(s.events)) {
    const bump = (rule: string, outcome: string, n: number) => {
      const k = `${feature}\u0000${rule}\u0000${outcome}`;
      into.events.set(k, (into.events.get(k) ?? 0) + n);
    };
    if (c.skipped > 0) bump('', 'skipped', c.skipped);
    for (const [rule, n] of Object.entries(c.mapped)) bump(rule, 'mapped', n);
    for (const [rule, n] of Object.entries(c.failed)) bump(rule, 'failed', n);
  }
}

const labelValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The counters of every command and event consumer a worker runs, for its /metrics: each running
 * consumer reports its stats as they grow, and a finished one's are kept, so the counters only
 * grow for the life of the process (a consumer restarted by Temporal starts its own stats at 0).
 */
export class ConsumerStatsBoard {
  private readonly done = new Map<string, Totals>();
  private readonly live = new Map<number, { topic: string; stats: ProcessorStats }>();
  private nextId = 0;

  /** A consumer of `topic` starting: report its stats with `update`, and `finish` when it stops. */
  track(topic: string): { update(stats: ProcessorStats): void; finish(): void } {
    const id = this.nextId++;
    return {
      update: (stats) => this.live.set(id, { topic, stats }),
      finish: () => {
        const l = this.live.get(id);
        if (l === undefined) return;
        this.live.delete(id);
        const t = this.done.get(topic) ?? empty();
        add(t, l.stats);
        this.done.set(topic, t);
      },
    };
  }

  /** Prometheus text of the counters, by topic (and by feature and rule for events). */
  render(): string {
    const byTopic = new Map<string, Totals>();
    for (const [topic, t] of this.done) {
      const c = empty();
      c.received = t.received;
      c.applied = t.applied;
      c.rejected = t.rejected;
      c.unreadEvents = t.unreadEvents;
      c.events = new Map(t.events);
      byTopic.set(topic, c);
    }
    for (const { topic, stats } of this.live.values()) {
      const t = byTopic.get(topic) ?? empty();
      add(t, stats);
      byTopic.set(topic, t);
    }
    const lines: string[] = [];
    const family = (name: string, help: string, value: (t: Totals) => number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [topic, t] of [...byTopic].sort())
        lines.push(`${name}{topic="${labelValue(topic)}"} ${value(t)}`);
    };
    family(
      'ferry_worker_messages_received_total',
      'Kafka messages (commands or events) the consumers received.',
      (t) => t.received,
    );
    family(
      'ferry_worker_commands_applied_total',
      'Commands applied to the online store (events: the commands their rules made).',
      (t) => t.applied,
    );
    family('ferry_worker_dead_letters_total', 'Commands and events sent to dead letters.', (t) => t.rejected);
    family(
      'ferry_worker_events_unread_total',
      'Events of a topic no applied feature reads (skipped).',
      (t) => t.unreadEvents,
    );
    lines.push(
      '# HELP ferry_worker_events_total Domain events by feature and rule: mapped to a command, failed (a dead letter), or skipped (no rule matched; rule "").',
      '# TYPE ferry_worker_events_total counter',
    );
    for (const [topic, t] of [...byTopic].sort())
      for (const [k, n] of [...t.events].sort()) {
        const [feature, rule, outcome] = k.split('\u0000') as [string, string, string];
        lines.push(
          `ferry_worker_events_total{topic="${labelValue(topic)}",feature="${labelValue(feature)}",rule="${labelValue(rule)}",outcome="${outcome}"} ${n}`,
        );
      }
    return `${lines.join('\n')}\n`;
  }
}
