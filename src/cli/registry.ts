import { DEFAULT_DELEGATED_SCOPES, GRAPH_SCOPES } from '../directory/scopes.js';
import { SYNC_STATES } from '../sync/state.js';
import type { CommandOptions, CommandSpec } from './command.js';

// Every command of `photosync`, in the order the usage lists them. A command's module is imported
// only when that command runs. To add one: write src/cli/commands/<topic>.ts exporting a
// CommandHandler, and add its entry here.

const scopes: CommandOptions = { scopes: { type: 'string' } };

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'serve',
    createsStore: true,
    synopsis: '',
    summary: 'start the server (see README for settings)',
    args: 0,
    load: async () => (await import('./commands/serve.js')).serve,
  },
  {
    name: 'users add',
    createsStore: true,
    synopsis: '<upn> --name <display name> [--password <password>] [--no-mailbox] [--admin]',
    summary: 'add a user; without a password they cannot sign in (see users password)',
    args: 1,
    options: {
      name: { type: 'string' },
      password: { type: 'string' },
      'no-mailbox': { type: 'boolean', default: false },
      admin: { type: 'boolean', default: false },
    },
    load: async () => (await import('./commands/users.js')).usersAdd,
  },
  {
    name: 'users password',
    synopsis: '<upn>',
    summary: 'set a new password, typed at the prompt or piped on standard input;\nends their sessions and tokens',
    args: 1,
    load: async () => (await import('./commands/accounts.js')).usersPassword,
  },
  {
    name: 'users disable',
    synopsis: '<upn>',
    summary: 'no sign-in, sessions and tokens ended, pictures hidden',
    args: 1,
    load: async () => (await import('./commands/accounts.js')).usersDisable,
  },
  {
    name: 'users enable',
    synopsis: '<upn>',
    summary: 'undo users disable',
    args: 1,
    load: async () => (await import('./commands/accounts.js')).usersEnable,
  },
  {
    name: 'users grant-admin',
    synopsis: '<upn>',
    summary: 'let an existing user into the admin console',
    args: 1,
    load: async () => (await import('./commands/accounts.js')).usersGrantAdmin,
  },
  {
    name: 'users revoke-admin',
    synopsis: '<upn>',
    summary: 'take the admin console away (never from the last administrator)',
    args: 1,
    load: async () => (await import('./commands/accounts.js')).usersRevokeAdmin,
  },
  {
    name: 'users remove',
    synopsis: '<upn>',
    summary: 'remove the user, their photos, sessions and tokens',
    args: 1,
    load: async () => (await import('./commands/accounts.js')).usersRemove,
  },
  {
    name: 'users import',
    createsStore: true,
    synopsis: '<file.csv> [--skip-existing]',
    summary:
      'rows: upn,displayName,password,mailbox,admin; --skip-existing leaves\nusers already in the directory as they are (an import run again)',
    args: 1,
    options: { 'skip-existing': { type: 'boolean', default: false } },
    load: async () => (await import('./commands/users.js')).usersImport,
  },
  {
    name: 'photo set',
    synopsis: '<upn> <image>',
    summary: 'set the mail photo (JPEG, PNG, GIF, WebP; 4 MB)',
    args: 2,
    load: async () => (await import('./commands/photos.js')).photoSet,
  },
  {
    name: 'photo remove',
    synopsis: '<upn>',
    summary: 'remove the mail photo',
    args: 1,
    load: async () => (await import('./commands/photos.js')).photoRemove,
  },
  {
    name: 'directory-photo set',
    synopsis: '<upn> <image>',
    summary: 'set the directory photo (never used by the sites)',
    args: 2,
    load: async () => (await import('./commands/photos.js')).directoryPhotoSet,
  },
  {
    name: 'site-photo set',
    synopsis: '<upn> <image>',
    summary: 'upload a picture directly in the sites',
    args: 2,
    load: async () => (await import('./commands/photos.js')).sitePhotoSet,
  },
  {
    name: 'sync',
    synopsis: '<upn>',
    summary: 'run the sync for one user (trigger: admin); exits 1 if it failed, 75 if another sync of them was running',
    args: 1,
    load: async () => (await import('./commands/sync.js')).sync,
  },
  {
    name: 'status',
    synopsis: '[--out-of-step] [--state <state>]… [--user <upn>] [--json]',
    summary: `who is in step, and why not; --out-of-step, --state and --user narrow the rows
(states: ${SYNC_STATES.join(', ')})`,
    args: 0,
    options: {
      json: { type: 'boolean', default: false },
      'out-of-step': { type: 'boolean', default: false },
      state: { type: 'string', multiple: true },
      user: { type: 'string' },
    },
    load: async () => (await import('./commands/status.js')).status,
  },
  {
    name: 'maintenance sweep',
    synopsis: '[--apply]',
    summary:
      'photo blobs no table names, written over PHOTOSYNC_BLOB_SWEEP_MIN_AGE_MINUTES ago\n(left by a crash before a commit): lists them; --apply removes them',
    args: 0,
    options: { apply: { type: 'boolean', default: false } },
    load: async () => (await import('./commands/maintenance.js')).maintenanceSweep,
  },
  {
    name: 'token create',
    synopsis: '<upn> [--scopes <scopes>] [--expires <30d|12h>]',
    summary: `a bearer token for the user (last line of output);\ndefault scopes ${DEFAULT_DELEGATED_SCOPES.join(' ')}; expires in 90 days`,
    args: 1,
    options: { ...scopes, expires: { type: 'string' } },
    load: async () => (await import('./commands/tokens.js')).tokenCreate,
  },
  {
    name: 'token list',
    synopsis: '[<upn>]',
    summary: 'the bearer tokens (by id, never the token), of one user or all',
    args: 1,
    load: async () => (await import('./commands/tokens.js')).tokenList,
  },
  {
    name: 'token revoke',
    synopsis: '<id>',
    summary: 'revoke a bearer token by the id token list shows',
    args: 1,
    load: async () => (await import('./commands/tokens.js')).tokenRevoke,
  },
  {
    name: 'apps add',
    createsStore: true,
    synopsis:
      '<name> --scopes <scopes> [--certificate <cert.pem>]… [--redirect-uri <uri>]… [--spa-redirect-uri <uri>]… [--public-client]',
    summary:
      "register an app (client id + secret; certificates for client assertions;\nredirect URIs for sign-in with the authorization code, a web app's (codes\nredeemed with the secret) or a single-page app's (from the browser);\n--public-client lets desktop apps and scripts sign in with the client id alone)",
    args: 1,
    options: {
      ...scopes,
      certificate: { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
      'spa-redirect-uri': { type: 'string', multiple: true },
      'public-client': { type: 'boolean', default: false },
    },
    load: async () => (await import('./commands/apps.js')).appsAdd,
  },
  {
    name: 'apps list',
    synopsis: '',
    summary: 'the registered apps',
    args: 0,
    load: async () => (await import('./commands/apps.js')).appsList,
  },
  {
    name: 'apps public-client',
    synopsis: '<client id> <on|off>',
    summary: 'allow or refuse the password grant without the app’s secret (public client flows)',
    args: 2,
    load: async () => (await import('./commands/apps.js')).appsPublicClient,
  },
  {
    name: 'apps redirect-uri',
    synopsis: '<client id> <add|remove> <uri> [--spa]',
    summary: 'add a redirect URI to an app (a web app’s; --spa a single-page app’s), or remove one',
    args: 3,
    options: { spa: { type: 'boolean', default: false } },
    load: async () => (await import('./commands/apps.js')).appsRedirectUri,
  },
  {
    name: 'apps remove',
    synopsis: '<client id>',
    summary: 'remove an app; its tokens stop working',
    args: 1,
    load: async () => (await import('./commands/apps.js')).appsRemove,
  },
  {
    name: 'apps remove-certificate',
    synopsis: '<client id> <x5t#S256>',
    summary: 'revoke one of an app’s certificates (new tokens need another)',
    args: 2,
    load: async () => (await import('./commands/apps.js')).appsRemoveCertificate,
  },
  {
    name: 'users revoke-sessions',
    synopsis: '<upn>',
    summary: "end the user's sign-ins: refresh tokens and portal sessions",
    args: 1,
    load: async () => (await import('./commands/sign-in.js')).usersRevokeSessions,
  },
  {
    name: 'signing-key rotate',
    createsStore: true,
    synopsis: '',
    summary: 'a new key signs tokens; the old one stays published for a day',
    args: 0,
    load: async () => (await import('./commands/sign-in.js')).signingKeyRotate,
  },
  {
    name: 'backup',
    synopsis: '<file>',
    summary: 'database and photos in one archive, while the server runs\n(PostgreSQL: needs pg_dump on PATH)',
    args: 1,
    load: async () => (await import('./commands/backup.js')).backup,
  },
  {
    name: 'restore',
    synopsis: '<file> [--force]',
    summary:
      'put a backup into an empty data folder (or database);\n--force replaces what is there (stop the server first)',
    args: 1,
    options: { force: { type: 'boolean', default: false } },
    load: async () => (await import('./commands/backup.js')).restore,
  },
  {
    name: 'dev-cert',
    synopsis: '[--out <dir>] [--host <name>]…',
    summary: 'a local CA and a localhost certificate for https (prints the settings)',
    args: 0,
    options: { out: { type: 'string' }, host: { type: 'string', multiple: true } },
    load: async () => (await import('./commands/dev-cert.js')).devCert,
  },
  {
    name: 'm365 check',
    createsStore: true,
    synopsis: '',
    summary: 'connect mode: what works against the tenant, and the fix',
    args: 0,
    load: async () => (await import('./commands/m365.js')).m365Check,
  },
  {
    name: 'm365 scan',
    createsStore: true,
    synopsis: '[--json]',
    summary: "every tenant user's state (resumes an interrupted scan)",
    args: 0,
    options: { json: { type: 'boolean', default: false } },
    load: async () => (await import('./commands/m365.js')).m365Scan,
  },
  {
    name: 'm365 sync',
    createsStore: true,
    synopsis: '<upn> | --all-out-of-step [--dry-run]',
    summary:
      "push Exchange photos into the tenant's SharePoint; exits 1 if a push failed,\n" +
      '75 if none failed but a user was busy (another push of them was running: run it again)',
    args: 1,
    options: { 'all-out-of-step': { type: 'boolean', default: false }, 'dry-run': { type: 'boolean', default: false } },
    load: async () => (await import('./commands/m365.js')).m365Sync,
  },
];

