import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { createMailer } from '../src/admin/mailer.js';
import { LEASE_MS, sendDuePromptMails } from '../src/admin/outbox.js';
import { listPrompts, promptUsers } from '../src/admin/prompts.js';
import { buildApp, type App } from '../src/app.js';
import { createSession } from '../src/directory/credentials.js';
import { setUserEnabled } from '../src/directory/revocation.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import type { Services } from '../src/services.js';
import { FormClient } from './support/form-client.js';
import { giveMailPhoto, makeUser, solidJpeg, tokenFor } from './support/factories.js';
import { en } from '../src/web/messages/en.js';
import { et } from '../src/web/messages/et.js';
import {
  createTestStore,
  describeEachDialect,
  openTestServices,
  useTestApp,
  type TestStore,
} from './support/services.js';

interface Received {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on a real port, keeping what it receives. */
async function startSmtp(
  listenOn = 0,
  options: { refuseRecipients?: boolean; beforeAccepting?: () => Promise<void> } = {},
): Promise<{
  port: number;
  received: Received[];
  /** Resolves once `count` messages have arrived. */
  arrived(count: number): Promise<void>;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const waiting: Array<{ count: number; resolve: () => void }> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (!options.refuseRecipients) return callback();
      const refusal = Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 });
      callback(refusal);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', async () => {
        await options.beforeAccepting?.();
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        for (const waiter of waiting.filter((w) => received.length >= w.count)) waiter.resolve();
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(listenOn, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    received,
    arrived: (count) =>
      received.length >= count ? Promise.resolve() : new Promise((resolve) => waiting.push({ count, resolve })),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The message's text, with quoted-printable and encoded-word headers decoded. */
function decode(raw: string): string {
  const bytes = (text: string) =>
    text.replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const words = raw
    .replace(/\?=\s+=\?UTF-8\?Q\?/gi, '')
    .replace(/=\?UTF-8\?Q\?([^?]*)\?=/gi, (_, text: string) => text.replace(/_/g, ' '));
  return Buffer.from(bytes(words.replace(/=\r?\n/g, '')), 'latin1').toString('utf8');
}

describeEachDialect('admin prompt e-mail', (dialect) => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let store: TestStore;
  let services: Services;
  let app: App;
  beforeAll(async () => {
    smtp = await startSmtp();
    store = await createTestStore(dialect);
    services = await openTestServices(store, {
      SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
      PHOTOSYNC_PUBLIC_URL: 'https://photos.contoso.com',
    });
    app = await buildApp(services);
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
    await store?.drop();
    await smtp?.close();
  });

  it("sends each prompted user an e-mail in their language with the article's steps and the portal link", async () => {
    const admin = await makeUser(services, { isAdmin: true });
    const mari = await makeUser(services, { displayName: 'Mari Maasikas' });
    const jane = await makeUser(services, { displayName: 'Jane Doe' });
    for (const user of [mari, jane]) await giveMailPhoto(services, user, await solidJpeg([10, 200, 10], 64));
    // Mari's last portal visit was in Estonian; Jane has never visited (English).
    const browser = new FormClient(app, 'et-EE,et;q=0.9');
    await browser.signIn(mari.upn, 'correct horse battery');
    await browser.request('GET', '/');

    await services.settings.update({ mailFrom: 'photos@contoso.com' }, admin);
    const response = await app.inject({
      method: 'POST',
      url: '/admin/api/prompts',
      headers: { authorization: `Bearer ${await tokenFor(services, admin)}` },
      payload: { upns: [mari.upn, jane.upn] },
    });
    expect(response.json()).toMatchObject({ prompted: 2, email: 'sending' });
    await smtp.arrived(2);
    expect(smtp.received).toHaveLength(2);

    const byRecipient = new Map(smtp.received.map((m) => [m.to.join(','), m]));
    const toMari = byRecipient.get(mari.upn)!;
    const toJane = byRecipient.get(jane.upn)!;
    expect(toMari.from).toBe('photos@contoso.com');
    const estonian = decode(toMari.raw);
    expect(estonian).toContain('Subject: Uuenda oma profiilipilt SharePointis ja OneDrive’is');
    expect(estonian).toContain('Tere, Mari Maasikas!');
    expect(estonian).toContain('1. Ava brauseris privaatne aken.');
    expect(estonian).toContain('2. Mine portaali: https://photos.contoso.com/');
    const english = decode(toJane.raw);
    expect(english).toContain('Subject: Sync your profile picture to SharePoint and OneDrive');
    expect(english).toContain('Hello Jane Doe,');
    expect(english).toContain('1. Open a browser in a private window.');
    expect(english).toContain('href="https://photos.contoso.com/"');

    // Recorded by the background task that sent them, after each send; it exposes no signal.
    await expect
      .poll(
        async () =>
          (
            await services.database.db
              .selectFrom('admin_prompts')
              .select('emailed_at')
              .where('user_id', 'in', [mari.id, jane.id])
              .where('emailed_at', 'is not', null)
              .where('email_error', 'is', null)
              .execute()
          ).length,
        { timeout: 10_000 },
      )
      .toBe(2);
  });
});

