/** A refused request: its status, a stable code, a message and, for bad input, the field at fault. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The store did not answer in time or failed; the request gets 503 unless stale values may be served. */
export class StoreUnavailableError extends Error {
  constructor(
    readonly feature: string,
    readonly kind: 'timeout' | 'error',
    cause?: unknown,
  ) {
    super(
      kind === 'timeout'
        ? `the online store did not answer in time for ${feature}`
        : `the online store failed for ${feature}: ${(cause as Error | undefined)?.message ?? String(cause)}`,
    );
    this.name = 'StoreUnavailableError';
  }
}

/** `{"error":{"code","message","field"?}}`: the body of every error response. */
export function errorBody(code: string, message: string, field?: string): string {
  return JSON.stringify({ error: field === undefined ? { code, message } : { code, message, field } });
}

export const badRequest = (message: string, field?: string) =>
  new ApiError(400, 'invalid_request', message, field);
