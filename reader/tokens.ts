import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';

/** One caller: the SHA-256 (hex) of its bearer token and the service name access lists use. */
export interface TokenEntry {
  service: string;
  sha256: string;
}

const tokensYaml = z.strictObject({
  tokens: z.array(
    z.strictObject({
      service: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a service name (letters, digits, . _ -)'),
      sha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, '64 hex digits: the SHA-256 of the token')
        .transform((s) => s.toLowerCase()),
      description: z.string().optional(),
    }),
  ),
});

export class TokensFileError extends Error {
  override name = 'TokensFileError';
}

/** Parses `tokens: [{service, sha256, description?}]`; throws naming the entry at fault. */
export function parseTokens(text: string, file: string): TokenEntry[] {
  let data: unknown;
  try {
    data = parse(text);
  } catch (e) {
    throw new TokensFileError(`${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = tokensYaml.safeParse(data ?? { tokens: [] });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TokensFileError(`${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  const seen = new Set<string>();
  for (const t of parsed.data.tokens) {
    if (seen.has(t.sha256)) throw new TokensFileError(`${file}: the hash ${t.sha256} appears twice`);
    seen.add(t.sha256);
  }
  return parsed.data.tokens.map((t) => ({ service: t.service, sha256: t.sha256 }));
}

export async function loadTokensFile(file: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new TokensFileError(
      `cannot read the tokens file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
        'set FERRY_TOKENS_FILE or create it: tokens: [{service: <name>, sha256: <hex of the token>}]',
    );
  }
  return parseTokens(text, file);
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Why a request is not authenticated (401), or the caller's service. */
export type Authentication = { service: string } | { problem: string };

const bearer = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const knownTokensCacheLimit = 1024;

/** Maps `Authorization: Bearer <token>` to a service through the configured token hashes. */
export class TokenTable {
  private readonly byHash: Map<string, string>;
  /** Authorization headers already verified, so the hot path hashes each token once. Unknown ones are not kept. */
  private readonly known = new Map<string, string>();

  constructor(entries: readonly TokenEntry[]) {
    this.byHash = new Map(entries.map((e) => [e.sha256.toLowerCase(), e.service]));
  }

  authenticate(authorization: string): Authentication {
    const cached = this.known.get(authorization);
    if (cached !== undefined) return { service: cached };
    if (authorization === '') return { problem: 'missing bearer token: send Authorization: Bearer <token>' };
    const m = bearer.exec(authorization);
    if (!m) return { problem: 'malformed Authorization header: expected "Bearer <token>"' };
    const service = this.byHash.get(sha256Hex(m[1]!));
    if (service === undefined) return { problem: 'unknown token' };
    if (this.known.size >= knownTokensCacheLimit) this.known.clear();
    this.known.set(authorization, service);
    return { service };
  }
}
