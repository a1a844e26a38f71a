import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/e2e/**'],
          testTimeout: 10_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          // Real parts: a 3-node ZooKeeper ensemble and PostgreSQL (test/integration), and real Apache Superset
          // replicas on top (test/e2e). They are shared, and tests kill, pause and stop them: files run one at
          // a time, after the unit tests, so a fault injected by one test never lands in another and CPU
          // contention from the unit tests never skews a timing.
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          fileParallelism: false,
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 90_000,
          hookTimeout: 600_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
