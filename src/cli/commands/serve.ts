import type { AddressInfo } from 'node:net';
import { DEMO_ADMIN, DEMO_PASSWORD, DEMO_PEOPLE, demoIsPresent, seedDemoOrganisation } from '../../demo/seed.js';
import { publicUrlOf } from '../../config.js';
import { startServer } from '../../server.js';
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
  const services: Services = await openServices(config);
  let seeded: boolean;
  let address: AddressInfo;
  try {
    seeded = config.seedDemo && (await seedDemoOrganisation(services));
    address = (await startServer(services)).server.address() as AddressInfo;
  } catch (error) {
    await services.close().catch(() => {});
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
  // PORT=0 asked the system for a free port; absolute URLs must name the one it gave.
  if (config.port === 0) config.publicUrl = publicUrlOf(io.env, { tls: config.tls !== undefined, port: address.port });
  recordServingAddress(config.dataDir, config.publicUrl);
  const lines = [
    '',
    `photosync is running at ${config.publicUrl}`,
    `  database: ${services.database.location}`,
    `  photos:   ${services.blobs.kind === 'files' ? `${config.dataDir}/photos` : 'in the database'}`,
  ];
  if (seeded) {
    lines.push('', 'Created the demo organisation:', ...DEMO_PEOPLE.map((p) => `  ${p.upn.padEnd(22)} ${p.note}`));
  }
  if (seeded || (await demoIsPresent(services))) {
    lines.push('', `Demo sign-in: ${DEMO_ADMIN} / ${DEMO_PASSWORD} (every demo user has this password)`);
  }
  lines.push(`States: ${Object.values(SYNC_STATE_LABELS).join(', ')} — see \`photosync status\`.`, '');
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
};
