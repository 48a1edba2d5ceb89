import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { BackupError, type RestoreOptions } from './backup-error.js';
import { photosyncApplicationName } from './pg-application-name.js';
import { asSearchPathName, optionsWithSearchPath, searchPathNames } from './pg-search-path.js';

// PostgreSQL's own tools make its backups: pg_dump takes one consistent snapshot of photosync's
// schema (tables and photo bytes alike) while the server runs; pg_restore puts it back. They are
// PostgreSQL's client programs, found on PATH; photosync does not imitate them.

const MISSING_TOOL = (tool: string) =>
  `${tool} is not on PATH. Install PostgreSQL's client programs (the server's version or newer; ` +
  'Debian/Ubuntu: postgresql-client), or back the database up with your own PostgreSQL tooling.';

/** Dumps the schema DATABASE_URL works in to `file` (pg_dump's custom format). */
export async function dumpPostgres(
  databaseUrl: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ users: number; schema: string; migrations: string[] }> {
  const { schema, users, migrations } = await withClient(databaseUrl, async (client) => {
    const found = await client.query<{ schema: string | null }>('select current_schema() as schema');
    const name = found.rows[0]?.schema;
    if (!name) throw new BackupError('DATABASE_URL names no schema that exists: there is nothing to back up.');
    const counted = await client
      .query<{ n: string }>('select count(*) as n from directory_users')
      .catch((error: unknown) => {
        throw new BackupError(`The database holds no photosync data: ${(error as Error).message}`);
      });
    const applied = await client.query<{ name: string }>('select name from photosync_migrations order by name');
    return { schema: name, users: Number(counted.rows[0]?.n ?? 0), migrations: applied.rows.map((row) => row.name) };
  });
  await runTool(
    'pg_dump',
    [
      '--format=custom',
      '--no-owner',
      '--no-privileges',
      // A pattern: in double quotes every character is itself (no folding to lower case, no wildcards).
      `--schema="${schema.replaceAll('"', '""')}"`,
      `--file=${file}`,
      ...connection(databaseUrl).args,
    ],
    { ...env, ...connection(databaseUrl).env },
  );
  return { users, schema, migrations };
}

/** Restores a dump into DATABASE_URL's schema; refuses one that holds tables unless forced. */
export async function restorePostgres(
  databaseUrl: string,
  file: string,
  options: RestoreOptions,
  env: NodeJS.ProcessEnv = process.env,
  /** The schema the dump was taken of, as the backup's manifest names it (older backups do not). */
  dumpedSchema?: string,
): Promise<void> {
  // pg_restore puts a schema back under the name it was dumped from: checked before anything changes.
  const list = await runTool('pg_restore', ['--list', file], env);
  const listed = dumpedSchemaOf(list);
  // The manifest says the name where the list cannot (an owner's name with a space in it); they never disagree.
  if (dumpedSchema !== undefined && listed !== undefined && dumpedSchema !== listed) {
    throw new BackupError(
      `This archive is not a whole photosync backup: its manifest names the schema "${dumpedSchema}", and its ` +
        `database dump holds the schema ${listed}. Restore from an archive photosync backup wrote and nobody ` +
        'changed. Nothing was changed.',
    );
  }
  const dumped = listed ?? dumpedSchema;
  const { schema, exists, tables, unused } = await withClient(databaseUrl, async (client) => {
    const { into, exists } = await restoredInto(client, dumped);
    if (dumped !== undefined && into !== dumped) {
      const named = asSearchPathName(dumped);
      throw new BackupError(
        `This backup holds the schema ${dumped}, and DATABASE_URL works in ${into === undefined ? 'no schema' : `the schema ${into}`}. ` +
          `A PostgreSQL backup is restored under its own schema's name: make ${named} the first schema of DATABASE_URL's ` +
          `search_path (the URL parameter options=${encodeURIComponent(optionsWithSearchPath(databaseUrl, dumped))}), in a database ` +
          'where no other photosync uses that schema, and restore again. Nothing was changed.',
      );
    }
    // A schema that exists is the first of the search_path that does: current_schema(), where
    // photosync's tables are read and dropped below.
    const counted = await client.query<{ n: string }>(
      "select count(*) as n from information_schema.tables where table_schema = $1 and table_type = 'BASE TABLE'",
      [into ?? null],
    );
    const tables = Number(counted.rows[0]?.n ?? 0);
    return { schema: into ?? null, exists, tables, unused: tables > 0 && (await holdsNobody(client)) };
  });
  const others = await withClient(databaseUrl, async (client) => {
    // Each photosync connection is named after the schema it works in, as PostgreSQL stores the name
    // (cut to 63 bytes; characters beyond ASCII replaced): this connection takes the name to get that form.
    const named = await client.query<{ name: string }>("select set_config('application_name', $1, false) as name", [
      schema === null ? photosyncApplicationName(databaseUrl) : `photosync ${schema}`,
    ]);
    const found = await client.query<{ n: string }>(
      'select count(*) as n from pg_stat_activity where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()',
      [named.rows[0]?.name ?? ''],
    );
    return Number(found.rows[0]?.n ?? 0);
  });
  if (others > 0) {
    throw new BackupError(
      `The database's schema ${schema ?? ''} is in use by photosync (${others} connection${others === 1 ? '' : 's'}): ` +
        'stop photosync serve and any other photosync command using it, then restore.',
    );
  }
  // photosync's own tables without a single user (a command such as `status` made them on an empty
  // schema) hold nothing to lose: replaced as with --force.
  const clean = options.force || unused;
  if (tables > 0 && !clean) {
    throw new BackupError(
      `The database's schema ${schema ?? ''} already holds ${tables === 1 ? '1 table' : `${tables} tables`}. Restore into an empty database ` +
        '(or schema), or add --force to replace what is there (stop the servers first).',
    );
  }
  if (unused && !options.force) await withClient(databaseUrl, dropTables);
  // The search indexes use pg_trgm, an extension of the whole database that a schema's dump leaves out.
  await withClient(databaseUrl, (client) => client.query('create extension if not exists pg_trgm with schema public'));
  // The dump creates its schema; one that exists already (empty, or about to be cleaned) is kept.
  const kept = schema && exists ? list.split('\n').filter((line) => !line.includes(` SCHEMA - ${schema} `)) : [list];
  const listFile = path.join(path.dirname(file), 'restore.list');
  await fs.writeFile(listFile, kept.join('\n'));
  await runTool(
    'pg_restore',
    [
      '--no-owner',
      '--no-privileges',
      '--exit-on-error',
      '--single-transaction',
      ...(clean ? ['--clean', '--if-exists'] : []),
      `--use-list=${listFile}`,
      ...connection(databaseUrl).args,
      file,
    ],
    { ...env, ...connection(databaseUrl).env },
  );
}