describeEachDialect('admin prompts without a mail server', (dialect) => {
  const context = useTestApp(dialect);

  it('warns before asking again without promising an e-mail that is never sent', async () => {
    // SMTP_URL is unset: a prompt is the portal's banner only, and the settings page says so.
    expect(context.services.mailer).toBeUndefined();
    const admin = await makeUser(context.services, { isAdmin: true });
    for (const [language, t] of [
      ['en', en],
      ['et', et],
    ] as const) {
      const jane = await makeUser(context.services, { displayName: `Jane Doe ${language}` });
      await giveMailPhoto(context.services, jane, await solidJpeg([200, 30, 30], 64));
      const browser = new FormClient(context.app, language);
      await browser.signIn(admin.upn, 'correct horse battery');
      const detail = `/admin/users/${encodeURIComponent(jane.upn)}`;
      const asked = await browser.request('POST', '/admin/prompts', {
        _csrf: await browser.csrfToken(detail),
        upn: jane.upn,
        back: 'detail',
      });
      expect(asked.statusCode).toBe(303);
      const page = await browser.request('GET', detail);
      const warning = /<p class="warning" id="asked-before">([^<]*)<\/p>/.exec(page.body)?.[1] ?? '';
      expect(warning, language).toContain(admin.upn);
      // "Asking again sends another e-mail." / "… saadab veel ühe e-kirja.": no e-mail is ever sent.
      expect(warning, language).not.toMatch(/another e-mail|veel ühe e-kirja/);
      expect(page.body, language).toContain(t['admin.detail.prompt']);
    }
  });
});

