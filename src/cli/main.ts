import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { servingAddress } from './serving-address.js';
import type { Services } from '../services.js';
import type { CliIo, CommandContext, CommandSpec } from './command.js';
import { CliError, explain, UsageError } from './output.js';
import {
  commandUsage,
  findCommand,
  isTopic,
  OPTION_EXAMPLES,
  topicUsage,
  unexpectedArguments,
  unknownCommand,
  USAGE,
  withUsage,
} from './registry.js';

// The command line: finds the command, checks its words and options, reads the settings, then
// imports and runs the command's module. bin/photosync.js calls `run` with the process's streams;
// tests call it in-process with their own.

/** Runs one command line; resolves with the exit code (2 for a usage mistake). Never throws. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    const { message, exitCode } = explain(error);
    io.stderr.write(`photosync: ${message}\n`);
    return exitCode;
  }
}

/** The version in package.json (two folders up from this file, in src/ and in dist/ alike). */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return manifest.version ?? 'unknown';
}

/** The io of the running process. */
export function processIo(): CliIo {
  endOnWriteFailure(process.stdout, 'standard output');
  endOnWriteFailure(process.stderr, 'standard error');
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
}

/**
 * An output the command cannot write to ends it with a sentence instead of a stack trace: a full
 * disk (`photosync status > /dev/full`) says so and exits 1. A pipe closed by its reader
 * (`photosync status | head -1`) ends it quietly with 141, as a shell reports a tool that SIGPIPE ended.
 */
function endOnWriteFailure(stream: NodeJS.WriteStream, name: string): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(141);
    if (stream !== process.stderr) {
      process.stderr.write(`photosync: could not write to the ${name}: ${error.message}\n`);
    }
    process.exit(1);
  });
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const words = argv.slice(0, firstOption(argv));
  // `photosync help users add` is `photosync users add --help`.
  if (words[0] === 'help' && words.length > 1) return dispatch([...words.slice(1), '--help'], io);
  const spec = findCommand(words);
  const help = argv.includes('--help') || argv.includes('-h');
  const [topic, subcommand] = words;
  // A topic ("users") without one of its subcommands: its subcommands, not every command.
  if (!spec && topic !== undefined && isTopic(topic)) {
    if (help) {
      io.stdout.write(`Usage:\n${topicUsage(topic)}\n`);
      return 0;
    }
    const what =
      subcommand === undefined ? `"${topic}" needs a subcommand.` : `"${topic}" has no subcommand "${subcommand}".`;
    throw new CliError(`${what}\n\nUsage:\n${topicUsage(topic)}`, 2);
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    if (argv.length > 1)
      throw new CliError(`photosync ${argv[0]} takes nothing else; got ${argv.slice(1).join(' ')}.`, 2);
    io.stdout.write(`photosync ${version()}\n`);
    return 0;
  }
  if (argv.length === 0 || words[0] === 'help' || (help && !spec)) {
    io.stdout.write(USAGE);
    return 0;
  }
  // A mistyped command is told as such, before the settings or the database can get in the way.
  if (!spec) {
    if (words.length > 0) throw new CliError(unknownCommand(words), 2);
    throw new CliError(`Name the command first.\n\n${USAGE}`, 2);
  }
  if (help) {
    io.stdout.write(`Usage:\n${commandUsage(spec)}\n`);
    return 0;
  }
  const rest = argv.slice(spec.name.split(' ').length);
  const { values, positionals } = parseOptions(spec, rest);
  const extra = positionals.slice(spec.args);
  if (extra.length > 0) throw new CliError(withUsage(spec, unexpectedArguments(spec, extra)), 2);

  const config = loadConfig(io.env, io.cwd);
  // Without PHOTOSYNC_PUBLIC_URL, URLs name the server running on this data folder (at PORT, when
  // that is set): it knows whether it speaks https, which a command without the TLS settings does not.
  if (spec.name !== 'serve' && !io.env.PHOTOSYNC_PUBLIC_URL?.trim()) {
    const serving = servingAddress(config.dataDir);
    const port = io.env.PORT?.trim();
    if (serving && (!port || servedPort(serving) === port)) config.publicUrl = serving;
  }
  const handler = await spec.load();
  let services: Promise<Services> | undefined;
  const context: CommandContext = {
    args: positionals,
    config,
    io,
    print: (text) => io.stdout.write(`${text}\n`),
    option: (name) => stringValue(values[name]),
    options: (name) => (Array.isArray(values[name]) ? values[name].filter((v) => typeof v === 'string') : []),
    flag: (name) => values[name] === true,
    services: () => (services ??= openForCommand(context, spec)),
  };
  try {
    return (await handler(context)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) throw new CliError(withUsage(spec, error.message), 2);
    throw error;
  } finally {
    if (services) await (await services.catch(() => undefined))?.close();
  }
}

/**
 * The command's options and words. parseArgs's strict mode would refuse the same mistakes, but in
 * its own words (`Option '--name <value>' argument missing`); each is told here in a sentence,
 * followed by the command's usage.
 */
