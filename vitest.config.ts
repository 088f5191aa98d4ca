import { defineConfig } from 'vitest/config';

// Unit tests live in packages/*/test; multi-process scenarios in test/. Everything runs against
// the built dist/ of each package (scripts/test builds first), so spawned processes and tests
// exercise the same code.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
