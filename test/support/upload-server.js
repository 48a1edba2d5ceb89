// A server process for the memory tests: it serves the real app on the store named by the
// environment and, for each line `<upn> <file>` on standard input, sets that file as the user's
// mail photo in the same process (the upload path the Graph API and the portal build on),
// answering with one JSON line. Its peak memory is then read from /proc by the test.
// Plain JavaScript over the compiled dist/ (test/global-setup.ts builds it when src/ changed), so
// the process starts as photosync does, without compiling the sources first.
import fs from 'node:fs/promises';
import readline from 'node:readline';
import { pino } from 'pino';
import { loadConfig } from '../../dist/config.js';
import { findUserByUpn } from '../../dist/directory/users.js';
import { isAppError } from '../../dist/errors.js';
import { buildApp } from '../../dist/app.js';
import { setMailPhoto } from '../../dist/mail/photo-store.js';
import { createServices } from '../../dist/services.js';

const services = await createServices(loadConfig(), { log: pino({ level: 'silent' }) });
const app = await buildApp(services);
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);

const deps = { db: services.database.db, dialect: services.database.dialect, blobs: services.blobs };
for await (const line of readline.createInterface({ input: process.stdin })) {
  const [upn = '', file = ''] = line.split(' ');
  try {
    const user = await findUserByUpn(services.database.db, upn);
    if (!user) throw new Error(`no user ${upn}`);
    const photo = await setMailPhoto(deps, user, await fs.readFile(file));
    process.stdout.write(`${JSON.stringify({ ok: true, side: photo.side })}\n`);
  } catch (error) {
    const status = isAppError(error) ? error.status : 500;
    process.stdout.write(
      `${JSON.stringify({ ok: false, status, message: error instanceof Error ? error.message : String(error) })}\n`,
    );
  }
}
await app.close();
await services.close();
