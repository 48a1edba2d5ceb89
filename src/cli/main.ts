import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../config.js';
import { DEMO_ADMIN, DEMO_PASSWORD, DEMO_PEOPLE, demoIsPresent, seedDemoOrganisation } from '../demo/seed.js';
import { startServer } from '../http/server.js';
import { createServices, type Services } from '../services.js';
import { SYNC_STATE_LABELS } from '../sync/status.js';
import {
  removeMailPhotoCommand,
  setDirectoryPhotoCommand,
  setMailPhotoCommand,
  setSitePhotoCommand,
} from './commands/photos.js';
import { statusCommand } from './commands/status.js';
import { addAppCommand, createUserTokenCommand, listAppsCommand, removeAppCommand } from './commands/apps.js';
import { addUser, importUsers, requireUser } from './commands/users.js';
import { CliError, explain } from './output.js';

const USAGE = `photosync — profile pictures: one mail photo, site renditions synced on the user's action

Usage:
  photosync serve                                   start the server (see README for settings)
  photosync users add <upn> --name <display name> [--password <password>] [--no-mailbox] [--admin]
  photosync users import <file.csv>                 rows: upn,displayName,password,mailbox,admin
  photosync photo set <upn> <image>                 set the mail photo (JPEG, PNG, GIF, WebP; 4 MB)
  photosync photo remove <upn>                      remove the mail photo
  photosync directory-photo set <upn> <image>       set the directory photo (never used by the sites)
  photosync site-photo set <upn> <image>            upload a picture directly in the sites
  photosync sync <upn>                              run the sync for one user (trigger: admin)
  photosync status [--json]                         who is in step, and why not
  photosync token create <upn> [--scopes <scopes>]  a bearer token for the user (last line of output);
                                                    default scopes User.Read ProfilePhoto.Read.All
  photosync apps add <name> --scopes <scopes>       register an app (client id + secret) for the token endpoint
  photosync apps list                               the registered apps
  photosync apps remove <client id>                 remove an app; its tokens stop working
  photosync m365 check                              connect mode: what works against the tenant, and the fix
  photosync m365 scan [--json]                      every tenant user's state (resumes an interrupted scan)
  photosync m365 sync <upn> | --all-out-of-step [--dry-run]
                                                    push Exchange photos into the tenant's SharePoint
Scopes: User.Read, ProfilePhoto.Read.All, ProfilePhoto.ReadWrite.All (space- or comma-separated).
`;

/** Each command and how many words it takes after its name. */
const COMMANDS = new Map([
  ['serve', 0],
  ['users add', 1],
  ['users import', 1],
  ['photo set', 2],
  ['photo remove', 1],
  ['directory-photo set', 2],
  ['site-photo set', 2],
  ['sync', 1],
  ['status', 0],
  ['token create', 1],
  ['apps add', 1],
  ['apps list', 0],
  ['apps remove', 1],
  ['m365 check', 0],
  ['m365 scan', 0],
  ['m365 sync', 1],
]);

