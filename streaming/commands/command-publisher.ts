import type { ValidCommand } from '../../domain/commands/feature-command.ts';
import type { FeatureDefinition } from '../../domain/definitions/feature-definition.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import { applyCommands } from './apply-command.ts';

/** Validated commands of one feature, in the order they were sent. */
export interface CommandBatch {
  definition: FeatureDefinition;
  commands: ValidCommand[];
}

/**
 * Where the push endpoint sends validated commands. `applied`: they are in the online store
 * when publish resolves (the embedded default, no Kafka). `published`: they are on the
 * command topic and the consumer applies them later (Kafka; implemented elsewhere).
 */
export interface CommandPublisher {
  readonly mode: 'applied' | 'published';
  /**
   * `producer` is the calling service (a Kafka publisher sends it as a header). Returns the
   * reasons of commands the store did not take though they were valid (Aggregation events too
   * late to count), when it applies them itself.
   */
  publish(batches: readonly CommandBatch[], producer: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Applies commands straight to the online store with applyCommands, batch by batch. */
export class DirectApplyPublisher implements CommandPublisher {
  readonly mode = 'applied' as const;

  constructor(private readonly store: OnlineStore) {}

  async publish(batches: readonly CommandBatch[]): Promise<string[]> {
    const refused: string[] = [];
    for (const b of batches) {
      for (const r of await applyCommands(this.store, b.definition, b.commands))
        refused.push(`${b.definition.name} command ${r.index}: ${r.reason}`);
    }
    return refused;
  }

  async close(): Promise<void> {}
}
