import { defineConfig } from 'vitest/config';

// Two projects: unit tests use only embedded stores; integration tests talk to the
// real servers that `npm run infra:up` starts (a missing one fails, never skips).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          globalSetup: ['test/build-dist.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/build-dist.ts', 'test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // the servers are shared: one file at a time keeps 2 cores from thrashing
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
