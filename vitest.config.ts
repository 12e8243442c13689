import { defineConfig } from 'vitest/config';
import { sessionCostMs } from './test/support/budget.ts';

// Measured here, once, before the workers start: they inherit it in
// FERRY_TEST_SESSION_MS (see test/support/budget.ts).
const login = sessionCostMs();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A test's own work, plus logins: the busiest tests run a few ferry commands
    // that may open up to 16 SSH sessions each.
    testTimeout: 60_000 + 48 * login,
    hookTimeout: 60_000 + 8 * login,
    // sshd-backed suites are I/O bound; two workers match the two cores CI has.
    maxWorkers: 2,
  },
});
