// npm run fuzz -- [--iterations N] [--seed S] [--corpus DIR] [--out DIR]
// A longer run of the upload fuzzer than the test suite's, on a throw-away SQLite store. Inputs
// that break the rules are written to --out (default ./fuzz-findings) with what was done to them.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createUser } from '../src/directory/users.js';
import { createServices } from '../src/services.js';
import { fuzzUploads } from './fuzz-uploads.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '20000' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    corpus: { type: 'string', default: '../shared/corpus' },
    out: { type: 'string', default: 'fuzz-findings' },
  },
  strict: true,
});
const iterations = Number(values.iterations);
const seed = Number(values.seed);
if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('fuzz: --iterations must be a positive integer and --seed an integer.\n');
  process.exit(2);
}

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-fuzz-'));
const services = await createServices(loadConfig({ PHOTOSYNC_DATA_DIR: dataDir, PHOTOSYNC_DEMO: 'false' }), {
  log: pino({ level: 'silent' }),
});
const user = await createUser(services.database.db, { upn: 'fuzz@contoso.com', displayName: 'Fuzz' });
process.stdout.write(`Fuzzing the upload path: ${iterations} inputs, seed ${seed}.\n`);
const started = Date.now();
const summary = await fuzzUploads(services, user, {
  seed,
  iterations,
  corpusDir: path.resolve(values.corpus),
  onFinding: async (finding) => {
    await fs.mkdir(values.out, { recursive: true });
    const base = path.join(values.out, `seed${seed}-${finding.iteration}`);
    await fs.writeFile(`${base}.bin`, finding.input);
    await fs.writeFile(`${base}.txt`, `${finding.source}\n${finding.mutations.join('\n')}\n\n${finding.problem}\n`);
    process.stdout.write(`finding at ${finding.iteration}: ${finding.problem.split('\n')[0]} (${base}.bin)\n`);
  },
});
await services.close();
await fs.rm(dataDir, { recursive: true, force: true });
const seconds = ((Date.now() - started) / 1000).toFixed(0);
process.stdout.write(
  `${summary.iterations} inputs in ${seconds} s: ${summary.accepted} accepted and normalized, refused ${JSON.stringify(summary.refused)}, ${summary.findings.length} findings.\n`,
);
process.exit(summary.findings.length === 0 ? 0 : 1);
