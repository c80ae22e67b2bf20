// Checks cron expressions in the five-field form that Temporal Schedules accept
// (minute hour day-of-month month day-of-week), plus the @hourly/@daily/... macros.

const macros = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const monthNames = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const dayNames = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  namesFrom?: number;
}

const specs: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: monthNames, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 7, names: dayNames, namesFrom: 0 },
];

function atom(text: string, spec: FieldSpec): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= spec.min && n <= spec.max ? n : undefined;
  }
  const i = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  return i >= 0 ? i + (spec.namesFrom ?? 0) : undefined;
}

function checkField(text: string, spec: FieldSpec): string | undefined {
  for (const item of text.split(',')) {
    const [range, step, extra] = item.split('/');
    if (extra !== undefined || range === undefined || range === '') return `bad ${spec.name} "${text}"`;
    if (step !== undefined && !(/^\d+$/.test(step) && Number(step) > 0))
      return `bad step in ${spec.name} "${text}"`;
    if (range === '*') continue;
    const [lo, hi, more] = range.split('-');
    if (more !== undefined) return `bad range in ${spec.name} "${text}"`;
    const a = atom(lo ?? '', spec);
    if (a === undefined) return `${spec.name} "${lo}" is outside ${spec.min}-${spec.max}`;
    if (hi !== undefined) {
      const b = atom(hi, spec);
      if (b === undefined) return `${spec.name} "${hi}" is outside ${spec.min}-${spec.max}`;
      if (b < a) return `range ${range} in ${spec.name} runs backwards`;
    }
  }
  return undefined;
}

/** Why a cron expression is invalid, or undefined when it is valid. */
export function cronProblem(expression: string): string | undefined {
  const text = expression.trim();
  if (macros.has(text.toLowerCase())) return undefined;
  const fields = text.split(/\s+/);
  if (fields.length !== 5) {
    return `a cron expression has 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  }
  for (let i = 0; i < 5; i++) {
    const why = checkField(fields[i]!, specs[i]!);
    if (why) return why;
  }
  return undefined;
}
