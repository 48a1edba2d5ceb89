import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../config.js';
import type { Services } from '../services.js';

// What a command is and what it is given. Type-only imports: the registry and the dispatcher load
// no role, so `photosync --help` and a mistyped command start in a few milliseconds.

export interface CliWriter {
  write(text: string): unknown;
  /** A terminal (progress bars redraw in place); a pipe or a file gets plain lines. */
  isTTY?: boolean | undefined;
}

/** Standard input: a terminal (a password is typed without echo) or a pipe. */
export interface CliReader extends AsyncIterable<Buffer | string> {
  isTTY?: boolean | undefined;
  setRawMode?(mode: boolean): unknown;
}

/** Where a run of the command line reads its settings and writes its output. */
export interface CliIo {
  stdout: CliWriter;
  stderr: CliWriter;
  /** Where a password is read from (never the command line, which others may see). */
  stdin?: CliReader | undefined;
  /** The environment the settings are read from. */
  env: NodeJS.ProcessEnv;
  /** The folder relative paths (PHOTOSYNC_DATA_DIR, files named on the line) start from. */
  cwd: string;
}

export interface CommandContext {
  /** The words after the command's name (at most as many as its synopsis names). */
  args: string[];
  config: Config;
  io: CliIo;
  /** A line on standard output. */
  print(text: string): void;
  /** The value of a string option, e.g. `--name`. */
  option(name: string): string | undefined;
  /** Every value of a repeatable string option, e.g. `--redirect-uri a --redirect-uri b`. */
  options(name: string): string[];
  /** Whether a boolean option was given, e.g. `--admin`. */
  flag(name: string): boolean;
  /** The database and photo store: opened on first use (warnings only), closed when the command ends. */
  services(): Promise<Services>;
}

/** Runs one command; the exit code (0 when it returns nothing). Mistakes are thrown as CliError. */
export type CommandHandler = (context: CommandContext) => Promise<number | void>;

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec {
  /** The words that name it: "status", "users add". */
  name: string;
  /** What follows the name in the usage: "<upn> <image>". */
  synopsis: string;
  /** One line for the usage; more lines may follow on the next lines. */
  summary: string;
  /** How many words it takes after its name. */
  args: number;
  options?: CommandOptions;
  /**
   * Whether it may make a new database where there is none (serve, adding users or apps, connect
   * mode). The others refuse a data folder without one: a mistyped PHOTOSYNC_DATA_DIR would
   * otherwise get an empty photosync made there, and "0 users".
   */
  createsStore?: boolean;
  /** Imports the command's module only when it runs. */
  load(): Promise<CommandHandler>;
}
