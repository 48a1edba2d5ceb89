import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { readProfilePicture } from '../src/m365/sharepoint.js';
import { createTenantSession } from '../src/m365/sessions.js';
import { rememberSignedInUser } from '../src/m365/users.js';
import { comparePictures, pictureFingerprint, watchMedia } from '../src/media/media.js';
import type { Services } from '../src/services.js';
import { FormClient } from './support/form-client.js';
import { CONNECT_PERMISSIONS, startM365Tenant, type M365Tenant, type RegisteredApp } from './support/m365-tenant.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';
import { freePort } from './support/tls-server.js';

// Connect mode's portal against photosync playing the tenant (a `photosync serve` over TLS with
// its demo organisation): a person signs in with their Microsoft 365 account through the tenant's
// authorize endpoint (code + PKCE through MSAL, the ID token verified), and a tile pushes their
// Exchange photo into the tenant's SharePoint before sending them on. The connect-mode photosync
// runs in this process (app.inject) so its history can be read; the tenant is a real server.

const DEMO_PASSWORD = 'photosync-demo';
/** What the sign-in needs besides the app-only permissions: the delegated User.Read. */
const SIGN_IN_PERMISSIONS = [...CONNECT_PERMISSIONS, 'User.Read'];
const CONNECT_URL = 'http://127.0.0.1:3999';
const CALLBACK = `${CONNECT_URL}/signin/microsoft/callback`;

/** A browser's side of the tenant: a cookie jar over real HTTPS, following nothing by itself. */
class TenantBrowser {
  private cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  async get(url: string) {
    return this.send(url, { method: 'GET' });
  }

  async send(url: string, init: RequestInit) {
    const response = await fetch(new URL(url, this.base), {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: this.cookieHeader() },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const [name = '', ...value] = pair.split('=');
      this.cookies.set(name.trim(), value.join('='));
    }
    return response;
  }

  private cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /**
   * Follows an authorize URL through the tenant's sign-in page as `upn` and returns where the
   * tenant sends the browser back (the app's redirect URI with code and state, or an error).
   */
  async signInAt(authorizeUrl: string, upn: string): Promise<URL> {
    const first = await this.get(authorizeUrl);
    if (first.status === 302) return new URL(first.headers.get('location')!);
    const page = await first.text();
    expect(first.status, page).toBe(200);
    const field = (name: string) =>
      new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1]?.replace(/&amp;/g, '&') ?? '';
    const form = new URLSearchParams({ _csrf: field('_csrf'), next: field('next'), upn, password: DEMO_PASSWORD });
    const signedIn = await this.send('/signin', {
      method: 'POST',
      body: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(signedIn.status).toBe(303);
    const back = await this.get(signedIn.headers.get('location')!);
    expect(back.status).toBe(302);
    return new URL(back.headers.get('location')!);
  }
}

/** The connect-mode settings of `app` (and overrides), for services in this process. */
function connectEnv(tenant: M365Tenant, app: RegisteredApp, overrides: Record<string, string> = {}) {
  const env = tenant.connect(app, overrides).env;
  return {
    ...Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('PHOTOSYNC_M365_'))),
    PHOTOSYNC_PUBLIC_URL: CONNECT_URL,
  };
}

/** The Location of a response, as a path for app.inject when it is on the connect-mode app. */
const location = (response: { headers: Record<string, unknown> }) => String(response.headers.location ?? '');

