import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // At least two test files at once, even on two cores (Vitest's default there is one): most tests
    // wait on other processes (the servers and command-line runs they start, Chromium, PostgreSQL),
    // so a second file fills that time. Every file has its own database, data folder and ports.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ['test/global-setup.ts'],
    // Longest files first (test/sequencer.ts), also on a fresh clone without Vitest's cache.
    sequence: { sequencer: LongestFirst },
  },
});
