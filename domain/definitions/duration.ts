const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const whole = /^(?:\d+(?:ms|s|m|h|d|w))+$/;
const part = /(\d+)(ms|s|m|h|d|w)/g;

/** Parses durations such as `30s`, `1m`, `6h`, `30d` or `1h30m` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!whole.test(trimmed)) return undefined;
  let total = 0;
  for (const m of trimmed.matchAll(part)) total += Number(m[1]) * unitMs[m[2] as keyof typeof unitMs];
  return total;
}

/** Formats milliseconds back into the largest exact unit: 86400000 → `1d`. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms > 0 && ms % unitMs[unit] === 0) return `${ms / unitMs[unit]}${unit}`;
  }
  return `${ms}ms`;
}
