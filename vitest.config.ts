import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // sshd-backed suites are I/O bound; two workers match the two cores CI has.
    maxWorkers: 2,
  },
});
