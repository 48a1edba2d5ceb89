import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { buildLargeOrganisation } from '../src/demo/large-organisation.js';
import { createServices } from '../src/services.js';

// Builds a large organisation on the configured store (DATABASE_URL for PostgreSQL, otherwise
// SQLite under PHOTOSYNC_DATA_DIR):  npx tsx scripts/build-org.ts --users 100000

const { values } = parseArgs({
  options: { users: { type: 'string', default: '100000' }, photos: { type: 'string', default: '200' } },
});
const users = Number(values.users);
const photos = Number(values.photos);
if (!Number.isSafeInteger(users) || users <= 0 || !Number.isSafeInteger(photos) || photos <= 0) {
  process.stderr.write('build-org: --users and --photos must be positive whole numbers\n');
  process.exit(2);
}
const config = loadConfig({ ...process.env, PHOTOSYNC_DEMO: 'false' });
const services = await createServices({ ...config, logLevel: 'warn' });
try {
  const started = performance.now();
  const report = await buildLargeOrganisation(services, {
    users,
    distinctPhotos: photos,
    progress: (message) => process.stderr.write(`build-org: ${message}\n`),
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ ...report, seconds, location: services.database.location })}\n`);
} catch (error) {
  process.stderr.write(`build-org: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await services.close();
}
