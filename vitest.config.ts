import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Crash-loop and corruption tests spawn processes and touch real files; give them room on a 2-core box.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
