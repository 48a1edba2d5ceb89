import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { deleteUser } from '../src/directory/revocation.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDirectoryPhoto } from '../src/directory/photo.js';
import { countUsers, createUser, findUserByUpn } from '../src/directory/users.js';
import { buildApp } from '../src/app.js';
import type { Services } from '../src/services.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import type { UserSyncStatus } from '../src/sync/status.js';
import { commandUsage, findCommand } from '../src/cli/registry.js';
import { runCommand, type CliResult } from './support/cli.js';
import { closeTo, meanColour, solidJpeg } from './support/factories.js';
import { createTestStore, describeEachDialect, openTestServices, type TestStore } from './support/services.js';

// The command line run in-process through `run(argv, io)` (the bin calls the same function with
// the process's streams), on the same store that the checks read; the last block spawns the real
// command where the process boundary matters: exit codes, the bin, and what --help loads.

const BIN = fileURLToPath(new URL('../bin/photosync.js', import.meta.url));
const REFUSE_MODULES = fileURLToPath(new URL('./support/refuse-modules.js', import.meta.url));
const RED: [number, number, number] = [220, 30, 30];
const BLUE: [number, number, number] = [30, 60, 220];
/** The start of a stack frame line: never shown to a user for a mistake they can fix. */
const STACK_FRAME = '    at ';

