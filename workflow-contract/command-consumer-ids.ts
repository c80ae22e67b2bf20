/** Names shared by the consumer workflow, its activity and the CLI (no Temporal imports here). */

/** The Kafka consumer group of the command consumer unless one is given. */
export const defaultCommandGroup = 'ferry-commands';

/** The workflow id of the consumer of a topic and group: one consumer workflow per pair. */
export function commandConsumerWorkflowId(topic: string, groupId: string): string {
  return `commands/${topic}/${groupId}`;
}

/** The consumer group of a topic of domain events (from_events): one per topic, so each event is read once. */
export function eventGroupOf(topic: string): string {
  return `ferry-events-${topic}`;
}
