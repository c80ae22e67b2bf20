import { runsFromSources } from '../config/module-files.ts';

/**
 * Node flags for a benchmark's child process: none when the benchmark runs compiled (npm run
 * bench:*, as users run Ferry); tsx's loader when it runs from the sources (npx tsx bench/...).
 */
export function tsxIfSources(importMetaUrl: string): string[] {
  return runsFromSources(importMetaUrl) ? ['--import', 'tsx'] : [];
}
