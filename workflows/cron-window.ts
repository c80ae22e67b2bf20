// The incremental window of a scheduled run, from the schedule's cron expression. Pure and
// deterministic (no clock), so workflow code can use it. Cron is the five-field UTC form that
// domain/definitions/cron.ts accepts and Temporal Schedules run, plus the @hourly/@daily/... macros.

const minuteMs = 60_000;

const macros: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const monthNames = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const dayNames = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface ParsedCron {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  anyDay: boolean;
  anyWeekday: boolean;
}

function field(text: string, min: number, max: number, names?: string[], namesFrom = 0): Set<number> {
  const out = new Set<number>();
  const atom = (a: string): number => {
    if (/^\d+$/.test(a)) return Number(a);
    const i = names?.indexOf(a.toUpperCase()) ?? -1;
    if (i < 0) throw new Error(`bad cron value "${a}"`);
    return i + namesFrom;
  };
  for (const item of text.split(',')) {
    const [range = '*', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo = min;
    let hi = max;
    if (range !== '*') {
      const [a = '', b] = range.split('-');
      lo = atom(a);
      hi = b === undefined ? (stepText === undefined ? lo : max) : atom(b);
    }
    if (!(step > 0) || lo < min || hi > max) throw new Error(`bad cron field "${text}"`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseCron(expression: string): ParsedCron {
  const text = macros[expression.trim().toLowerCase()] ?? expression.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron needs five fields, got "${expression}"`);
  const [m = '', h = '', dom = '', mon = '', dow = ''] = parts;
  const weekdays = field(dow, 0, 7, dayNames);
  if (weekdays.has(7)) weekdays.add(0);
  return {
    minutes: field(m, 0, 59),
    hours: field(h, 0, 23),
    days: field(dom, 1, 31),
    months: field(mon, 1, 12, monthNames, 1),
    weekdays,
    anyDay: dom === '*' || dom === '?',
    anyWeekday: dow === '*' || dow === '?',
  };
}

function dayMatches(c: ParsedCron, d: Date): boolean {
  const dom = c.days.has(d.getUTCDate());
  const dow = c.weekdays.has(d.getUTCDay());
  if (c.anyDay && c.anyWeekday) return true;
  if (c.anyDay) return dow;
  if (c.anyWeekday) return dom;
  return dom || dow; // cron's rule when both are restricted
}

/** The latest fire time of `cron` strictly before `beforeMs` (UTC, whole minutes), or undefined within 5 years. */
export function previousFireTime(cron: string, beforeMs: number): number | undefined {
  const c = parseCron(cron);
  let t = Math.floor((beforeMs - 1) / minuteMs) * minuteMs;
  const stop = beforeMs - 5 * 366 * 86_400_000;
  while (t > stop) {
    const d = new Date(t);
    if (!c.months.has(d.getUTCMonth() + 1)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - minuteMs;
    } else if (!dayMatches(c, d)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - minuteMs;
    } else if (!c.hours.has(d.getUTCHours())) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()) - minuteMs;
    } else if (!c.minutes.has(d.getUTCMinutes())) {
      t -= minuteMs;
    } else {
      return t;
    }
  }
  return undefined;
}

export interface RunWindow {
  logicalDate: string;
  windowStartMs: number;
  windowEndMs: number;
}

/**
 * The window of a scheduled run at `nominalMs` (the schedule's time for it; a triggered run's
 * time): [the previous fire time, nominal). The logical date is the window start's UTC day, as in
 * Airflow. Without a cron, the UTC day before the nominal time.
 */
export function scheduledWindow(nominalMs: number, cron?: string): RunWindow {
  const prev = cron ? previousFireTime(cron, nominalMs) : undefined;
  const start = prev ?? nominalMs - 86_400_000;
  return {
    logicalDate: new Date(start).toISOString().slice(0, 10),
    windowStartMs: start,
    windowEndMs: nominalMs,
  };
}
