import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './tests/tooling/summary-reporter.ts'],
    setupFiles: ['./tests/tooling/no-desktop-session.ts'],
    include: ['{shared,agent,server,desktop}/src/**/*.test.ts', 'tests/**/*.test.ts'],
    // Real processes, sockets and X servers: give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