const OPTIONS = {
  name: { type: 'string' },
  password: { type: 'string' },
  'no-mailbox': { type: 'boolean', default: false },
  admin: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  scopes: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
  'all-out-of-step': { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
} as const;

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const key = `${command} ${['serve', 'sync', 'status'].includes(command) ? '' : (rest[0] ?? '')}`.trim();
  // A mistyped command is told as such, before the settings or the database can get in the way.
  const arity = COMMANDS.get(key);
  if (arity === undefined) throw new CliError(`Unknown command "${positionals.join(' ')}".\n\n${USAGE}`, 2);
  const extra = positionals.slice(key.split(' ').length + arity);
  if (extra.length > 0) throw new CliError(`"${key}" does not take "${extra.join(' ')}".\n\n${USAGE}`, 2);
  const config = loadConfig();
  if (key === 'serve') return serve(config);

  // Commands other than serve log only warnings, so their output stays readable.
  const services = await openServices({ ...config, logLevel: 'warn' }, pino({ level: 'warn' }, process.stderr));
  try {
    const print = (text: string) => process.stdout.write(`${text}\n`);
    const [sub, a, b] = rest;
    switch (key) {
      case 'users add':
        print(await addUser(services, a, { ...values, mailbox: !values['no-mailbox'] }));
        return 0;
      case 'users import': {
        const report = await importUsers(services, a);
        for (const { line, reason } of report.skipped) process.stderr.write(`line ${line}: ${reason}\n`);
        print(`Imported ${report.imported} users; skipped ${report.skipped.length}.`);
        return report.skipped.length > 0 ? 1 : 0;
      }
      case 'photo set':
        print(await setMailPhotoCommand(services, a, b));
        return 0;
      case 'photo remove':
        print(await removeMailPhotoCommand(services, a));
        return 0;
      case 'directory-photo set':
        print(await setDirectoryPhotoCommand(services, a, b));
        return 0;
      case 'site-photo set':
        print(await setSitePhotoCommand(services, a, b));
        return 0;
      case 'sync': {
        const user = await requireUser(services, sub);
        const result = await services.sync.sync(user, 'admin');
        print(
          `${user.upn}: ${result.outcome} in ${result.durationMs.toFixed(1)} ms` +
            (result.etagAfter !== result.etagBefore
              ? ` (${result.etagBefore ?? 'none'} -> ${result.etagAfter ?? 'none'})`
              : ''),
        );
        if (result.outcome === 'failed') throw new CliError(`The sync failed: ${result.error ?? 'unknown error'}`);
        return 0;
      }
      case 'status':
        print(await statusCommand(services, values.json));
        return 0;
      case 'token create': {
        // Create it first: an unknown user must not get a heading for a token that never existed.
        const token = await createUserTokenCommand(services, a, values.scopes);
        print(`Bearer token for ${a ?? ''} (keep it secret; it is shown once):`);
        print(token);
        return 0;
      }
      case 'apps add':
        print(await addAppCommand(services, a, values.scopes));
        return 0;
      case 'apps list':
        print(await listAppsCommand(services));
        return 0;
      case 'apps remove':
        print(await removeAppCommand(services, a));
        return 0;
      case 'm365 check':
      case 'm365 scan':
      case 'm365 sync': {
        const { m365Command } = await import('./commands/m365.js');
        const flags = { json: values.json, allOutOfStep: values['all-out-of-step'], dryRun: values['dry-run'] };
        return await m365Command(services, sub as 'check' | 'scan' | 'sync', a, flags, print);
      }
      default:
        throw new CliError(`Unknown command "${positionals.join(' ')}".\n\n${USAGE}`, 2);
    }
  } finally {
    await services.close();
  }
}

/** Opens the database and the photo store; a database that cannot be reached is the user's to fix. */
async function openServices(config: Config, log?: Logger): Promise<Services> {
  try {
    return await createServices(config, log ? { log } : {});
  } catch (error) {
    const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error) : (error as Error);
    throw new CliError(`Cannot open the database at ${databaseLocation(config)}: ${cause.message}`);
  }
}

/** Where the data lives, without the password a DATABASE_URL may hold. */
function databaseLocation(config: Config): string {
  if (!config.databaseUrl) return path.join(config.dataDir, 'photosync.sqlite');
  try {
    const url = new URL(config.databaseUrl);
    return `postgres://${url.host}${url.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

async function serve(config: Config): Promise<number> {
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
  if (config.port === 0 && !process.env.PHOTOSYNC_PUBLIC_URL) {
    // PORT=0 asked the system for a free port; absolute URLs must name the one it gave.
    config.publicUrl = `http://localhost:${address.port}`;
  }
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
  process.stdout.write(`${lines.join('\n')}\n`);
  return -1; // keep running
}

try {
  const code = await run(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
} catch (error) {
  const { message, exitCode } = explain(error);
  process.stderr.write(`photosync: ${message}\n`);
  process.exitCode = exitCode;
}