/**
 * The schema a dump was taken of, from pg_restore's list of its entries ("5; 2615 16385 SCHEMA -
 * name owner"; a name with a space in it is read up to the owner's, the last word). A dump of
 * `public` has no such entry: the manifest names it (backups before 2026-12-03 do not).
 */
function dumpedSchemaOf(list: string): string | undefined {
  return /^\d+; \d+ \d+ SCHEMA - (.+) \S+$/m.exec(list)?.[1];
}

/**
 * The schema photosync will work in once the dump's schema is there: the first schema of the
 * search_path that exists or is the dump's (`$user` being the role's name), as PostgreSQL picks
 * `current_schema()` then.
 */
async function restoredInto(
  client: pg.Client,
  dumped: string | undefined,
): Promise<{ into: string | undefined; exists: boolean }> {
  const found = await client.query<{ path: string; role: string; existing: string[] }>(
    "select current_setting('search_path') as path, current_user as role, array(select nspname::text from pg_namespace) as existing",
  );
  const { path: searchPath, role, existing } = found.rows[0]!;
  const names = searchPathNames(searchPath).map((name) => (name === '$user' ? role : name));
  const into = names.find((name) => name === dumped || existing.includes(name));
  return { into, exists: into !== undefined && existing.includes(into) };
}

/**
 * Whether the schema holds photosync's tables and nothing anyone made in them (made by a command,
 * never used): no user, no tenant user or scan, no audit entry, no setting saved.
 */
async function holdsNobody(client: pg.Client): Promise<boolean> {
  const counts = [
    'select count(*) from directory_users',
    'select count(*) from m365_users',
    'select count(*) from m365_scans',
    'select count(*) from admin_audit',
    // What every start writes (the sizes in effect) names no one; a setting saved by a person does.
    'select count(*) from admin_settings where updated_by is not null',
  ];
  const rows = await client
    .query<{ n: string }>(`select (${counts.map((c) => `(${c})`).join(' + ')}) as n`)
    .catch(() => undefined);
  return rows !== undefined && Number(rows.rows[0]?.n) === 0;
}

/**
 * Empties such a schema of its tables (and what hangs on them) in one transaction, so a backup of
 * an older photosync, whose dump names fewer tables, is restored into it whole.
 */
async function dropTables(client: pg.Client): Promise<void> {
  const found = await client.query<{ name: string }>(
    "select quote_ident(table_name) as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'",
  );
  if (found.rows.length === 0) return;
  await client.query(`drop table ${found.rows.map((r) => r.name).join(', ')} cascade`);
}

async function withClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
  } catch (error) {
    throw new BackupError(`Cannot connect to the database: ${(error as Error).message}`, { cause: error });
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The connection for a program: the URL without its password, which goes in PGPASSWORD (not visible in `ps`). */
function connection(databaseUrl: string): { args: string[]; env: NodeJS.ProcessEnv } {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  // libpq reads a space in a parameter only as %20, never as the '+' of form encoding.
  const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  url.search = query.length > 0 ? `?${query.join('&')}` : '';
  return { args: [`--dbname=${url.toString()}`], env: password ? { PGPASSWORD: password } : {} };
}

/**
 * The migrations the dumped database had applied, read from the dump itself (pg_restore writes the
 * table's rows as SQL to its standard output; the database is not touched): a backup's manifest
 * may not say, or may say otherwise.
 */
export async function dumpedMigrations(file: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const script = await runTool('pg_restore', ['--data-only', '--table=photosync_migrations', '--file=-', file], env);
  const names: string[] = [];
  let inCopy = false;
  for (const line of script.split('\n')) {
    if (inCopy && line === '\\.') inCopy = false;
    else if (inCopy) names.push(line.split('\t')[0]!);
    else if (/^COPY \S*photosync_migrations \(name,/.test(line)) inCopy = true;
  }
  return names;
}

/** Runs one of PostgreSQL's programs; its standard output, or what it said on failing. */
function runTool(tool: 'pg_dump' | 'pg_restore', args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { maxBuffer: 64 * 1024 * 1024, env }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return reject(new BackupError(MISSING_TOOL(tool)));
      reject(new BackupError(`${tool} failed: ${stderr.trim() || error.message}`, { cause: error }));
    });
  });
}
