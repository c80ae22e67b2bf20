import { CommandError, type RawCommand } from '../domain/commands/feature-command.ts';
import { parseCommand } from '../domain/commands/parse-command.ts';
import { validateCommand } from '../domain/commands/validate-command.ts';
import { describeValue } from '../domain/definitions/field-types.ts';
import type { CommandBatch } from '../streaming/commands/command-publisher.ts';
import { ApiError, badRequest } from './api-error.ts';
import { keyId, parseJsonBody } from './lookup-request.ts';
import type { KeyId } from './row-cache.ts';
import { mayWrite, type ServedCatalog, type ServedFeature } from './served-features.ts';

/** A push checked as a whole: the commands by feature, and the keys they change (to invalidate). */
export interface PreparedPush {
  batches: CommandBatch[];
  count: number;
  touched: { feature: ServedFeature; ids: KeyId[] }[];
}

/** `keys.user_id: missing key field` → `keys.user_id`: CommandError messages start with the field. */
function fieldOf(message: string): string | undefined {
  return /^((?:feature_name|method|keys|values)(?:\.[^\s:]+)?):/.exec(message)?.[1];
}

function commandError(e: unknown, path: string): ApiError {
  if (!(e instanceof CommandError)) throw e;
  const f = fieldOf(e.message);
  return new ApiError(
    400,
    'invalid_command',
    e.message,
    f === undefined ? path || undefined : path === '' ? f : `${path}.${f}`,
  );
}

/**
 * Checks a push body, one command or a list of them in the Kafka command shape
 * `{feature_name, method, keys{...}, values{..., _last_updated_at_ms}}`, with the same
 * parser and validator as the Kafka consumer. All or nothing: any refused command refuses
 * the push (400 naming the field, 403 when the service may not write a feature, 404 for an
 * unknown feature only to services that may read every feature).
 */
export function preparePush(
  text: string,
  service: string,
  catalog: ServedCatalog,
  maxCommands: number,
): PreparedPush {
  const body = parseJsonBody(text);
  const list = Array.isArray(body) ? body : [body];
  if (list.length === 0) throw badRequest('expected a command or a non-empty list of commands');
  if (list.length > maxCommands) {
    throw new ApiError(
      400,
      'too_many_commands',
      `${list.length} commands in one request; at most ${maxCommands}`,
    );
  }
  const pathOf = (i: number) => (Array.isArray(body) ? `[${i}]` : '');
  const parsed: { raw: RawCommand; feature: ServedFeature }[] = [];
  list.forEach((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw badRequest(`expected a command object, got ${describeValue(item)}`, pathOf(i) || undefined);
    }
    let raw: RawCommand;
    try {
      raw = parseCommand(item);
    } catch (e) {
      throw commandError(e, pathOf(i));
    }
    const feature = catalog.resolve(raw.featureName);
    const field = pathOf(i) === '' ? 'feature_name' : `${pathOf(i)}.feature_name`;
    if (feature === undefined && catalog.readsEverything(service)) {
      throw new ApiError(404, 'unknown_feature', `unknown feature "${raw.featureName}"`, field);
    }
    if (feature === undefined || !mayWrite(feature, service)) {
      throw new ApiError(
        403,
        'forbidden',
        `service "${service}" may not write feature "${raw.featureName}"`,
        field,
      );
    }
    parsed.push({ raw, feature });
  });
  const byFeature = new Map<string, { batch: CommandBatch; feature: ServedFeature; ids: Set<KeyId> }>();
  parsed.forEach(({ raw, feature }, i) => {
    let cmd: ReturnType<typeof validateCommand>;
    try {
      cmd = validateCommand(raw, feature.def, service);
    } catch (e) {
      throw commandError(e, pathOf(i));
    }
    let g = byFeature.get(feature.name);
    if (g === undefined) {
      g = { batch: { definition: feature.def, commands: [] }, feature, ids: new Set() };
      byFeature.set(feature.name, g);
    }
    g.batch.commands.push(cmd);
    g.ids.add(keyId(feature, cmd.keys));
  });
  const groups = [...byFeature.values()];
  return {
    batches: groups.map((g) => g.batch),
    count: parsed.length,
    touched: groups.map((g) => ({ feature: g.feature, ids: [...g.ids] })),
  };
}
