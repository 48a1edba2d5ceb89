// A process that fires sync triggers all at once: on the store named by the environment it opens
// the services, prints "ready", waits for a line on standard input, then starts `count` syncs
// for every user given, all together, and prints the outcomes and its own render count as JSON.
// Plain JavaScript over the compiled dist/ (test/global-setup.ts builds it when src/ changed), so
// each process starts as photosync does, without compiling the sources first.
import readline from 'node:readline';
import { pino } from 'pino';
import { loadConfig } from '../../dist/config.js';
import { findUserByUpn } from '../../dist/directory/users.js';
import { createServices } from '../../dist/services.js';

const [count = '1', ...upns] = process.argv.slice(2);
const services = await createServices(loadConfig(), { log: pino({ level: 'silent' }) });
const users = await Promise.all(upns.map((upn) => findUserByUpn(services.database.db, upn)));
process.stdout.write('ready\n');
const input = readline.createInterface({ input: process.stdin });
await new Promise((resolve) => input.once('line', resolve));
input.close();

const results = await Promise.all(
  users.flatMap((user) => {
    if (!user) throw new Error('unknown user');
    return Array.from({ length: Number(count) }, () => services.sync.sync(user, 'sharepoint_tile'));
  }),
);
/** @type {Record<string, number>} */
const outcomes = {};
for (const result of results) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
const renders = (await services.metrics.renders.get()).values.reduce((sum, v) => sum + v.value, 0);
await services.close();
process.stdout.write(
  `${JSON.stringify({ outcomes, renders, errors: results.flatMap((r) => (r.error ? [r.error] : [])) })}\n`,
);