/** The test run's environment without any photosync or database setting of its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('PHOTOSYNC_') || ['DATABASE_URL', 'PORT', 'HOST'].includes(name)) delete env[name];
  }
  return env;
}

/** The real command, spawned as a user runs it. */
function spawnCli(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  nodeOptions: string[] = [],
): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeOptions, BIN, ...args], {
      env: { ...cleanEnv(), ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The `line N: reason` messages of an import, by line number. */
function skippedLines(stderr: string): Map<number, string> {
  const lines = new Map<number, string>();
  for (const match of stderr.matchAll(/^line (\d+): (.*)$/gm)) lines.set(Number(match[1]), match[2] ?? '');
  return lines;
}

describeEachDialect('photosync CLI', (dialect) => {
  let store: TestStore;
  let services: Services;
  let work: string;
  const file = (name: string) => path.join(work, name);
  const cli = (...args: string[]) => runCommand(args, store.env, work);
  const statusJson = async (): Promise<UserSyncStatus[]> => {
    const result = await cli('status', '--json');
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as UserSyncStatus[];
  };
  const statusOf = (statuses: UserSyncStatus[], upn: string) => statuses.find((s) => s.upn === upn);

  beforeAll(async () => {
    store = await createTestStore(dialect);
    services = await openTestServices(store);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-cli-'));
    const noise = (side: number) =>
      sharp({
        create: {
          width: side,
          height: side,
          channels: 3,
          background: '#808080',
          noise: { type: 'gaussian', mean: 128, sigma: 60 },
        },
      });
    const detailed = await noise(600).jpeg({ quality: 90 }).toBuffer();
    await Promise.all([
      fs.writeFile(file('red.jpg'), await solidJpeg(RED, 400)),
      fs.writeFile(file('blue.jpg'), await solidJpeg(BLUE, 400)),
      fs.writeFile(file('small.jpg'), await solidJpeg(RED, 96)),
      // The first half of a valid JPEG: what an interrupted copy leaves behind.
      fs.writeFile(file('half.jpg'), detailed.subarray(0, Math.floor(detailed.length / 2))),
      fs.writeFile(file('huge.png'), await noise(1400).png({ compressionLevel: 1 }).toBuffer()),
      fs.writeFile(file('dir-big.jpg'), await noise(400).jpeg({ quality: 100 }).toBuffer()),
    ]);
  });
  afterAll(async () => {
    await services?.close();
    await store?.drop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  describe('users add', () => {
    it('adds users with and without a mailbox; refuses a duplicate, a bad UPN and a missing name', async () => {
      const jane = await cli(
        'users',
        'add',
        'jane@contoso.com',
        '--name',
        'Jane Doe',
        '--password',
        'correct horse battery',
      );
      expect(jane).toMatchObject({ code: 0, stderr: '' });
      expect(jane.stdout).toContain('Added jane@contoso.com (Jane Doe).');

      const bob = await cli('users', 'add', 'Bob@Contoso.com', '--name', 'Bob Builder', '--no-mailbox', '--admin');
      expect(bob).toMatchObject({ code: 0, stderr: '' });
      expect(bob.stdout).toContain('Added bob@contoso.com (Bob Builder), without a mailbox, administrator.');
      // Without a password: what to do next, with the UPN as stored (lower case).
      expect(bob.stdout).toContain(
        'No password was given, so this user cannot sign in. Give them one with photosync users password bob@contoso.com.',
      );
      expect(jane.stdout).not.toContain('cannot sign in');

      const again = await cli('users', 'add', 'JANE@contoso.com', '--name', 'Someone Else', '--no-mailbox', '--admin');
      expect(again.code).toBe(1);
      expect(again.stdout).toBe('');
      expect(again.stderr).toContain('A user jane@contoso.com already exists.');
      expect(again.stderr).not.toContain(STACK_FRAME);

      const invalid = await cli('users', 'add', 'not-a-upn', '--name', 'Nobody');
      expect(invalid.code).toBe(2);
      expect(invalid.stdout).toBe('');
      expect(invalid.stderr).toContain('"not-a-upn" is not a valid user principal name');

      const noName = await cli('users', 'add', 'carl@contoso.com', '--password', 'correct horse battery');
      expect(noName.code).toBe(2);
      expect(noName.stdout).toBe('');
      expect(noName.stderr).toContain('Give the display name with --name "Jane Doe".');
      // The usage is the help's: --password is optional.
      expect(noName.stderr).toContain(`\n\nUsage:\n${commandUsage(findCommand(['users', 'add'])!)}\n`);
      expect(noName.stderr).toContain('[--password <password>]');
      expect(noName.stderr).not.toMatch(/[^[]--password <password>/);

      // Only the two good commands changed the directory; the duplicate left Jane as she was.
      const { db } = services.database;
      expect(await findUserByUpn(db, 'jane@contoso.com')).toMatchObject({
        displayName: 'Jane Doe',
        hasMailbox: true,
        isAdmin: false,
        enabled: true,
      });
      expect(await findUserByUpn(db, 'bob@contoso.com')).toMatchObject({
        displayName: 'Bob Builder',
        hasMailbox: false,
        isAdmin: true,
      });
      expect(await findUserByUpn(db, 'carl@contoso.com')).toBeUndefined();
      expect((await db.selectFrom('directory_users').select('upn').orderBy('upn').execute()).map((r) => r.upn)).toEqual(
        ['bob@contoso.com', 'jane@contoso.com'],
      );
    });
  });

  describe('users import', () => {
    it('says a file with no rows holds nobody to import, and exits 1', async () => {
      for (const [name, text] of [
        ['empty.csv', ''],
        ['header-only.csv', 'upn,displayName,password,mailbox,admin\n'],
      ]) {
        await fs.writeFile(file(name!), text!);
        const result = await cli('users', 'import', file(name!));
        expect(result.code, name).toBe(1);
        expect(result.stderr).toContain('holds no users to import: it is empty, or has only a header line');
        expect(result.stdout).toBe('');
      }
    });

    it('imports the good rows, reports each bad row by line and exits 1; a file without a header works too', async () => {
      const { db } = services.database;
      await createUser(db, { upn: 'existing@import.test', displayName: 'Existing One' });
      const before = await countUsers(db);
      await fs.writeFile(
        file('users.csv'),
        [
          'upn,displayName,password,mailbox,admin', // 1
          'anna@import.test,Anna Andersson,correct horse battery,true,false', // 2
          'not a upn,Bad Upn,,,', // 3
          'carl@import.test,Carl Carlsson,,maybe,', // 4
          'ANNA@import.test,Anna Again,,,', // 5
          'dora@import.test,Dora D,,no,yes,extra', // 6
          'existing@import.test,Existing Again,,false,true', // 7
          '', // 8: a blank line is skipped but still counted
          'erik@import.test,"Erik, the Red",,0,1', // 9
          '',
        ].join('\n'),
      );
      const withHeader = await cli('users', 'import', file('users.csv'));
      expect(withHeader.code).toBe(1);
      expect(withHeader.stdout).toContain('Imported 2 users; skipped 5.');
      expect(withHeader.stderr).not.toContain(STACK_FRAME);
      const skipped = skippedLines(withHeader.stderr);
      expect([...skipped.keys()]).toEqual([3, 4, 5, 6, 7]);
      expect(skipped.get(3)).toContain('"not a upn" is not a valid user principal name');
      expect(skipped.get(4)).toContain(
        'mailbox must be yes/no, y/n, true/false, 1/0 or jah/ei (empty means yes); got "maybe".',
      );
      expect(skipped.get(5)).toContain('anna@import.test already appears on line 2');
      expect(skipped.get(6)).toContain('has 6 columns');
      expect(skipped.get(7)).toContain('A user existing@import.test already exists.');

      await fs.writeFile(
        file('no-header.csv'),
        'fred@import.test,Fred Fredriksson\r\ngina@import.test,Gina G,,false\r\n',
      );
      const noHeader = await cli('users', 'import', file('no-header.csv'));
      expect(noHeader.code, noHeader.stderr).toBe(0);
      expect(noHeader.stdout).toContain('Imported 2 users; skipped 0.');
      expect(skippedLines(noHeader.stderr).size).toBe(0);
      // The same sheet again: with --skip-existing those there already are no mistake.
      const again = await cli('users', 'import', file('no-header.csv'), '--skip-existing');
      expect([again.code, again.stdout.trim(), skippedLines(again.stderr).size]).toEqual([
        0,
        'Imported 0 users; 2 already in the directory (left as they are); skipped 0.',
        0,
      ]);
      const withoutFlag = await cli('users', 'import', file('no-header.csv'));
      expect([withoutFlag.code, skippedLines(withoutFlag.stderr).size]).toEqual([1, 2]);

      // Exactly the four good rows were added; the user that was there is unchanged.
      expect(await countUsers(db)).toBe(before + 4);
      const statuses = (await statusJson()).filter((s) => s.upn.endsWith('@import.test'));
      expect(statuses.map((s) => [s.upn, s.displayName, s.state])).toEqual([
        ['anna@import.test', 'Anna Andersson', 'no_photo'],
        ['erik@import.test', 'Erik, the Red', 'no_mailbox'],
        ['existing@import.test', 'Existing One', 'no_photo'],
        ['fred@import.test', 'Fred Fredriksson', 'no_photo'],
        ['gina@import.test', 'Gina G', 'no_mailbox'],
      ]);
      expect(await findUserByUpn(db, 'erik@import.test')).toMatchObject({ isAdmin: true, hasMailbox: false });
      expect(await findUserByUpn(db, 'existing@import.test')).toMatchObject({ isAdmin: false, hasMailbox: true });
    });

    it('reads the columns in the order a header gives them; a row without a display name says so', async () => {
      await fs.writeFile(
        file('reordered.csv'),
        [
          'displayName,admin,UPN', // 1
          'Liis Lepp,no,liis@order.test', // 2
          'Mart Mets,yes,mart@order.test,extra', // 3
        ].join('\n'),
      );
      const reordered = await cli('users', 'import', file('reordered.csv'));
      expect(reordered.stdout).toContain('Imported 1 user; skipped 1.');
      expect(skippedLines(reordered.stderr).get(3)).toContain('has 4 columns; the header names 3.');
      expect(await findUserByUpn(services.database.db, 'liis@order.test')).toMatchObject({
        displayName: 'Liis Lepp',
        isAdmin: false,
        hasMailbox: true,
      });

      await fs.writeFile(file('unknown-column.csv'), 'upn,name\nnora@order.test,Nora N\n');
      const unknown = await cli('users', 'import', file('unknown-column.csv'));
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('line 1: the header names a column "name"; the columns are upn, displayName');
      expect(await findUserByUpn(services.database.db, 'nora@order.test')).toBeUndefined();

      await fs.writeFile(file('upn-only.csv'), 'olev@order.test\n');
      const upnOnly = await cli('users', 'import', file('upn-only.csv'));
      expect(skippedLines(upnOnly.stderr).get(1)).toContain('has no display name (the second column');
      // The other tests count the users here.
      await deleteUser(services.database.db, (await findUserByUpn(services.database.db, 'liis@order.test'))!);
    });

    it('names the line a row starts on, in a file with Windows line breaks and a quoted line break', async () => {
      await fs.writeFile(
        file('windows.csv'),
        [
          'upn,displayName,password,mailbox,admin', // 1
          'hanna@lines.test,"Hanna\r\nHansson",,,', // 2-3: a line break in a quoted name
          'ivo@lines.test,Ivo I,,maybe,', // 4
          '', // 5
          'juta@lines.test,Juta J,,,sometimes', // 6
          'kai at lines.test,Kai K,,,', // 7
          '',
        ].join('\r\n'),
      );
      const result = await cli('users', 'import', file('windows.csv'));
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('Imported 0 users; skipped 4.');
      const skipped = skippedLines(result.stderr);
      expect([...skipped.keys()]).toEqual([2, 4, 6, 7]);
      expect(skipped.get(2)).toContain('The display name cannot contain line breaks');
      expect(skipped.get(4)).toContain('got "maybe"');
      expect(skipped.get(6)).toContain('got "sometimes"');
      expect(skipped.get(7)).toContain('"kai at lines.test" is not a valid user principal name');
    });

    it('reads a file that separates its columns with semicolons, as Excel saves CSV in Estonian and other locales', async () => {
      await fs.writeFile(
        file('semicolons.csv'),
        '\ufeffupn;displayName;password;mailbox;admin\r\nmari@semicolon.test;"Maasikas, Mari";;jah;EI\r\nmart@semicolon.test;Mart M;;no;yes\r\n',
      );
      const result = await cli('users', 'import', file('semicolons.csv'));
      // Estonian jah/ei are yes and no, as such a sheet has them.
      expect(skippedLines(result.stderr).size).toBe(0);
      expect(result.stdout).toContain('Imported 2 users; skipped 0.');
      expect(await findUserByUpn(services.database.db, 'mari@semicolon.test')).toMatchObject({
        displayName: 'Maasikas, Mari',
        hasMailbox: true,
        isAdmin: false,
      });
      expect(await findUserByUpn(services.database.db, 'mart@semicolon.test')).toMatchObject({
        displayName: 'Mart M',
        hasMailbox: false,
        isAdmin: true,
      });
      // The status summary below counts the users of the other imports only.
      expect((await cli('users', 'remove', 'mart@semicolon.test')).code).toBe(0);
      expect((await cli('users', 'remove', 'mari@semicolon.test')).code).toBe(0);
    });

    it('counts its progress in exact percentages and says which mailbox and admin values it accepts', async () => {
      await fs.writeFile(
        file('four.csv'),
        [
          'x1@progress.test,Xena One,,maybe,',
          'x2@progress.test,Xena Two,,,sometimes',
          'not a upn,Xena Three,,,',
          'x4@progress.test,Xena Four,,yes,no,extra',
        ].join('\n'),
      );
      const result = await cli('users', 'import', file('four.csv'));
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('Imported 0 users; skipped 4.');
      const progress = [...result.stderr.matchAll(/^Importing users (.*)$/gm)].map((m) => m[1]);
      expect(progress).toEqual(['25% (1/4)', '50% (2/4)', '75% (3/4)', '100% (4/4)']);
      const skipped = skippedLines(result.stderr);
      expect(skipped.get(1)).toBe(
        'mailbox must be yes/no, y/n, true/false, 1/0 or jah/ei (empty means yes); got "maybe".',
      );
      expect(skipped.get(2)).toBe(
        'admin must be yes/no, y/n, true/false, 1/0 or jah/ei (empty means no); got "sometimes".',
      );
      expect(await findUserByUpn(services.database.db, 'x1@progress.test')).toBeUndefined();
    });
  });

  describe('mail photo and sync', () => {
    let etag = '';

    it('sets the mail photo: never synced with that ETag, then synced, then unchanged', async () => {
      const set = await cli('photo', 'set', 'jane@contoso.com', file('red.jpg'));
      expect(set.code, set.stderr).toBe(0);
      const match = /ETag "([^"]+)"/.exec(set.stdout);
      expect(match, set.stdout).not.toBeNull();
      etag = match?.[1] ?? '';

      expect(statusOf(await statusJson(), 'jane@contoso.com')).toMatchObject({
        state: 'never_synced',
        mailEtag: etag,
        syncedEtag: null,
      });

      const first = await cli('sync', 'jane@contoso.com');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/^jane@contoso\.com: synced in [\d.]+ ms/m);
      expect(first.stdout).toContain(`none -> ${etag}`);
      expect(first.stdout).toContain('The sites took the current mail photo.');

      const second = await cli('sync', 'jane@contoso.com');
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toMatch(/^jane@contoso\.com: unchanged in [\d.]+ ms/m);
      expect(second.stdout).toContain('The sites already showed the mail photo; nothing was written.');
    });

    it('refuses a damaged image, a file over 4 MB and a missing file, with a message and no change', async () => {
      const damaged = await cli('photo', 'set', 'jane@contoso.com', file('half.jpg'));
      expect(damaged.code).toBe(1);
      expect(damaged.stdout).toBe('');
      expect(damaged.stderr).toMatch(/^photosync: .*half\.jpg.*(damaged|incomplete|could not be read)/m);
      expect(damaged.stderr).not.toContain(STACK_FRAME);

      expect((await fs.stat(file('huge.png'))).size).toBeGreaterThan(4 * 1024 * 1024);
      const huge = await cli('photo', 'set', 'jane@contoso.com', file('huge.png'));
      expect(huge.code).toBe(1);
      expect(huge.stderr).toMatch(/huge\.png is [\d.]+ MB; the limit is 4\.0 MB/);
      expect(huge.stderr).not.toContain(STACK_FRAME);

      const missing = await cli('photo', 'set', 'jane@contoso.com', file('no-such-photo.jpg'));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(`There is no file ${file('no-such-photo.jpg')}.`);
      expect(missing.stderr).not.toContain(STACK_FRAME);

      // None of the refusals touched the photo: still the one set before, and in step after the syncs.
      expect(statusOf(await statusJson(), 'jane@contoso.com')).toMatchObject({
        state: 'in_step',
        mailEtag: etag,
        syncedEtag: etag,
        lastOutcome: 'unchanged',
      });
    });

    it('removes the mail photo: the next sync takes the placeholder to the sites', async () => {
      const remove = await cli('photo', 'remove', 'jane@contoso.com');
      expect(remove.code, remove.stderr).toBe(0);
      expect(remove.stdout).toContain('Removed the mail photo of jane@contoso.com.');

      const sync = await cli('sync', 'jane@contoso.com');
      expect(sync.code, sync.stderr).toBe(0);
      expect(sync.stdout).toMatch(/^jane@contoso\.com: removed in [\d.]+ ms/m);
      expect(sync.stdout).toContain(`${etag} -> none`);

      const jane = await findUserByUpn(services.database.db, 'jane@contoso.com');
      expect(await getSiteProfile(services.database.db, jane!.id)).toMatchObject({
        placeholderState: 1,
        syncedEtag: null,
      });
      expect(await getRendition(services.database.db, jane!.id, 'M')).toBeUndefined();
      // status --json shows no_photo: checked with the others in the status test below.
    });
  });

  describe('directory and site photos', () => {
    it('stores a directory photo that never reaches the sites, and refuses one over 100 KB', async () => {
      const dora = await createUser(services.database.db, { upn: 'dora@contoso.com', displayName: 'Dora Directory' });

      const set = await cli('directory-photo', 'set', 'dora@contoso.com', file('small.jpg'));
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toContain('Directory photo (thumbnailPhoto) of dora@contoso.com set.');
      const stored = await getDirectoryPhoto(services.database.db, dora.id);
      expect(stored).toBeDefined();

      expect((await fs.stat(file('dir-big.jpg'))).size).toBeGreaterThan(100 * 1024);
      const big = await cli('directory-photo', 'set', 'dora@contoso.com', file('dir-big.jpg'));
      expect(big.code).toBe(1);
      expect(big.stderr).toMatch(/dir-big\.jpg is \d+ KB; the limit is 100 KB/);
      expect(big.stderr).not.toContain(STACK_FRAME);
      expect(await getDirectoryPhoto(services.database.db, dora.id)).toEqual(stored);

      const sync = await cli('sync', 'dora@contoso.com');
      expect(sync.code, sync.stderr).toBe(0);
      expect(sync.stdout).toMatch(/^dora@contoso\.com: no_photo in [\d.]+ ms/m);
      for (const size of ['S', 'M', 'L'] as const) {
        expect(await getRendition(services.database.db, dora.id, size)).toBeUndefined();
      }
    });

    it('uploads a site picture for a user without a mailbox, which becomes their M picture', async () => {
      const set = await cli('site-photo', 'set', 'bob@contoso.com', file('blue.jpg'));
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toContain('Site picture of bob@contoso.com set.');

      const bob = await findUserByUpn(services.database.db, 'bob@contoso.com');
      expect(await getSiteProfile(services.database.db, bob!.id)).toMatchObject({
        placeholderState: 0,
        exchangeSyncState: 0,
        pictureSource: 'upload',
      });
      const m = await getRendition(services.database.db, bob!.id, 'M');
      expect(m?.side).toBe(72);
      const bytes = m && (await services.blobs.get(m.blobKey));
      expect(bytes).toBeDefined();
      expect(closeTo(await meanColour(bytes!), BLUE)).toBe(true);
    });
  });

  describe('tokens and status', () => {
    it('creates a bearer token, alone on the last line, that the server accepts', async () => {
      const created = await cli('token', 'create', 'jane@contoso.com');
      expect(created.code, created.stderr).toBe(0);
      const lines = created.stdout.trimEnd().split('\n');
      expect(lines.length).toBeGreaterThan(1);
      const token = lines.at(-1) ?? '';
      expect(token).toMatch(/^\S{20,}$/);

      const app = await buildApp(services);
      try {
        const url = '/_layouts/15/userphoto.aspx?size=M&accountname=bob@contoso.com';
        const ok = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        expect(ok.statusCode).toBe(200);
        expect(ok.headers['content-type']).toMatch(/^image\/jpeg/);
        // Bob's uploaded picture (set with site-photo above), not the placeholder.
        const meta = await sharp(ok.rawPayload).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 72, 72]);
        expect(closeTo(await meanColour(ok.rawPayload), BLUE)).toBe(true);

        const wrong = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}x` } });
        expect(wrong.statusCode).toBe(401);
      } finally {
        await app.close();
      }
    });

    it('prints status as a table with a summary, and as JSON', async () => {
      const text = await cli('status');
      expect(text.code, text.stderr).toBe(0);
      const [header, rule, ...rows] = text.stdout.split('\n');
      expect(header).toMatch(/^USER\s+STATE\s+MAIL ETAG/);
      expect(rule).toMatch(/^-+ +-+/);
      expect(rows.find((l) => l.startsWith('bob@contoso.com'))).toMatch(/\bno mailbox\b/);
      expect(rows.find((l) => l.startsWith('jane@contoso.com'))).toMatch(/\bno mail photo\b/);
      // bob, dora, jane and the five imported users.
      const summary = rows.find((l) => /^\d+ users:/.test(l));
      expect(summary).toMatch(/^8 users: .*\.$/);
      expect(summary).toContain('5 no mail photo');
      expect(summary).toContain('3 no mailbox');

      const statuses = await statusJson();
      expect(statuses).toHaveLength(8);
      expect(statuses.filter((s) => s.upn.endsWith('@contoso.com')).map((s) => [s.upn, s.state])).toEqual([
        ['bob@contoso.com', 'no_mailbox'],
        ['dora@contoso.com', 'no_photo'],
        ['jane@contoso.com', 'no_photo'],
      ]);
      expect(statusOf(statuses, 'jane@contoso.com')).toMatchObject({
        mailEtag: null,
        syncedEtag: null,
        lastOutcome: 'removed',
      });
      expect(statusOf(statuses, 'dora@contoso.com')).toMatchObject({ mailEtag: null, lastOutcome: 'no_photo' });
    });
  });

  describe('usage', () => {
    it('answers an unknown command with usage and exit 2, and --help with usage and exit 0', async () => {
      const unknown = await cli('frobnicate', 'now');
      expect(unknown.code).toBe(2);
      expect(unknown.stdout).toBe('');
      expect(unknown.stderr).toContain('Unknown command "frobnicate now".\nThe commands are: serve, users, photo,');
      expect(unknown.stderr).toContain('Run "photosync --help" to see what each does.');
      // Not every command's usage: a mistyped word is told in three lines.
      expect(unknown.stderr).not.toContain('Usage:');
      const typo = await cli('stauts');
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain('photosync: Unknown command "stauts". Did you mean "status"?');
      expect((await cli('usres', 'add')).stderr).toContain('Did you mean "users"?');

      const help = await cli('--help');
      expect(help).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toContain('Usage:');
      expect(help.stdout).toContain('photosync users import <file.csv>');
      expect(help.stdout).toContain('photosync --version prints the version.');
      const { version } = JSON.parse(await fs.readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
        version: string;
      };
      for (const flag of ['--version', '-V']) {
        expect(await cli(flag)).toEqual({ code: 0, stdout: `photosync ${version}\n`, stderr: '' });
      }
      expect(await cli('--version', 'extra')).toMatchObject({
        code: 2,
        stderr: 'photosync: photosync --version takes nothing else; got extra.\n',
      });

      const topics = ['users', 'photo', 'maintenance', 'm365', 'token', 'apps'];
      for (const topic of topics) {
        // A topic alone needs one of its subcommands: those, and nothing else, are listed.
        const alone = await cli(topic);
        expect(alone.code, topic).toBe(2);
        expect(alone.stdout).toBe('');
        expect(alone.stderr).toContain(`photosync: "${topic}" needs a subcommand.`);
        expect(alone.stderr).not.toContain('Unknown command');
        const listed = [...alone.stderr.matchAll(/^ {2}photosync (\S+) (\S+)/gm)].map((m) => m[1]);
        expect(listed.length, alone.stderr).toBeGreaterThan(0);
        expect(new Set(listed), alone.stderr).toEqual(new Set([topic]));
        // Its --help is the same list on standard output.
        const help = await cli(topic, '--help');
        expect(help).toMatchObject({ code: 0, stderr: '' });
        expect(help.stdout).toContain(alone.stderr.slice(alone.stderr.indexOf('Usage:')));
        expect(help.stdout).not.toContain('photosync serve');
      }
      const users = await cli('users');
      expect(users.stderr).toContain('photosync users add <upn> --name <display name> [--password <password>]');
      expect(users.stderr).toMatch(/^ {2}photosync users disable <upn> +no sign-in/m);
      expect(users.stderr).toContain('photosync users revoke-sessions <upn>');
      expect(users.stderr).not.toContain('photosync photo set');
      expect((await cli('help', 'm365')).stdout).toBe((await cli('m365', '--help')).stdout);
      const wrongSub = await cli('users', 'frobnicate', 'jane@contoso.com');
      expect(wrongSub.code).toBe(2);
      expect(wrongSub.stderr).toContain('photosync: "users" has no subcommand "frobnicate".');
      expect(wrongSub.stderr).toContain('photosync users remove <upn>');
      expect(wrongSub.stderr).not.toContain('photosync apps list');

      // An unexpected word: which one, and the command's own usage (not every command's).
      const extra = await cli('status', 'now');
      expect(extra).toMatchObject({ code: 2, stdout: '' });
      expect(extra.stderr).toContain('photosync status takes no arguments; "now" was not expected.');
      expect(extra.stderr).toContain(
        '\n\nUsage:\n  photosync status [--out-of-step] [--state <state>]… [--user <upn>] [--json]',
      );
      expect(extra.stderr).not.toContain('photosync users add');
      const third = await cli('photo', 'set', 'jane@contoso.com', file('red.jpg'), 'now');
      expect(third.code).toBe(2);
      expect(third.stderr).toContain('photosync photo set takes two arguments, <upn> <image>; "now" was not expected.');
      expect(third.stderr).toContain('Usage:\n  photosync photo set <upn> <image>');
      expect(third.stderr).not.toContain('photosync status');
      const two = await cli('users', 'remove', 'a@contoso.com', 'b@contoso.com', 'c@contoso.com');
      expect(two.stderr).toContain(
        'photosync users remove takes one argument, <upn>; "b@contoso.com" and "c@contoso.com" were not expected.',
      );
      // A missing argument is told with the command's usage, the same lines as its --help.
      const missing = [
        ['users', 'add'],
        ['users', 'import'],
        ['users', 'disable'],
        ['photo', 'set', 'jane@contoso.com'],
        ['sync'],
        ['token', 'revoke'],
        ['apps', 'add'],
        ['apps', 'add', 'My app'],
        ['apps', 'remove'],
        ['apps', 'remove-certificate', 'some-client-id'],
        ['backup'],
      ];
      for (const line of missing) {
        const result = await cli(...line);
        const spec = findCommand(line)!;
        expect(result, line.join(' ')).toMatchObject({ code: 2, stdout: '' });
        expect(result.stderr, line.join(' ')).toMatch(/^photosync: \S.*\.\n\nUsage:\n/);
        expect(result.stderr, line.join(' ')).toContain(`\n\nUsage:\n${commandUsage(spec)}\n`);
        expect((await cli(...line.slice(0, spec.name.split(' ').length), '--help')).stdout).toBe(
          `Usage:\n${commandUsage(spec)}\n`,
        );
      }
      const appWithoutScopes = await cli('apps', 'add', 'My app');
      expect(appWithoutScopes.stderr).toContain('Give the scopes with --scopes');
      expect(appWithoutScopes.stderr).toContain(
        'photosync apps add <name> --scopes <scopes> [--certificate <cert.pem>]… [--redirect-uri <uri>]…',
      );

      // Options: plain sentences, never the argument parser's own words.
      const option = await cli('status', '--colour');
      expect(option).toMatchObject({ code: 2, stdout: '' });
      expect(option.stderr).toContain('photosync: photosync status has no option --colour.\n\nUsage:\n');
      expect(option.stderr).toContain('photosync status [--out-of-step] [--state <state>]… [--user <upn>] [--json]');
      const bogus = await cli('users', 'add', 'carl@contoso.com', '--name', 'Carl', '--bogus');
      expect(bogus.code).toBe(2);
      expect(bogus.stderr).toContain(
        'photosync users add has no option --bogus. A value that begins with "-" goes after "--".\n\nUsage:\n  photosync users add <upn>',
      );
      // An option or help written with one dash is told so, never taken as a value.
      for (const [line, told] of [
        [['backup', '-help'], 'photosync backup has no option -help: write --help.'],
        [['status', '-json'], 'photosync status has no option -json: write --json.'],
        [
          ['users', 'add', 'carl@contoso.com', '-name', 'Carl'],
          'photosync users add has no option -name: write --name.',
        ],
      ] as const) {
        const oneDash = await cli(...line);
        expect(oneDash, line.join(' ')).toMatchObject({ code: 2, stdout: '' });
        expect(oneDash.stderr, line.join(' ')).toContain(`photosync: ${told}\n\nUsage:\n`);
      }
      const short = await cli('status', '-x');
      expect(short.stderr).toContain('photosync status has no option -x.');
      // photosync has no one-letter options but -h: a longer word that starts with one "-" is a value,
      // as an x5t#S256 thumbprint (base64url) may begin; "--" ends the options too.
      const dashThumbprint = '-8mQUzWyuGid1xB_CSlLgOOy2en-XLd9gHIL8gWDZEY';
      for (const line of [
        ['apps', 'remove-certificate', 'no-such-app', dashThumbprint],
        ['apps', 'remove-certificate', '--', 'no-such-app', dashThumbprint],
      ]) {
        const thumbprintWord = await cli(...line);
        expect(thumbprintWord, line.join(' ')).toMatchObject({
          code: 1,
          stderr: `photosync: App no-such-app has no certificate with the thumbprint ${dashThumbprint}.\n`,
        });
      }
      const noValue = await cli('users', 'add', 'carl@contoso.com', '--name');
      expect(noValue.code).toBe(2);
      expect(noValue.stderr).toContain('photosync: --name needs a value, e.g. --name "Jane Doe".\n\nUsage:\n');
      const dashValue = await cli('users', 'add', 'carl@contoso.com', '--name', '--admin');
      expect(dashValue.code).toBe(2);
      expect(dashValue.stderr).toContain('--name needs a value, e.g. --name "Jane Doe".');
      const lastHost = await cli('dev-cert', '--host', 'a.test', '--host');
      expect(lastHost.stderr).toContain('--host needs a value, e.g. --host photos.contoso.com.');
      const flagValue = await cli('status', '--json=yes');
      expect(flagValue.code).toBe(2);
      expect(flagValue.stderr).toContain('photosync: --json takes no value: write just --json.');
      for (const refused of [option, bogus, short, noValue, dashValue, lastHost, flagValue]) {
        expect(refused.stderr).not.toMatch(/Unknown option|argument missing|ambiguous|positional argument|'--/);
      }
      expect(await findUserByUpn(services.database.db, 'carl@contoso.com')).toBeUndefined();
    });
  });
});

it('a command that reads photosync refuses a data folder with no database, and leaves nothing there [sqlite]', async () => {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-cli-'));
  try {
    // A mistyped PHOTOSYNC_DATA_DIR, or the default ./data of another folder.
    const env = { PHOTOSYNC_DATA_DIR: path.join(work, 'dta'), PHOTOSYNC_DEMO: 'false' };
    for (const args of [['status'], ['token', 'list'], ['apps', 'list'], ['sync', 'jane@contoso.com']]) {
      const result = await runCommand(args, env, work);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain(
        `There is no photosync database at ${path.join(work, 'dta', 'photosync.sqlite')}`,
      );
      expect(result.stdout).toBe('');
    }
    expect(await fs.readdir(work)).toEqual([]);
    // Adding the first user makes the database, as serve does.
    const added = await runCommand(['users', 'add', 'jane@contoso.com', '--name', 'Jane Doe'], env, work);
    expect(added.code, added.stderr).toBe(0);
    expect((await runCommand(['status'], env, work)).stdout).toContain('jane@contoso.com');

    // A file where the folder should be: said as that, not as mkdir's EEXIST.
    await fs.writeFile(path.join(work, 'users.csv'), 'upn,name\n');
    const onFile = { ...env, PHOTOSYNC_DATA_DIR: path.join(work, 'users.csv') };
    const refused = await runCommand(['users', 'add', 'kalle@contoso.com', '--name', 'Kalle'], onFile, work);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `photosync: The data folder ${path.join(work, 'users.csv')} is a file, or inside one, not a folder: set PHOTOSYNC_DATA_DIR to a folder (photosync makes one that does not exist).\n`,
    ]);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
});

it('warns when a command runs as another user than the one the database belongs to [sqlite]', async (test) => {
  // Only root can give a file away; elsewhere there is nothing to see.
  if (process.getuid?.() !== 0) return test.skip();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-cli-'));
  try {
    const env = { PHOTOSYNC_DATA_DIR: work, PHOTOSYNC_DEMO: 'false' };
    // The first command makes the database, and says so: it is nobody's yet.
    expect((await runCommand(['users', 'add', 'jane@contoso.com', '--name', 'Jane Doe'], env, work)).stderr).toBe(
      `photosync: created a new database at ${path.join(work, 'photosync.sqlite')}. If a server already runs, it uses another one: set PHOTOSYNC_DATA_DIR (or DATABASE_URL) as that server has it.\n`,
    );
    expect((await runCommand(['users', 'add', 'kalle@contoso.com', '--name', 'Kalle Kask'], env, work)).stderr).toBe(
      '',
    );
    await fs.chown(path.join(work, 'photosync.sqlite'), 65534, 65534);
    const status = await runCommand(['status'], env, work);
    expect(status.code).toBe(0);
    expect(status.stderr).toMatch(
      /^photosync: warning: this command runs as root, and .*photosync\.sqlite belongs to (nobody|user id 65534): photos it writes may be ones the server cannot change later\. Run it as that user \(sudo -u (nobody|user id 65534) …\)\.\n$/,
    );
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
});

describe('the photosync command as a process [sqlite]', () => {
  let store: TestStore;
  let services: Services;
  let work: string;
  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-cli-'));
  });
  afterAll(async () => {
    await services?.close();
    await store?.drop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('runs a command end to end and exits 0; a mistake is a message and exit 1, a usage mistake exit 2', async () => {
    await fs.writeFile(path.join(work, 'red.jpg'), await solidJpeg(RED, 200));
    const added = await spawnCli(['users', 'add', 'jane@contoso.com', '--name', 'Jane Doe'], store.env, work);
    expect(added).toMatchObject({ code: 0, signal: null, stderr: '' });
    const set = await spawnCli(['photo', 'set', 'jane@contoso.com', 'red.jpg'], store.env, work);
    expect(set.code, set.stderr).toBe(0);
    const sync = await spawnCli(['sync', 'jane@contoso.com'], store.env, work);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/^jane@contoso\.com: synced in [\d.]+ ms/m);
    const jane = await findUserByUpn(services.database.db, 'jane@contoso.com');
    expect(await getSiteProfile(services.database.db, jane!.id)).toMatchObject({ pictureSource: 'mail' });

    const missing = await spawnCli(['photo', 'set', 'jane@contoso.com', 'no-such.jpg'], store.env, work);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`There is no file no-such.jpg.`);
    expect(missing.stderr).not.toContain(STACK_FRAME);

    const unknown = await spawnCli(['frobnicate'], store.env, work);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown command "frobnicate"');
  });

  it('refuses to run with an invalid or an unknown setting, naming each', async () => {
    const result = await spawnCli(
      ['status'],
      { ...store.env, PHOTOSYNC_RENDITION_SIZES: 'abc', PHOTOSYNC_FOO: '1' },
      work,
    );
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('PHOTOSYNC_RENDITION_SIZES');
    expect(result.stderr).toContain('"abc"');
    expect(result.stderr).toContain('PHOTOSYNC_FOO is not a photosync setting');
    expect(result.stderr).not.toContain(STACK_FRAME);
  });

  it('answers --help without loading the server, the image library or the database layer', async () => {
    const env = { ...store.env, REFUSE_MODULES: 'fastify,sharp,kysely' };
    const refusing = ['--import', REFUSE_MODULES];
    const help = await spawnCli(['--help'], env, work, refusing);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('photosync users import <file.csv>');
    const usage = await spawnCli(['users', 'add', 'not-a-upn', '--colour'], env, work, refusing);
    expect(usage.code).toBe(2);
    // A missing name or option is told before the database is opened.
    for (const line of [
      ['users', 'add', 'carl@contoso.com'],
      ['apps', 'add', 'My app'],
    ]) {
      const missing = await spawnCli(line, env, work, refusing);
      expect(missing.code, missing.stderr).toBe(2);
      expect(missing.stderr).toContain('Usage:');
    }
    // The same refusal stops a command that needs them, so the check above could have failed.
    const status = await spawnCli(['status'], env, work, refusing);
    expect(status.code).not.toBe(0);
    expect(status.stderr).toMatch(/refused to load (fastify|sharp|kysely)/);
  });
});