describe('connect mode: signing in with Microsoft 365 and the tiles', { timeout: 180_000 }, () => {
  let tenant: M365Tenant;
  let registered: RegisteredApp;
  let store: TestStore;
  let services: Services;
  let app: App;

  beforeAll(async () => {
    tenant = await startM365Tenant();
    registered = await tenant.registerApp({ permissions: SIGN_IN_PERMISSIONS, redirectUris: [CALLBACK] });
    store = await createTestStore('sqlite');
    services = await openTestServices(store, connectEnv(tenant, registered));
    app = await buildApp(services);
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    await services?.close();
    await store?.drop();
    await tenant?.stop();
  });

  /** Signs `upn` in at the connect-mode portal through the tenant; returns the portal's client. */
  async function signIn(upn: string) {
    const portal = new FormClient(app);
    const page = await portal.request('GET', '/signin');
    expect(page.body).toContain('href="/signin/microsoft"');
    const start = await portal.request('GET', '/signin/microsoft');
    expect(start.statusCode).toBe(302);
    const authorize = new URL(location(start));
    const atTenant = new TenantBrowser(tenant.url);
    const back = await atTenant.signInAt(authorize.toString(), upn);
    expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
    const done = await portal.request('GET', `${back.pathname}${back.search}`);
    return { portal, atTenant, authorize, back, done };
  }

  it('signs a tenant user in: authorization code with PKCE (S256), state and nonce, then the home page with the tiles', async () => {
    const { portal, authorize, done } = await signIn('jane@contoso.com');
    expect(authorize.origin).toBe(tenant.url);
    expect(authorize.pathname).toBe(`/${tenant.tenantId}/oauth2/v2.0/authorize`);
    const query = authorize.searchParams;
    expect(query.get('client_id')).toBe(registered.clientId);
    expect(query.get('redirect_uri')).toBe(CALLBACK);
    expect(query.get('response_type')).toBe('code');
    expect(query.get('code_challenge_method')).toBe('S256');
    expect(query.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(query.get('nonce')).toBeTruthy();
    expect(query.get('state')).toBeTruthy();
    expect(query.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile', 'User.Read']));

    expect(done.statusCode).toBe(303);
    expect(location(done)).toBe('/');
    expect(portal.cookies.get('photosync_m365_session')).toMatch(/^pms_/);
    const home = await portal.request('GET', '/');
    expect(home.statusCode).toBe(200);
    expect(home.body).toContain('Hello, Jane Doe');
    expect(home.body).toContain('action="/m365/launch/sharepoint"');
    expect(home.body).toContain('action="/m365/launch/onedrive"');
    expect(home.body).not.toContain('href="/profile-photo"');
    // The waffle's apps are connect mode's tiles too; Outlook is Microsoft's, not this portal's.
    expect(home.body).toContain('formaction="/m365/launch/sharepoint"');
    expect(home.body).toContain('formaction="/m365/launch/onedrive"');
    expect(home.body).not.toContain('formaction="/launch/');
    expect(home.body).not.toContain('href="/outlook"');
    // A page for this directory's own people sends them to sign in, which sends them home: no loop.
    for (const page of ['/outlook', '/profile-photo', '/_layouts/15/sharepoint.aspx']) {
      const sent = await portal.request('GET', page);
      expect(sent.statusCode, page).toBe(303);
      const signin = await portal.request('GET', location(sent));
      expect([signin.statusCode, location(signin)], page).toEqual([303, '/']);
    }
    // The tiles' forms end at the tenant's sites: the page lets them go there.
    expect(String(home.headers['content-security-policy'])).toContain(`form-action 'self' ${tenant.url}`);

    const user = await services.database.db
      .selectFrom('m365_users')
      .select(['upn', 'display_name'])
      .where('upn', '=', 'jane@contoso.com')
      .executeTakeFirstOrThrow();
    expect(user).toEqual({ upn: 'jane@contoso.com', display_name: 'Jane Doe' });

    // Estonian too, and signing out ends the tenant session.
    const estonian = new FormClient(app, 'et');
    estonian.cookies = new Map(portal.cookies);
    expect((await estonian.request('GET', '/')).body).toContain('Kui avad SharePointi või OneDrive’i siit');
    const token = /name="_csrf" value="([^"]+)"/.exec(home.body)![1]!;
    await portal.request('POST', '/signout', { _csrf: token });
    expect((await portal.request('GET', '/')).statusCode).toBe(303);
  });

  it('refuses a sign-in answer that is not this browser’s, and a code used twice', async () => {
    const { portal, back } = await signIn('kalle@contoso.com');
    // The same answer again: the pending sign-in is gone.
    const again = await portal.request('GET', `${back.pathname}${back.search}`);
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain('data-sign-in-problem="invalid"');

    // Another browser (no pending sign-in of its own) bringing someone's code.
    const other = new FormClient(app);
    await other.request('GET', '/signin/microsoft');
    const forged = new URL(back);
    forged.searchParams.set('state', 'not-this-one');
    const refused = await other.request('GET', `${forged.pathname}${forged.search}`);
    expect(refused.statusCode).toBe(400);
    expect(other.cookies.has('photosync_m365_session')).toBe(false);
    // The page offers the way on: sign in again, or open the sites anyway.
    expect(refused.body).toContain(`href="${tenant.url}/_layouts/15/sharepoint.aspx"`);
  });

  it('pushes the Exchange photo into SharePoint from the SharePoint tile, records it, and sends the user on', async () => {
    const { portal, atTenant } = await signIn('kalle@contoso.com');
    const connection = services.m365!;
    const before = await readProfilePicture(connection.http, connection.settings, 'kalle@contoso.com');
    expect(before.kind === 'profile' && before.placeholderState === 0 && before.pictureUrl !== '').toBe(false);

    const home = await portal.request('GET', '/');
    const token = /name="_csrf" value="([^"]+)"/.exec(home.body)![1]!;
    const decodes: string[] = [];
    const stopCounting = watchMedia((event) => {
      if (event.type === 'decoded') decodes.push(event.source);
    });
    const launched = await portal.request('POST', '/m365/launch/sharepoint', { _csrf: token });
    stopCounting();
    expect(launched.statusCode, launched.body).toBe(303);
    expect(location(launched)).toBe(`${tenant.url}/_layouts/15/sharepoint.aspx`);
    // The downloaded Exchange photo was decoded once for all three sizes (no master made first).
    expect(decodes).toEqual(['upload']);

    const after = await readProfilePicture(connection.http, connection.settings, 'kalle@contoso.com');
    expect(after).toMatchObject({ kind: 'profile', placeholderState: 0, exchangeSyncState: 1 });
    if (after.kind !== 'profile') throw new Error('no profile');
    expect(after.pictureUrl).toMatch(/\/User%20Photos\/Profile%20Pictures\/kalle_contoso_com_MThumb\.jpg(\?t=\d+)?$/);
    expect(after.timestamp).toMatch(/^\d+$/);

    // userphoto.aspx serves the Exchange photo now, to the user's own browser (M: looking does not sync).
    const served = await atTenant.get('/_layouts/15/userphoto.aspx?size=M&accountname=kalle@contoso.com');
    expect(served.status).toBe(200);
    const graph = await connection.tokens.token('graph');
    const exchange = await fetch(`${tenant.url}/v1.0/users/kalle@contoso.com/photos/240x240/$value`, {
      headers: { authorization: `Bearer ${graph}` },
    });
    const [a, b] = await Promise.all([
      pictureFingerprint(Buffer.from(await served.arrayBuffer())),
      pictureFingerprint(Buffer.from(await exchange.arrayBuffer())),
    ]);
    if (!a.ok || !b.ok) throw new Error('unreadable pictures');
    expect(comparePictures(a.fingerprint, b.fingerprint)).toBe('same');

    const history = await services.database.db
      .selectFrom('m365_push_attempts')
      .innerJoin('m365_users', 'm365_users.id', 'm365_push_attempts.user_id')
      .select(['trigger', 'outcome'])
      .where('m365_users.upn', '=', 'kalle@contoso.com')
      .execute();
    expect(history).toEqual([{ trigger: 'sharepoint_tile', outcome: 'synced' }]);

    // OneDrive's tile: the same push (nothing changed, so nothing is written), then the My Site host.
    const onedrive = await portal.request('POST', '/m365/launch/onedrive', { _csrf: token });
    expect(location(onedrive)).toBe(`${tenant.url}/_layouts/15/onedrive.aspx`);
    const latest = await services.database.db
      .selectFrom('m365_push_attempts')
      .select(['trigger', 'outcome'])
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(latest).toEqual({ trigger: 'onedrive_tile', outcome: 'unchanged' });
  });

  it('shows the prompt banner while the user is out of step; its button pushes with trigger prompt', async () => {
    const { portal } = await signIn('admin@contoso.com');
    const db = services.database.db;
    // What a scan found: Alex Admin's Exchange photo changed since SharePoint last took it.
    await db.updateTable('m365_users').set({ state: 'changed' }).where('upn', '=', 'admin@contoso.com').execute();
    const home = await portal.request('GET', '/');
    expect(home.body).toContain('id="prompt-banner"');
    expect(home.body).toContain('data-tenant-state="changed"');
    const banner = /<div class="prompt-banner"[\s\S]*?<\/div>/.exec(home.body)![0];
    expect(banner).toContain('action="/m365/launch/sharepoint"');
    expect(banner).toContain('name="from" value="prompt"');
    const token = /name="_csrf" value="([^"]+)"/.exec(banner)![1]!;
    const launched = await portal.request('POST', '/m365/launch/sharepoint', { _csrf: token, from: 'prompt' });
    expect(location(launched)).toBe(`${tenant.url}/_layouts/15/sharepoint.aspx`);
    const latest = await db
      .selectFrom('m365_push_attempts')
      .innerJoin('m365_users', 'm365_users.id', 'm365_push_attempts.user_id')
      .select(['trigger', 'outcome'])
      .where('m365_users.upn', '=', 'admin@contoso.com')
      .execute();
    expect(latest).toEqual([{ trigger: 'prompt', outcome: 'synced' }]);
    // In step now: no banner.
    const after = await portal.request('GET', '/');
    expect(after.body).not.toContain('id="prompt-banner"');
    expect(after.body).toContain('data-tenant-state="in_step"');
  });

  it('a tile without a tenant session goes to sign in; a form without its token changes nothing', async () => {
    const stranger = new FormClient(app);
    const token = await stranger.csrfToken('/signin');
    const refused = await stranger.request('POST', '/m365/launch/sharepoint', { _csrf: token });
    expect(refused.statusCode).toBe(303);
    expect(location(refused)).toMatch(/^\/signin/);
    const count = async () =>
      Number(
        (
          await services.database.db
            .selectFrom('m365_push_attempts')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const { portal } = await signIn('jane@contoso.com');
    const noToken = await portal.request('POST', '/m365/launch/sharepoint', {});
    // The form came back without its token: sent to sign in again, never on to the sites.
    expect(location(noToken)).not.toContain(tenant.url);
    expect(await count()).toBe(before);
  });

  it('explains a tenant without consent for the sign-in, in both languages, with the sites still offered', async () => {
    const withoutUserRead = await tenant.registerApp({ redirectUris: [CALLBACK] });
    const otherStore = await createTestStore('sqlite');
    const other = await openTestServices(otherStore, connectEnv(tenant, withoutUserRead));
    const otherApp = await buildApp(other);
    try {
      for (const [language, words] of [
        ['en', 'has to grant consent'],
        ['et', 'nõusoleku andma'],
      ] as const) {
        const portal = new FormClient(otherApp, language);
        const start = await portal.request('GET', '/signin/microsoft');
        const back = await new TenantBrowser(tenant.url).signInAt(location(start), 'jane@contoso.com');
        const page = await portal.request('GET', `${back.pathname}${back.search}`);
        expect(page.statusCode).toBe(403);
        expect(page.body).toContain('data-sign-in-problem="consent"');
        expect(page.body).toContain(words);
        expect(page.body).toContain(`href="${tenant.url}/_layouts/15/onedrive.aspx"`);
      }
    } finally {
      await otherApp.close();
      await other.close();
      await otherStore.drop();
    }
  });

  it('explains a tenant that does not answer, for the sign-in and for a tile, with the sites still offered', async () => {
    const nowhere = `https://127.0.0.1:${await freePort()}`;
    const downStore = await createTestStore('sqlite');
    const down = await openTestServices(
      downStore,
      connectEnv(tenant, registered, {
        PHOTOSYNC_M365_AUTHORITY_HOST: nowhere,
        PHOTOSYNC_M365_GRAPH_URL: nowhere,
      }),
      { log: pino({ level: 'silent' }) },
    );
    const downApp = await buildApp(down);
    try {
      const portal = new FormClient(downApp);
      const start = await portal.request('GET', '/signin/microsoft');
      expect(start.statusCode).toBe(503);
      expect(start.body).toContain('data-sign-in-problem="tenant_down"');
      expect(start.body).toContain('Microsoft 365 did not answer');

      // Someone signed in before the tenant went away opens a tile.
      const user = await rememberSignedInUser(down.database.db, {
        id: '00000000-0000-4000-8000-000000000001',
        upn: 'jane@contoso.com',
        displayName: 'Jane Doe',
      });
      portal.cookies.set('photosync_m365_session', await createTenantSession(down.database.db, user.id));
      const home = await portal.request('GET', '/');
      const token = /name="_csrf" value="([^"]+)"/.exec(home.body)![1]!;
      const launched = await portal.request('POST', '/m365/launch/sharepoint', { _csrf: token });
      expect(launched.statusCode).toBe(503);
      expect(launched.body).toContain('data-push-problem="tenant_down"');
      expect(launched.body).toContain(`href="${tenant.url}/_layouts/15/sharepoint.aspx"`);
      const attempts = await down.database.db.selectFrom('m365_push_attempts').select(['trigger', 'outcome']).execute();
      expect(attempts).toEqual([{ trigger: 'sharepoint_tile', outcome: 'failed' }]);
    } finally {
      await downApp.close();
      await down.close();
      await downStore.drop();
    }
  });
});