describeEachDialect('prompt e-mail outbox', (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(async () => {
    await store?.drop();
  });

  /** An app on the store whose mail goes to `port`, retrying after 1 s, 2 s, … up to `tries` tries. */
  async function appSendingTo(port: number, tries: number) {
    const services = await openTestServices(store, {
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      PHOTOSYNC_MAIL_RETRY_SECONDS: '1',
      PHOTOSYNC_MAIL_MAX_TRIES: String(tries),
    });
    const app = await buildApp(services);
    await app.ready();
    return { services, app };
  }

  async function promptOne(services: Services, app: App) {
    const admin = await makeUser(services, { isAdmin: true });
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([10, 200, 10], 64));
    const token = await tokenFor(services, admin);
    const response = await app.inject({
      method: 'POST',
      url: '/admin/api/prompts',
      headers: { authorization: `Bearer ${token}` },
      payload: { upns: [user.upn] },
    });
    expect(response.json()).toMatchObject({ prompted: 1, email: 'sending' });
    const mailOf = async () => {
      const detail = await app.inject({
        method: 'GET',
        url: `/admin/api/users/${encodeURIComponent(user.upn)}`,
        headers: { authorization: `Bearer ${token}` },
      });
      return detail.json<{ prompts: Array<{ mail: { status: string; tries: number; lastError: string | null } }> }>()
        .prompts[0]?.mail;
    };
    // The console's pages take an administrator's session, not a token.
    const session = await createSession(services.database.db, admin.id, 60_000);
    const page = async () =>
      (
        await app.inject({
          method: 'GET',
          url: `/admin/users/${encodeURIComponent(user.upn)}`,
          headers: { cookie: `${SESSION_COOKIE}=${session}` },
        })
      ).body;
    return { user, mailOf, page };
  }

  it('keeps a prompt e-mail while the SMTP server is down, retries it, and sends it once the server is up', async () => {
    // A port with no server on it: every try is refused until the server starts there.
    const probe = await startSmtp();
    const port = probe.port;
    await probe.close();
    const { services, app } = await appSendingTo(port, 10);
    try {
      const { user, mailOf, page } = await promptOne(services, app);
      await expect.poll(async () => (await mailOf())?.status, { timeout: 10_000 }).toBe('retrying');
      expect((await mailOf())?.lastError).toMatch(/ECONNREFUSED|connect/i);
      expect(await page()).toContain('e-mail not sent yet: retrying');

      const smtp = await startSmtp(port);
      try {
        await smtp.arrived(1);
        expect(smtp.received.map((m) => m.to)).toEqual([[user.upn]]);
        await expect.poll(async () => (await mailOf())?.status, { timeout: 10_000 }).toBe('sent');
        expect((await mailOf())?.tries).toBeGreaterThanOrEqual(2);
        expect(await page()).toContain('e-mailed');
        // Sent once: later rounds find nothing due.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(smtp.received).toHaveLength(1);
      } finally {
        await smtp.close();
      }
    } finally {
      await app.close();
      await services.close();
    }
  }, 60_000);

  it('does not send a prompt e-mail still waiting when the user has synced meanwhile', async () => {
    const probe = await startSmtp();
    const port = probe.port;
    await probe.close();
    const { services, app } = await appSendingTo(port, 10);
    try {
      const { user, mailOf, page } = await promptOne(services, app);
      await expect.poll(async () => (await mailOf())?.status, { timeout: 10_000 }).toBe('retrying');
      // The user opens SharePoint from the portal before the mail server is back.
      expect((await services.sync.sync(user, 'sharepoint_tile')).outcome).toBe('synced');
      const smtp = await startSmtp(port);
      try {
        await expect.poll(async () => (await mailOf())?.status, { timeout: 10_000 }).toBe('not_needed');
        expect(smtp.received).toHaveLength(0);
        expect(await page()).toContain('e-mail not sent: the picture was updated first');
      } finally {
        await smtp.close();
      }
    } finally {
      await app.close();
      await services.close();
    }
  }, 60_000);

  it('does not e-mail a prompt still waiting when the account has been disabled meanwhile', async () => {
    const probe = await startSmtp();
    const port = probe.port;
    await probe.close();
    const { services, app } = await appSendingTo(port, 10);
    try {
      const { user, mailOf, page } = await promptOne(services, app);
      await expect.poll(async () => (await mailOf())?.status, { timeout: 10_000 }).toBe('retrying');
      // The account is disabled before the mail server is back: they cannot sign in to act on it.
      expect(await setUserEnabled(services.database.db, user, false)).toBeDefined();
      const smtp = await startSmtp(port);
      try {
        await expect.poll(async () => (await mailOf())?.status, { timeout: 10_000 }).toBe('account_disabled');
        // Later rounds find nothing due either.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(smtp.received).toHaveLength(0);
        expect(await page()).toContain('e-mail not sent: the account was disabled');
      } finally {
        await smtp.close();
      }
    } finally {
      await app.close();
      await services.close();
    }
  }, 60_000);

  it('gives up after the last try and shows the e-mail as failed', async () => {
    const smtp = await startSmtp(0, { refuseRecipients: true });
    const { services, app } = await appSendingTo(smtp.port, 3);
    try {
      const { mailOf, page } = await promptOne(services, app);
      await expect.poll(async () => (await mailOf())?.status, { timeout: 30_000 }).toBe('failed');
      expect(await mailOf()).toMatchObject({ tries: 3, lastError: expect.stringMatching(/550/) as unknown });
      expect(await page()).toContain('e-mail failed after 3 tries');
      expect(smtp.received).toHaveLength(0);
    } finally {
      await app.close();
      await services.close();
      await smtp.close();
    }
  }, 60_000);

  it('sends each mail once when another instance takes over mails whose lease ran out mid-batch', async () => {
    // The first mail is held at the SMTP server until released; meanwhile the claim's lease on the
    // batch runs out (as minutes of a slow server would) and another instance claims what it can.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    const slow = await startSmtp(0, {
      beforeAccepting: async () => {
        if (!first) return;
        first = false;
        await held;
      },
    });
    const mailer = createMailer(`smtp://127.0.0.1:${slow.port}`)!;
    // A store of its own, opened without SMTP_URL: the two outboxes here are the only ones sending.
    const own = await createTestStore(dialect);
    const services = await openTestServices(own);
    const { db } = services.database;
    const deps = {
      db,
      dialect,
      mailer,
      from: () => 'photos@contoso.com',
      publicUrl: () => 'https://photos.contoso.com',
      log: pino({ level: 'silent' }),
      settings: { maxTries: 3, retryMs: 1000 },
    };
    try {
      const admin = await makeUser(services, { isAdmin: true });
      const users = [];
      for (let i = 0; i < 3; i++) {
        const user = await makeUser(services);
        await giveMailPhoto(services, user, await solidJpeg([20 * i, 90, 160], 64));
        users.push(user);
      }
      await promptUsers(db, admin, { upns: users.map((u) => u.upn) }, { email: true });

      const now = Date.now();
      const one = sendDuePromptMails(deps, now);
      await expect.poll(() => slow.received.length + (first ? 0 : 1), { timeout: 10_000 }).toBe(1);
      // The mail on its way had its lease renewed when its send began: the other instance takes
      // the two after it, and the first instance, its lease on them gone, does not send them again.
      expect(await sendDuePromptMails(deps, now + LEASE_MS + 1)).toBe(2);
      release();
      await one;
      const to = slow.received.map((m) => m.to[0]);
      expect(users.map((u) => to.filter((upn) => upn === u.upn).length)).toEqual([1, 1, 1]);
      for (const user of users) {
        const [prompt] = await listPrompts(db, user.id);
        expect(prompt?.emailedAt, user.upn).toBeDefined();
      }
    } finally {
      release();
      mailer.close();
      await slow.close();
      await services.close();
      await own.drop();
    }
  });
});
