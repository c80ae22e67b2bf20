import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Temporal's runtime with its log at warnings (the SDK logs every worker state change at INFO),
 * installed once per process: the integration files share one fork, and the runtime is a singleton.
 */
export function installQuietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by an earlier file of this process
  }
}
