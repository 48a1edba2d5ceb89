import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fuzzUploads, seededRandom } from '../../scripts/fuzz-uploads.js';
import { makeUser } from '../support/factories.js';
import { useTestServices } from '../support/services.js';

// A short, repeatable fuzz run of the upload path; `npm run fuzz` runs as long as you like.

const CORPUS = path.resolve(process.env.PHOTOSYNC_CORPUS_DIR ?? '../shared/corpus');
const SEED = 20261125;
const ITERATIONS = 2000;

// The image path is the same on both databases; one store is enough.
describe('fuzzing the upload path [sqlite]', () => {
  const context = useTestServices('sqlite');

  it(`keeps the rules for ${ITERATIONS} mutated corpus images (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const user = await makeUser(context.services, { password: undefined });
    const summary = await fuzzUploads(context.services, user, {
      seed: SEED,
      iterations: ITERATIONS,
      corpusDir: CORPUS,
    });
    expect(summary.findings.map((f) => `${f.iteration} ${f.source} [${f.mutations.join('; ')}]: ${f.problem}`)).toEqual(
      [],
    );
    expect(summary.iterations).toBe(ITERATIONS);
    // Both sides of the rule are exercised: mutations that still decode, and ones that are refused.
    expect(summary.accepted).toBeGreaterThan(ITERATIONS / 50);
    expect(Object.values(summary.refused).reduce((a, b) => a + b, 0)).toBeGreaterThan(ITERATIONS / 50);
  });
});

it('repeats the same choices for the same seed', () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  const first = Array.from({ length: 5 }, a);
  expect(Array.from({ length: 5 }, b)).toEqual(first);
  expect(new Set(first).size).toBe(5);
  expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
});