/** A value for each option that takes one, shown when it is missing: `--name needs a value, e.g. --name "Jane Doe".` */
export const OPTION_EXAMPLES: Readonly<Record<string, string>> = {
  name: '"Jane Doe"',
  password: '"correct horse battery staple"',
  scopes: 'ProfilePhoto.Read.All',
  expires: '30d',
  certificate: 'cert.pem',
  'redirect-uri': 'https://localhost:3000/callback',
  'spa-redirect-uri': 'https://app.contoso.com/',
  out: 'data/tls',
  host: 'photos.contoso.com',
  state: 'changed',
  user: 'jane@contoso.com',
};

/** The command named by the first words of the line: two words ("users add") before one ("sync"). */
export function findCommand(words: readonly string[]): CommandSpec | undefined {
  const [first, second] = words;
  return (
    COMMANDS.find((c) => second !== undefined && c.name === `${first} ${second}`) ??
    COMMANDS.find((c) => c.name === first)
  );
}

/** Whether a word names a topic: the first word of commands like "users add". */
export function isTopic(word: string | undefined): boolean {
  return word !== undefined && COMMANDS.some((c) => c.name.startsWith(`${word} `));
}

/**
 * A mistyped first word, told in a sentence with the nearest command ("stauts" → status) and the
 * first words there are, instead of every command's usage.
 */
