// Failure helpers for workflow code (pure).

/** The innermost message of a failure chain (an ActivityFailure's cause holds the activity's own error). */
export function rootMessage(e: unknown): string {
  let cur: unknown = e;
  let message = String(e);
  for (let depth = 0; cur && depth < 10; depth++) {
    const m = (cur as { message?: unknown }).message;
    if (typeof m === 'string' && m !== '') message = m;
    cur = (cur as { cause?: unknown }).cause;
  }
  return message;
}

/** The innermost ApplicationFailure type of a failure chain, if any. */
export function rootType(e: unknown): string | undefined {
  let cur: unknown = e;
  let type: string | undefined;
  for (let depth = 0; cur && depth < 10; depth++) {
    const t = (cur as { type?: unknown }).type;
    if (typeof t === 'string' && t !== '') type = t;
    cur = (cur as { cause?: unknown }).cause;
  }
  return type;
}

export function isAlreadyStarted(e: unknown): boolean {
  return e instanceof Error && e.name === 'WorkflowExecutionAlreadyStartedError';
}
