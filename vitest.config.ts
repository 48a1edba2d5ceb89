import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two test files at once even on two cores: most tests wait on other processes (the servers and
    // command-line runs they start, Chromium, PostgreSQL), so a second file fills that time. Every
    // file has its own database, data folder and ports.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
  },
});
