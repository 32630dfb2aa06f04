import { defineConfig } from 'vitest/config';

/**
 * Three projects in one pool: `unit` needs nothing (no database, no build), so `npx vitest run
 * test/unit` takes seconds; `integration` and `e2e` share one server, template database and
 * PgBouncer that test/helpers/global-setup.ts starts once for both.
 *
 * All three keep the same maxWorkers (vitest runs projects with different ones one after the other,
 * never side by side). Four workers on two cores: an end-to-end file spends much of its time waiting
 * for the CLI processes it spawns (whose CPU is theirs, not the worker's) or for a timeout it set,
 * and the other files keep the cores busy meanwhile.
 */
const WORKERS = 4;

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: WORKERS,
    // Each file still runs by itself, and makes its own databases and servers; what the files share
    // is the modules they import, which a fresh graph per file would load again sixty times.
    isolate: false,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
