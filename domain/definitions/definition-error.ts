/** A problem in a definition file, located to the line and column of the offending key. */
export interface DefinitionError {
  file: string;
  line: number;
  column: number;
  /** Path inside the entry, e.g. `live::hakuna-host-stat-v1.schema.level.default_value`. */
  path: string;
  message: string;
}

/** `features/live.yaml:12:7 live::hakuna-host-stat-v1.schema.level.default_value: expected Long, got "high"` */
export function formatDefinitionError(e: DefinitionError): string {
  return `${e.file}:${e.line}:${e.column} ${e.path ? `${e.path}: ` : ''}${e.message}`;
}

export class DefinitionsInvalidError extends Error {
  constructor(readonly errors: DefinitionError[]) {
    super(
      `${errors.length} problem(s) in feature definitions:\n${errors.map(formatDefinitionError).join('\n')}`,
    );
    this.name = 'DefinitionsInvalidError';
  }
}
