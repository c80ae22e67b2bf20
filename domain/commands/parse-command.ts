import { describeValue } from '../definitions/field-types.ts';
import { CommandError, type CommandMethod, type RawCommand } from './feature-command.ts';

const methods = new Set<CommandMethod>(['UPDATE', 'DELETE', 'APPEND']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads an envelope key in the case given or the upper case that ksqlDB emits for unquoted names. */
function envelopeField(obj: Record<string, unknown>, name: string): unknown {
  return name in obj ? obj[name] : obj[name.toUpperCase()];
}

/**
 * ksqlDB wraps a single unaliased column (`SELECT STRUCT(...)`) as `{"KSQL_COL_0": {...}}`
 * unless the stream says WRAP_SINGLE_VALUE=false; accept both.
 */
function unwrapSingleColumn(obj: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(obj);
  if (keys.length !== 1) return obj;
  const inner = obj[keys[0]!];
  return isRecord(inner) && envelopeField(inner, 'feature_name') !== undefined ? inner : obj;
}

/**
 * Parses the JSON envelope `{feature_name, method, keys{...}, values{..., _last_updated_at_ms}}`
 * (envelope names also in upper case). Throws CommandError naming what is wrong.
 */
export function parseCommand(input: unknown): RawCommand {
  let obj = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new CommandError(`not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isRecord(obj)) throw new CommandError(`expected a JSON object, got ${describeValue(obj)}`);
  const envelope = unwrapSingleColumn(obj);
  const featureName = envelopeField(envelope, 'feature_name');
  if (typeof featureName !== 'string' || featureName === '') {
    throw new CommandError(`feature_name: expected text, got ${describeValue(featureName)}`);
  }
  const method = envelopeField(envelope, 'method');
  if (typeof method !== 'string' || !methods.has(method.toUpperCase() as CommandMethod)) {
    throw new CommandError(`method: expected UPDATE, DELETE or APPEND, got ${describeValue(method)}`);
  }
  const keys = envelopeField(envelope, 'keys');
  if (!isRecord(keys))
    throw new CommandError(`keys: expected a map of key fields, got ${describeValue(keys)}`);
  const values = envelopeField(envelope, 'values') ?? {};
  if (!isRecord(values))
    throw new CommandError(`values: expected a map of fields, got ${describeValue(values)}`);
  return { featureName, method: method.toUpperCase() as CommandMethod, keys, values };
}
