import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { amendAudit, COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import { createUser, findUserByUpn, type DirectoryUser } from '../../directory/users.js';
import { normalizeUpn } from '../../directory/upn.js';
import { isAppError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { Db } from '../../storage/database.js';
import { inTransaction } from '../../storage/in-transaction.js';
import type { CliWriter, CommandHandler } from '../command.js';
import { CliError, counted, fileProblem, UsageError } from '../output.js';
import { createProgress } from '../progress.js';

export async function requireUser(services: Services, upn: string | undefined): Promise<DirectoryUser> {
  if (!upn) throw new UsageError('Name the user by their UPN, e.g. jane@contoso.com.');
  if (!normalizeUpn(upn)) throw new CliError(`"${upn}" is not a valid user principal name (like jane@contoso.com).`, 2);
  const user = await findUserByUpn(services.database.db, upn);
  if (!user) throw new CliError(`There is no user ${upn}.`);
  return user;
}

export const usersAdd: CommandHandler = async ({ args: [upn], services, option, flag, print }) => {
  print(
    await addUser(services, upn, {
      name: option('name'),
      password: option('password'),
      mailbox: !flag('no-mailbox'),
      admin: flag('admin'),
    }),
  );
};

/** Imports the good rows, reports each bad one on standard error, and exits 1 if it skipped any. */
export const usersImport: CommandHandler = async ({ args: [file], services, io, flag, print }) => {
  const all = await services();
  const report = await importUsers(all, file, io.stderr, flag('skip-existing'));
  if (report.imported === 0 && report.skipped.length === 0 && report.existing === 0) {
    throw new CliError(
      `${file ?? 'The file'} holds no users to import: it is empty, or has only a header line. Nothing was changed.`,
    );
  }
  // The entry counted the users as they were added; the rows skipped are said once all are read.
  if (report.auditId !== undefined) {
    const skipped = report.skipped.length;
    await inTransaction(all.database.db, (trx) =>
      amendAudit(trx, all.database.dialect, report.auditId!, ({ unfinished: _, ...detail }) => ({
        ...detail,
        skipped,
        admins: [...(detail.admins as string[])].sort(),
      })),
    );
  }
  for (const { line, reason } of report.skipped) io.stderr.write(`line ${line}: ${reason}\n`);
  const existing = report.existing > 0 ? ` ${report.existing} already in the directory (left as they are);` : '';
  print(`Imported ${counted(report.imported, 'user')};${existing} skipped ${report.skipped.length}.`);
  return report.skipped.length > 0 ? 1 : 0;
};

/** Checks the words before it opens the database: a usage mistake needs none. */
async function addUser(
  open: () => Promise<Services>,
  upn: string | undefined,
  options: { name?: string; password?: string; mailbox: boolean; admin: boolean },
): Promise<string> {
  if (!upn) throw new UsageError('Name the new user by their UPN, e.g. jane@contoso.com.');
  if (!normalizeUpn(upn)) throw new CliError(`"${upn}" is not a valid user principal name (like jane@contoso.com).`, 2);
  if (!options.name) throw new UsageError('Give the display name with --name "Jane Doe".');
  const services = await open();
  const user = await createUser(
    services.database.db,
    {
      upn,
      displayName: options.name,
      password: options.password,
      hasMailbox: options.mailbox,
      isAdmin: options.admin,
    },
    // In the commit that adds them: whether they got a password, never the password.
    (trx, added) =>
      recordAudit(trx, COMMAND_LINE, 'user_added', {
        upn: added.upn,
        displayName: added.displayName,
        admin: added.isAdmin,
        mailbox: added.hasMailbox,
        password: options.password !== undefined,
      }),
  );
  const notes = [user.hasMailbox ? '' : ', without a mailbox', user.isAdmin ? ', administrator' : ''].join('');
  const noPassword =
    options.password === undefined
      ? ` No password was given, so this user cannot sign in. Give them one with photosync users password ${user.upn}.`
      : '';
  return `Added ${user.upn} (${user.displayName})${notes}.${noPassword}`;
}

/**
 * The words a yes/no column takes (any case), in pairs: yes/no, y/n, true/false, 1/0, and
 * Estonian jah/ei, as a sheet kept in Estonian has them.
 */
const YES = ['yes', 'y', 'true', '1', 'jah'];
const NO = ['no', 'n', 'false', '0', 'ei'];

function parseFlag(value: string | undefined, fallback: boolean): boolean | undefined {
  const text = (value ?? '').trim().toLowerCase();
  if (text === '') return fallback;
  if (YES.includes(text)) return true;
  if (NO.includes(text)) return false;
  return undefined;
}

/** "mailbox must be yes/no, y/n, true/false, 1/0 or jah/ei (empty means yes); got "maybe"." */
function flagProblem(column: string, value: string | undefined, fallback: boolean): string {
  const pairs = YES.map((yes, i) => `${yes}/${NO[i] ?? ''}`);
  const accepted = `${pairs.slice(0, -1).join(', ')} or ${pairs.at(-1) ?? ''}`;
  return `${column} must be ${accepted} (empty means ${fallback ? 'yes' : 'no'}); got "${value ?? ''}".`;
}

interface ImportReport {
  /** The audit entry of the import, made in the commit of the first user added (none when none was). */
  auditId?: number;
  imported: number;
  /** The administrators among the users imported. */
  admins: string[];
  skipped: Array<{ line: number; reason: string }>;
  /** With --skip-existing: rows of users the directory has already, left as they are. */
  existing: number;
}

/**
 * The column separator: a comma, or a semicolon when the first line has semicolons and no comma
 * outside quotes (Excel's "CSV" where the decimal mark is a comma, as in Estonian).
 */
function delimiterOf(text: string): ',' | ';' {
  const first = (text.replace(/^\ufeff/, '').match(/^[^\n]*\S[^\n]*/m)?.[0] ?? '').replace(/"(?:[^"]|"")*"/g, '');
  return first.includes(';') && !first.includes(',') ? ';' : ',';
}

/** The columns of an import, in the order rows give them when the file has no header line. */
const CSV_COLUMNS = ['upn', 'displayName', 'password', 'mailbox', 'admin'] as const;

/**
 * The file's columns when its first line is a header (it names upn), in the header's order;
 * undefined when the first line is a row. A header naming a column
 * twice, one this import does not know, or no display name is refused with the columns it takes.
 */
function columnsOf(first: readonly string[]): Array<(typeof CSV_COLUMNS)[number]> | undefined {
  const names = first.map((cell) => cell.trim().toLowerCase());
  if (!names.includes('upn')) return undefined;
  const known = new Map(CSV_COLUMNS.map((name) => [name.toLowerCase(), name]));
  const order = names.map((name) => {
    const column = known.get(name);
    if (!column)
      throw new CliError(
        `line 1: the header names a column "${name}"; the columns are ${CSV_COLUMNS.join(', ')}. Nothing was imported.`,
      );
    return column;
  });
  const twice = order.find((name, i) => order.indexOf(name) !== i);
  if (twice) throw new CliError(`line 1: the header names ${twice} twice. Nothing was imported.`);
  if (!order.includes('displayName')) {
    throw new CliError('line 1: the header has no displayName column; every user needs one. Nothing was imported.');
  }
  return order;
}

/**
 * The audit entry of an import, written with the users as they are added: each user's commit
 * counts them in it, the first one's makes it. Users are added in many commits; after a crash at
 * any point, the entry counts those committed, no more and no fewer, and is marked unfinished
 * until the import says what it skipped. Until the entry is committed, one user is added at a
 * time (two first commits would make two entries).
 */
function importAuditEntry(services: Services, file: string, report: ImportReport) {
  /** The first user's commit while it runs (and makes the entry). */
  let first: Promise<unknown> | undefined;
  return {
    async adding(
      add: (record: (trx: Db, user: DirectoryUser) => Promise<unknown>) => Promise<DirectoryUser>,
    ): Promise<DirectoryUser> {
      while (report.auditId === undefined && first) await first.catch(() => {});
      if (report.auditId !== undefined) {
        const id = report.auditId;
        return add(async (trx, user) => {
          await amendAudit(trx, services.database.dialect, id, (detail) => ({
            ...detail,
            imported: Number(detail.imported) + 1,
            admins: user.isAdmin ? [...(detail.admins as string[]), user.upn] : detail.admins,
          }));
          services.faultPoint?.('import-before-commit');
        });
      }
      let made: number | undefined;
      const adding = add(async (trx, user) => {
        made = await recordAudit(trx, COMMAND_LINE, 'users_imported', {
          file,
          imported: 1,
          admins: user.isAdmin ? [user.upn] : [],
          unfinished: true,
        });
        services.faultPoint?.('import-before-commit');
      });
      first = adding;
      try {
        const user = await adding;
        report.auditId = made;
        return user;
      } finally {
        if (first === adding) first = undefined;
      }
    },
  };
}

/** Imports upn,displayName,password,mailbox,admin rows; a bad row is reported and skipped. */
async function importUsers(
  services: Services,
  file: string | undefined,
  progressTo: CliWriter,
  skipExisting: boolean,
): Promise<ImportReport> {
  if (!file) throw new UsageError('Name the CSV file to import, e.g. users.csv.');
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    throw new CliError(fileProblem(file, error));
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CliError(`${file} is not UTF-8 text. Save it as "CSV UTF-8" and import it again; nothing was imported.`);
  }
  let records: Array<{ record: string[]; info: { lines: number }; raw: string }>;
  try {
    // One kind of line break, so lines are counted alike in a file saved on Windows (csv-parse
    // counts a CRLF inside a quoted field as two lines).
    const lines = text.replace(/\r\n?/g, '\n');
    records = parse(lines, {
      delimiter: delimiterOf(lines),
      info: true,
      raw: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
      bom: true,
    }) as unknown as typeof records;
  } catch (error) {
    throw new CliError(`${file} is not valid CSV: ${(error as Error).message}`);
  }
  const order = columnsOf(records[0]?.record ?? []);
  if (order) records.shift();
  /** Rows with more cells than the header names (reordered rows would lose them), by their count. */
  const tooWide = new Map<(typeof records)[number], number>();
  if (order) {
    for (const entry of records) {
      if (entry.record.length > order.length) tooWide.set(entry, entry.record.length);
      entry.record = CSV_COLUMNS.map((name) => entry.record[order.indexOf(name)] ?? '');
    }
  }

  const report: ImportReport = { imported: 0, admins: [], skipped: [], existing: 0 };
  const auditEntry = importAuditEntry(services, path.basename(file), report);
  const seen = new Map<string, number>();
  const progress = createProgress(records.length, 'Importing users', progressTo);
  let done = 0;
  let next = 0;
  const importOne = async (entry: (typeof records)[number]) => {
    const { record, info, raw } = entry;
    // The line the row starts on: csv-parse counts up to its end, which a quoted line break moves.
    const content = raw.replace(/^\s*\n/, '').replace(/\n$/, '');
    const line = info.lines - (content.match(/\n/g)?.length ?? 0);
    const [upn = '', displayName = '', password = '', mailbox, admin] = record;
    const skip = (reason: string) => report.skipped.push({ line, reason });
    const cells = tooWide.get(entry);
    if (cells) return skip(`has ${cells} columns; the header names ${order?.length ?? 0}.`);
    if (record.length > 5)
      return skip(`has ${record.length} columns; expected upn,displayName,password,mailbox,admin.`);
    if (record.length < 2) return skip('has no display name (the second column: upn,displayName,…).');
    const hasMailbox = parseFlag(mailbox, true);
    const isAdmin = parseFlag(admin, false);
    if (hasMailbox === undefined) return skip(flagProblem('mailbox', mailbox, true));
    if (isAdmin === undefined) return skip(flagProblem('admin', admin, false));
    const key = normalizeUpn(upn);
    const firstLine = key && seen.get(key);
    if (firstLine) return skip(`${key} already appears on line ${firstLine}.`);
    if (key) seen.set(key, line);
    try {
      const user = await auditEntry.adding((record) =>
        createUser(
          services.database.db,
          { upn, displayName, password: password === '' ? undefined : password, hasMailbox, isAdmin },
          record,
        ),
      );
      report.imported++;
      if (user.isAdmin) report.admins.push(user.upn);
      services.faultPoint?.(`import-after-commit-${report.imported}`);
    } catch (error) {
      if (!isAppError(error)) throw error;
      // The same sheet imported again (a periodic import): those already there are no mistake.
      if (skipExisting && error.id === 'user_exists') report.existing++;
      else skip(error.message);
    }
  };
  // Password hashing dominates; a few at a time keeps both cores busy.
  const worker = async () => {
    while (next < records.length) {
      const entry = records[next++];
      if (entry) await importOne(entry);
      progress.update(++done);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  progress.finish();
  report.skipped.sort((a, b) => a.line - b.line);
  return report;
}
