import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.js';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // At least two test files at once, even on two cores (Vitest's default there is one): most tests
    // wait on other processes (the servers and command-line runs they start, Chromium, PostgreSQL),
    // so a second file fills that time. Every file has its own database, data folder and ports.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Longest files first (test/sequencer.ts), also on a fresh clone without Vitest's cache.
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        // The unit tests beside the sources: no database, server process or global setup of their
        // own, no mocks and no module state they leave for another file. They share a worker
        // process and its loaded modules (about 0.5 s less per file than a fresh process each).
        extends: true,
        test: { name: 'src', include: ['src/**/*.test.{ts,tsx}'], isolate: false },
      },
      {
        // Each file in a process of its own: some mock modules (vi.mock), many start servers.
        extends: true,
        test: { name: 'test', include: ['test/**/*.test.{ts,tsx}'], globalSetup: ['test/global-setup.ts'] },
      },
    ],
  },
});