export function unknownCommand(words: readonly string[]): string {
  const firsts = [...new Set(COMMANDS.map((c) => c.name.split(' ')[0] ?? c.name))];
  const typed = words[0] ?? '';
  const nearest = firsts
    .map((word) => ({ word, distance: editDistance(typed.toLowerCase(), word) }))
    .sort((a, b) => a.distance - b.distance)[0];
  const guess =
    nearest && nearest.distance <= Math.max(1, Math.floor(typed.length / 3)) ? ` Did you mean "${nearest.word}"?` : '';
  return (
    `Unknown command "${words.join(' ')}".${guess}
` +
    `The commands are: ${firsts.join(', ')}.
` +
    'Run "photosync --help" to see what each does.'
  );
}

/** Edits between two words (a swap of neighbours is one), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => i + j * (i === 0 ? 1 : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const above = d[i - 1]!;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The usage lines of a topic's subcommands ("users" → users add, users password, …), in registry order. */
export function topicUsage(topic: string): string {
  return COMMANDS.filter((c) => c.name.startsWith(`${topic} `))
    .map(commandUsage)
    .join('\n');
}

/** The words a synopsis names before its options: "<upn> <image>" → ["<upn>", "<image>"]; "[<upn>]" is optional. */
export function positionalNames(spec: CommandSpec): string[] {
  const names: string[] = [];
  const word = /\s*(\[<[^>]+>\]|<[^>]+>)/y;
  for (let match = word.exec(spec.synopsis); match; match = word.exec(spec.synopsis)) names.push(match[1] ?? '');
  return names;
}

