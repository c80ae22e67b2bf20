// The sample-data generator: `ferry start`, tests and benchmarks use it through this module.
export { cumulativeOf, hashSeed, Rng } from './random.ts';
export {
  type LiveRoomEvent,
  type LiveRoomSample,
  type MatchEvent,
  type SampleCommand,
  type SampleLiveRoom,
  sampleCommandFeatures,
  sampleEventTopics,
  sampleLiveRooms,
  sampleLoginEvents,
  sampleMatchCommands,
  sampleMatchEvents,
  type TimedCommand,
} from './sample-commands.ts';
export {
  generateSampleData,
  type LoadProgress,
  loadSampleSources,
  type SampleData,
  sampleCommands,
  sampleProfileAt,
  sampleTableRows,
  sampleUserProfileWrites,
} from './sample-data.ts';
export {
  type LoungeRow,
  type MatchRow,
  sampleLoungeRows,
  sampleLoungeTarget,
  sampleMatchCount,
  sampleMatchRows,
} from './sample-events.ts';
export {
  DAY,
  defaultSampleEndMs,
  HOUR,
  MINUTE,
  periodStartMs,
  resolveSampleOptions,
  type SampleConfig,
  type SampleDataOptions,
  sampleDefaults,
  sampleLogicalDateOf,
} from './sample-options.ts';
export {
  firstSampleUserId,
  type ProfileChange,
  SamplePopulation,
  type SampleUser,
  sampleCountries,
  sampleUser,
  sampleUserId,
  sampleUserRows,
} from './sample-users.ts';
