import net, { type AddressInfo } from 'node:net';
import {
  anyUser,
  DEMO_ADMIN,
  DEMO_PASSWORD,
  DEMO_PEOPLE,
  demoSignInWorks,
  seedDemoOrganisation,
} from '../../demo/seed.js';
import { publicUrlOf } from '../../config.js';
import { startServer } from '../../server.js';
import { timeZoneProblem } from '../../web/dates.js';
import type { Services } from '../../services.js';
import { SYNC_STATE_LABELS } from '../../sync/state.js';
import type { CommandHandler } from '../command.js';
import { openServices } from '../open-services.js';
import { recordServingAddress } from '../serving-address.js';
import { CliError } from '../output.js';

/**
 * Starts the server and returns once it listens; the process keeps running until SIGINT/SIGTERM.
 * Logs at the configured level to standard output.
 */
export const serve: CommandHandler = async ({ config, io }) => {
  // A port that is taken is told before the database is made or opened (and the demo made in it).
  if (config.port !== 0)
    await probeListen(config.host, config.port).catch((error: unknown) => listenProblem(error, config));
  const services: Services = await openServices(config, undefined, true);
  const zone = timeZoneProblem(io.env.TZ);
  if (zone) services.log.warn(zone);
  let seeded: boolean;
  let address: AddressInfo;
  try {
    seeded = config.seedDemo && (await seedDemoOrganisation(services));
    address = (await startServer(services)).server.address() as AddressInfo;
  } catch (error) {
    await services.close().catch(() => {});
    listenProblem(error, config);
  }
  // PORT=0 asked the system for a free port; absolute URLs must name the one it gave.
  if (config.port === 0) config.publicUrl = publicUrlOf(io.env, { tls: config.tls !== undefined, port: address.port });
  recordServingAddress(config.dataDir, config.publicUrl);
  const lines = [
    '',
    `photosync is running at ${config.publicUrl}`,
    `  database: ${services.database.location}`,
    `  photos:   ${services.blobs.kind === 'files' ? `${config.dataDir}/photos` : 'in the database'}`,
  ];
  // The demo's people and sign-in while its sign-in works (a first start that could not listen
  // has made them already); not once its password was changed. An empty directory says how to begin.
  const demo = seeded || (await demoSignInWorks(services));
  if (demo) {
    // What each one was made as holds only on the start that made them; later, their names, and
    // where to see how each stands now.
    const heading = seeded
      ? 'Created the demo organisation:'
      : 'The demo organisation (how each stands now: npx photosync status):';
    lines.push('', heading, ...DEMO_PEOPLE.map((p) => `  ${p.upn.padEnd(22)} ${seeded ? p.note : p.name}`));
    lines.push('', `Demo sign-in: ${DEMO_ADMIN} / ${DEMO_PASSWORD} (every demo user has this password)`);
  } else if (!(await anyUser(services))) {
    // Commands another shell can run as printed: in this folder (npx finds the command), on this
    // server's data. A DATABASE_URL may hold a password, so it is named, never printed.
    const sameData =
      services.database.dialect === 'postgres'
        ? ''
        : io.env.PHOTOSYNC_DATA_DIR
          ? `PHOTOSYNC_DATA_DIR=${shellWord(config.dataDir)} `
          : '';
    lines.push(
      '',
      'No users yet. Add an administrator, then sign in at the address above:',
      `  ${sameData}npx photosync users add you@example.com --name "Your Name" --admin`,
      `  ${sameData}npx photosync users password you@example.com`,
      ...(services.database.dialect === 'postgres'
        ? ['  (in this folder, with DATABASE_URL set as for this server)']
        : []),
    );
  }
  lines.push(`States: ${Object.values(SYNC_STATE_LABELS).join(', ')} — see \`photosync status\`.`, '');
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
};

/** A value as one word for a POSIX shell: as it is when safe, else in single quotes. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Listens on the address and stops again: what listening would say, before anything is opened. */
function probeListen(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Why the server could not listen, in words that say what to change; anything else as it was. */
function listenProblem(error: unknown, config: { host: string; port: number }): never {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    throw new CliError(`Port ${config.port} on ${config.host} is already in use; set PORT to a free port.`);
  }
  if (['EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EINVAL'].includes(code ?? '')) {
    throw new CliError(
      `Cannot listen on ${config.host}:${config.port}: ${(error as Error).message}. Check HOST and PORT.`,
    );
  }
  throw error;
}