const COUNTS = ['no arguments', 'one argument', 'two arguments', 'three arguments'];

/** "photosync status takes no arguments; "now" was not expected." */
export function unexpectedArguments(spec: CommandSpec, extra: readonly string[]): string {
  const names = positionalNames(spec);
  const count = COUNTS[names.length] ?? `${names.length} arguments`;
  const optional = names.some((name) => name.startsWith('[')) ? 'at most ' : '';
  const takes = `photosync ${spec.name} takes ${names.length > 0 ? `${optional}${count}, ${names.join(' ')}` : count}`;
  const quoted = extra.map((word) => `"${word}"`);
  const list = quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}` : (quoted[0] ?? '');
  return `${takes}; ${list} ${quoted.length > 1 ? 'were' : 'was'} not expected.`;
}

/** A usage mistake about one command: the sentence, then that command's usage. */
export function withUsage(spec: CommandSpec, sentence: string): string {
  return `${sentence}\n\nUsage:\n${commandUsage(spec)}`;
}

const SUMMARY_COLUMN = 52;

/** The usage lines of one command: synopsis, then its summary in a column (or below, when long). */
export function commandUsage(spec: CommandSpec): string {
  const head = `  photosync ${spec.name}${spec.synopsis ? ` ${spec.synopsis}` : ''}`;
  const [first = '', ...more] = spec.summary.split('\n');
  const pad = ' '.repeat(SUMMARY_COLUMN);
  const lines =
    first === '' ? [head] : head.length < SUMMARY_COLUMN ? [head.padEnd(SUMMARY_COLUMN) + first] : [head, pad + first];
  return [...lines, ...more.map((line) => pad + line)].join('\n');
}

export const USAGE = `photosync — profile pictures: one mail photo, site renditions synced on the user's action

Usage:
${COMMANDS.map(commandUsage).join('\n')}
Scopes: ${GRAPH_SCOPES.join(', ')} (space- or comma-separated).
photosync --version prints the version.
`;
