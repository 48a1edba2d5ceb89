import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../config.js';
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
import { addUser, createUserToken, importUsers, requireUser } from './commands/users.js';
import { CliError, explain } from './output.js';

const USAGE = `photosync — profile pictures: one mail photo, site renditions synced on the user's action

Usage:
  photosync serve                                   start the server (see README for settings)
  photosync users add <upn> --name <display name> --password <password> [--no-mailbox] [--admin]
  photosync users import <file.csv>                 rows: upn,displayName,password,mailbox,admin
  photosync photo set <upn> <image>                 set the mail photo (JPEG, PNG, GIF, WebP; 4 MB)
  photosync photo remove <upn>                      remove the mail photo
  photosync directory-photo set <upn> <image>       set the directory photo (never used by the sites)
  photosync site-photo set <upn> <image>            upload a picture directly in the sites
  photosync sync <upn>                              run the sync for one user (trigger: admin)
  photosync status [--json]                         who is in step, and why not
  photosync token create <upn>                      a bearer token for the user (last line of output)
`;

const OPTIONS = {
  name: { type: 'string' },
  password: { type: 'string' },
  'no-mailbox': { type: 'boolean', default: false },
  admin: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
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
  const config = loadConfig();
  if (command === 'serve') return serve(config);

  // Commands other than serve log only warnings, so their output stays readable.
  const services = await createServices({ ...config, logLevel: 'warn' }, { log: pino({ level: 'warn' }, process.stderr) });
  try {
    const print = (text: string) => process.stdout.write(`${text}\n`);
    const [sub, a, b] = rest;
    switch (`${command} ${command === 'sync' || command === 'status' ? '' : (sub ?? '')}`.trim()) {
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
            (result.etagAfter !== result.etagBefore ? ` (${result.etagBefore ?? 'none'} -> ${result.etagAfter ?? 'none'})` : ''),
        );
        if (result.outcome === 'failed') throw new CliError(`The sync failed: ${result.error ?? 'unknown error'}`);
        return 0;
      }
      case 'status':
        print(await statusCommand(services, values.json));
        return 0;
      case 'token create':
        print(`Bearer token for ${a ?? ''} (keep it secret; it is shown once):`);
        print(await createUserToken(services, a));
        return 0;
      default:
        throw new CliError(`Unknown command "${positionals.join(' ')}".\n\n${USAGE}`, 2);
    }
  } finally {
    await services.close();
  }
}

async function serve(config: ReturnType<typeof loadConfig>): Promise<number> {
  const services: Services = await createServices(config);
  const seeded = config.seedDemo && (await seedDemoOrganisation(services));
  await startServer(services);
  const lines = [
    '',
    `photosync is running at ${config.publicUrl}`,
    `  database: ${services.database.location}`,
    `  photos:   ${services.blobs.kind === 'files' ? `${config.dataDir}/photos` : 'in the database'}`,
  ];
  if (seeded) lines.push('', 'Created the demo organisation:', ...DEMO_PEOPLE.map((p) => `  ${p.upn.padEnd(22)} ${p.note}`));
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