function parseOptions(spec: CommandSpec, args: readonly string[]) {
  const options = spec.options ?? {};
  // photosync has no one-letter options (but -h, answered before): a longer word starting with one
  // "-" is a value, as an x5t#S256 thumbprint (base64url) may begin. parseArgs would split it into
  // one-letter options, so it goes to parseArgs as a stand-in and comes back as it was.
  const values = new Map<string, string>();
  const terminator = args.indexOf('--');
  const standIns = args.map((arg, index) => {
    if (!isDashValue(arg)) return arg;
    // An option or help written with one dash is told so, not taken as a value (before a "--").
    const name = arg.slice(1);
    if ((terminator === -1 || index < terminator) && (name === 'help' || Object.hasOwn(options, name))) {
      throw new CliError(withUsage(spec, `photosync ${spec.name} has no option ${arg}: write --${name}.`), 2);
    }
    const standIn = `\u0000${values.size}`;
    values.set(standIn, arg);
    return standIn;
  });
  const restore = (value: string) => values.get(value) ?? value;
  const parsed = parseArgs({ args: standIns, options, allowPositionals: true, strict: false, tokens: true });
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    let problem: string | undefined;
    if (!option) {
      // A value may begin with "--" too (a thumbprint, 1 in 4,096): it goes after a "--".
      const valueHint = spec.args > 0 ? ' A value that begins with "-" goes after "--".' : '';
      problem = `photosync ${spec.name} has no option ${token.rawName}.${valueHint}`;
    } else if (
      option.type === 'string' &&
      (token.value === undefined || (!token.inlineValue && token.value.startsWith('-')))
    ) {
      // `--name --admin` would take "--admin" as the name: a value starting with "--" goes as --name=--x.
      const example = OPTION_EXAMPLES[token.name] ?? `<${token.name}>`;
      problem = `${token.rawName} needs a value, e.g. ${token.rawName} ${example}.`;
    } else if (option.type === 'boolean' && token.value !== undefined) {
      problem = `${token.rawName} takes no value: write just ${token.rawName}.`;
    }
    if (problem) throw new CliError(withUsage(spec, problem), 2);
  }
  const restoreAll = (value: string | boolean) => (typeof value === 'string' ? restore(value) : value);
  const restored: Record<string, string | boolean | (string | boolean)[] | undefined> = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    restored[name] = Array.isArray(value) ? value.map(restoreAll) : value === undefined ? value : restoreAll(value);
  }
  return { values: restored, positionals: parsed.positionals.map(restore) };
}

/** A word that starts with one "-" and is longer than a one-letter option: a value, never an option. */
function isDashValue(arg: string): boolean {
  return arg.length > 2 && arg.startsWith('-') && !arg.startsWith('--');
}

/** Index of the first option: the command's name is the words before it. */
function firstOption(argv: readonly string[]): number {
  const index = argv.findIndex((arg) => arg.startsWith('-') && !isDashValue(arg));
  return index === -1 ? argv.length : index;
}

function stringValue(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Commands other than serve log only warnings, to standard error, as sentences ("photosync:
 * warning: …"), so their output stays readable; serve's log is the server's, one JSON object a line.
 */
async function openForCommand(context: CommandContext, spec: CommandSpec): Promise<Services> {
  const [{ pino }, { openServices }, { sqliteFileOf }] = await Promise.all([
    import('pino'),
    import('./open-services.js'),
    import('../storage/database.js'),
  ]);
  const file = sqliteFileOf(context.config.dataDir);
  if (!spec.createsStore && !context.config.databaseUrl && !existsSync(file)) {
    throw new CliError(
      `There is no photosync database at ${file}. Set PHOTOSYNC_DATA_DIR to the data folder photosync serve uses.`,
    );
  }
  const log = pino({ level: 'warn' }, { write: (line: string) => context.io.stderr.write(logSentence(line)) });
  if (!context.config.databaseUrl && existsSync(file)) {
    const other = otherOwner(file);
    if (other) {
      context.io.stderr.write(
        `photosync: warning: this command runs as ${other.me}, and ${file} belongs to ${other.owner}: ` +
          `photos it writes may be ones the server cannot change later. Run it as that user (sudo -u ${other.owner} …).\n`,
      );
    }
  }
  const creating = !context.config.databaseUrl && !existsSync(file);
  const services = await openServices({ ...context.config, logLevel: 'warn' }, log);
  // A command run before the first start, or with another folder than the server's by mistake:
  // either way the person learns that this is a new database of its own.
  if (creating) {
    context.io.stderr.write(
      `photosync: created a new database at ${file}. If a server already runs, it uses another one: ` +
        'set PHOTOSYNC_DATA_DIR (or DATABASE_URL) as that server has it.\n',
    );
  }
  return services;
}

/** When the database file belongs to another operating-system user than this process's: both names. */
function otherOwner(file: string): { me: string; owner: string } | undefined {
  const me = process.getuid?.();
  if (me === undefined) return undefined;
  const owner = statSync(file).uid;
  if (owner === me) return undefined;
  let names = new Map<number, string>();
  try {
    // /etc/passwd: name:password:uid:…
    names = new Map(
      readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .map((line) => line.split(':'))
        .filter((fields) => fields.length > 2)
        .map((fields) => [Number(fields[2]), fields[0]!]),
    );
  } catch {
    // No such file: the ids alone.
  }
  return { me: names.get(me) ?? `user id ${me}`, owner: names.get(owner) ?? `user id ${owner}` };
}

/** A log line of pino's as a command prints it: its message, with the code that names the cause. */
export function logSentence(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: number; msg?: string; code?: unknown };
    const code = typeof entry.code === 'string' && !entry.msg?.includes(entry.code) ? ` (${entry.code})` : '';
    return `photosync: ${(entry.level ?? 50) >= 50 ? '' : 'warning: '}${entry.msg ?? ''}${code}\n`;
  } catch {
    return line;
  }
}

/** The port an address is served at, its scheme's default when it names none. */
function servedPort(url: string): string {
  const parsed = new URL(url);
  return parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
}
