// A second process for the multi-process tests: on the store named by the environment, it
// alternately sets a new mail photo and syncs, for each user given, and prints what happened.
// Plain JavaScript over the compiled dist/ (test/global-setup.ts builds it when src/ changed), so
// each process starts as photosync does, without compiling the sources first.
import { pino } from 'pino';
import sharp from 'sharp';
import { loadConfig } from '../../dist/config.js';
import { findUserByUpn } from '../../dist/directory/users.js';
import { setMailPhoto } from '../../dist/mail/photo-store.js';
import { createServices } from '../../dist/services.js';

const [rounds = '5', ...upns] = process.argv.slice(2);
const services = await createServices(loadConfig(), { log: pino({ level: 'silent' }) });
/** @type {Record<string, number>} */
const outcomes = {};
/** @type {string[]} */
const errors = [];
const deps = { db: services.database.db, dialect: services.database.dialect, blobs: services.blobs };

await Promise.all(
  upns.map(async (upn, index) => {
    const user = await findUserByUpn(services.database.db, upn);
    if (!user) throw new Error(`no user ${upn}`);
    for (let round = 0; round < Number(rounds); round++) {
      const shade = (process.pid * 7 + index * 31 + round * 53) % 256;
      const photo = await sharp({
        create: { width: 64, height: 64, channels: 3, background: { r: shade, g: 90, b: 160 } },
      })
        .jpeg()
        .toBuffer();
      try {
        await setMailPhoto(deps, user, photo);
      } catch (error) {
        errors.push(`set: ${error instanceof Error ? error.message : String(error)}`);
      }
      const result = await services.sync.sync(user, 'sharepoint_tile');
      outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
      if (result.error) errors.push(`sync: ${result.error}`);
    }
  }),
);
await services.close();
process.stdout.write(JSON.stringify({ outcomes, errors }));
