import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { beforeAll, expect, it, vi } from 'vitest';
import { createApp, removeApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import {
  findAuthorizationCode,
  findRefreshToken,
  newFamilyId,
  redeemAuthorizationCode,
  REFRESH_REUSE_GRACE_MS,
} from '../src/directory/sign-in-grants.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { bearer } from './support/apps.js';
import { makeUser } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// The authorization code flow with PKCE, refresh tokens and their rotation, as the endpoints
// answer them (the same flow through MSAL and Chromium over TLS is in msal.test.ts). Also: a
// user's token through an app ends with the app, and grants hold only the app's registered scopes.

const REDIRECT = 'https://app.contoso.example/auth/callback';
const PASSWORD = 'correct horse battery';
const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

describeEachDialect('sign-in for apps: authorization code, PKCE, refresh tokens', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let tenant: string;
  beforeAll(async () => {
    ({ services, app } = context);
    tenant = await tenantId(services.database.db);
  });

  const registerApp = (scopes: Parameters<typeof createApp>[2] = ['User.Read', 'ProfilePhoto.Read.All']) =>
    createApp(services.database.db, 'Photo web app', scopes, { redirectUris: [REDIRECT], publicClient: true });
  const authorizeUrl = (params: Record<string, string>) =>
    `/${tenant}/oauth2/v2.0/authorize?${new URLSearchParams({ response_type: 'code', redirect_uri: REDIRECT, ...params })}`;
  const token = (form: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: `/${tenant}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form).toString(),
    });

  /** Signs in through the sign-in page the authorize request shows, and returns the code it gives back. */
  async function signInForCode(browser: FormClient, upn: string, params: Record<string, string>) {
    const page = await browser.request('GET', authorizeUrl(params));
    expect(page.statusCode).toBe(200);
    const next = /name="next" value="([^"]+)"/.exec(page.body)?.[1]?.replaceAll('&amp;', '&');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    expect(next).toMatch(/^\/[^/].*\/oauth2\/v2\.0\/authorize\?/);
    const signedIn = await browser.request('POST', '/signin', { upn, password: PASSWORD, _csrf: csrf!, next: next! });
    expect([signedIn.statusCode, signedIn.headers.location]).toEqual([303, next]);
    const answer = await browser.request('GET', next!);
    expect(answer.statusCode).toBe(302);
    return new URL(String(answer.headers.location));
  }

  it('signs a user in on photosync’s page and answers the app with a code; the code gives tokens once', async () => {
    const registered = await registerApp();
    const user = await makeUser(services);
    const browser = new FormClient(app);
    const { verifier, challenge } = pkce();
    const page = await browser.request(
      'GET',
      authorizeUrl({
        client_id: registered.clientId,
        scope: 'openid profile offline_access User.Read',
        state: 's-1',
        nonce: 'n-1',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        client_info: '1',
      }),
    );
    expect(page.body).toContain('Photo web app');
    // The page's form may end at the app after its redirects.
    expect(page.headers['content-security-policy']).toContain("form-action 'self' https://app.contoso.example");

    const back = await signInForCode(browser, user.upn, {
      client_id: registered.clientId,
      scope: 'openid profile offline_access User.Read',
      state: 's-1',
      nonce: 'n-1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      client_info: '1',
    });
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('state')).toBe('s-1');
    expect(JSON.parse(Buffer.from(back.searchParams.get('client_info')!, 'base64url').toString())).toEqual({
      uid: user.id,
      utid: tenant,
    });
    const code = back.searchParams.get('code')!;

    const redeem = {
      grant_type: 'authorization_code',
      client_id: registered.clientId,
      client_secret: registered.secret,
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      scope: 'openid profile offline_access User.Read',
      client_info: '1',
    };
    expect((await token({ ...redeem, code_verifier: pkce().verifier })).json().error_codes).toEqual([50148]);
    const granted = await token(redeem);
    expect(granted.statusCode).toBe(200);
    const body = granted.json();
    expect(body).toMatchObject({
      token_type: 'Bearer',
      scope: 'User.Read openid profile',
      refresh_token: expect.any(String),
    });
    expect(decodeJwt(body.id_token)).toMatchObject({
      aud: registered.clientId,
      iss: `http://localhost:8080/${tenant}/v2.0`,
      oid: user.id,
      tid: tenant,
      preferred_username: user.upn,
      name: user.displayName,
      nonce: 'n-1',
      ver: '2.0',
    });
    expect(decodeJwt(body.access_token)).toMatchObject({
      aud: 'https://graph.microsoft.com',
      scp: 'User.Read',
      azp: registered.clientId,
    });
    expect(JSON.parse(Buffer.from(body.client_info, 'base64url').toString())).toEqual({ uid: user.id, utid: tenant });
    expect((await app.inject({ url: '/v1.0/me', headers: bearer(body.access_token) })).json().id).toBe(user.id);

    // A second redemption is refused, and what the first one gave ends with it.
    const again = await token(redeem);
    expect([again.statusCode, again.json().error, again.json().error_codes]).toEqual([400, 'invalid_grant', [54005]]);
    const refresh = await token({
      grant_type: 'refresh_token',
      client_id: registered.clientId,
      client_secret: registered.secret,
      refresh_token: body.refresh_token,
      scope: 'User.Read',
    });
    expect(refresh.json().error_codes).toEqual([9002313]);
  });

  it('/authorize takes two resources at once, but not one resource spelt two ways (the code could not be redeemed)', async () => {
    const registered = await registerApp(['User.Read', 'ProfilePhoto.Read.All', 'AllSites.Read']);
    const asked = async (scope: string) => {
      const answer = await new FormClient(app).request('GET', authorizeUrl({ client_id: registered.clientId, scope }));
      return answer.statusCode === 200
        ? 'sign-in page'
        : new URL(String(answer.headers.location)).searchParams.get('error_description');
    };
    expect(await asked('openid User.Read https://contoso-my.sharepoint.com/AllSites.Read')).toBe('sign-in page');
    expect(await asked('openid User.Read https://graph.microsoft.com/ProfilePhoto.Read.All')).toMatch(/^AADSTS28000:/);
  });

  it('a state as long as /authorize takes survives the sign-in page and comes back whole', async () => {
    const registered = await registerApp();
    const user = await makeUser(services);
    // 1,990 characters that are three each once encoded, in a request near photosync's head limit.
    const state = `${'|'.repeat(1990)}é`;
    const back = await signInForCode(new FormClient(app), user.upn, {
      client_id: registered.clientId,
      scope: 'openid offline_access User.Read',
      state,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(back.searchParams.get('state')).toBe(state);
  });

  it('a spent code sent again ends what it gave only from someone who could have redeemed it: its client, with the secret and the verifier', async () => {
    // A web app (no public client flows): its codes are redeemed with the secret.
    const registered = await createApp(services.database.db, 'Photo web app', ['User.Read'], {
      redirectUris: [REDIRECT],
    });
    const user = await makeUser(services);
    const { verifier, challenge } = pkce();
    const code = (
      await signInForCode(new FormClient(app), user.upn, {
        client_id: registered.clientId,
        scope: 'openid offline_access User.Read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })
    ).searchParams.get('code')!;
    const redeem = {
      grant_type: 'authorization_code',
      client_id: registered.clientId,
      client_secret: registered.secret,
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      scope: 'openid offline_access User.Read',
    };
    let refreshToken = (await token(redeem)).json().refresh_token as string;
    const refreshWorks = async () => {
      const refreshed = await token({
        grant_type: 'refresh_token',
        client_id: registered.clientId,
        client_secret: registered.secret,
        refresh_token: refreshToken,
        scope: 'User.Read',
      });
      if (refreshed.statusCode !== 200) return refreshed.json().error_codes[0] as number;
      refreshToken = refreshed.json().refresh_token;
      return 'refreshed';
    };
    // Found somewhere (a log, a Referer): another client id, no secret, no verifier, any address.
    for (const replay of [
      { grant_type: 'authorization_code', client_id: '00000000-0000-0000-0000-000000000000', code, redirect_uri: 'x' },
      { ...redeem, client_secret: 'not the secret' },
      { ...redeem, code_verifier: pkce().verifier },
      { grant_type: 'authorization_code', client_id: registered.clientId, code, redirect_uri: REDIRECT },
      // The verifier without the secret: a web app's code is never redeemed so.
      Object.fromEntries(Object.entries(redeem).filter(([name]) => name !== 'client_secret')),
      // Another redirect URI: no redemption either.
      { ...redeem, redirect_uri: `${REDIRECT}/other` },
    ]) {
      expect((await token(replay)).json().error_codes).toEqual([54005]);
      expect(await refreshWorks()).toBe('refreshed');
    }
    // The code's own client with its secret and verifier (as one who raced the app with a stolen
    // code would be): its sign-in ends.
    expect((await token(redeem)).json().error_codes).toEqual([54005]);
    expect(await refreshWorks()).toBe(9002313);
  });

  it('one code redeemed twice at once: one gets the tokens, the other 54005, and what the first got ends (a replay, however close)', async () => {
    const registered = await createApp(services.database.db, 'Photo web app', ['User.Read'], {
      redirectUris: [REDIRECT],
    });
    const user = await makeUser(services);
    for (let round = 0; round < 5; round++) {
      const code = (
        await signInForCode(new FormClient(app), user.upn, {
          client_id: registered.clientId,
          scope: 'openid offline_access User.Read',
        })
      ).searchParams.get('code')!;
      const redeem = {
        grant_type: 'authorization_code',
        client_id: registered.clientId,
        client_secret: registered.secret,
        code,
        redirect_uri: REDIRECT,
        scope: 'openid offline_access User.Read',
      };
      const answers = await Promise.all([token(redeem), token(redeem)]);
      expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 400]);
      const won = answers.find((answer) => answer.statusCode === 200)!.json();
      expect(answers.find((answer) => answer.statusCode === 400)!.json().error_codes).toEqual([54005]);
      const refreshed = await token({
        grant_type: 'refresh_token',
        client_id: registered.clientId,
        client_secret: registered.secret,
        refresh_token: won.refresh_token,
        scope: 'User.Read',
      });
      expect(refreshed.statusCode).toBe(400);
    }
  });

  it('the redemption that finds the code taken after both looked it up ends what the first got (the race itself)', async () => {
    const registered = await createApp(services.database.db, 'Photo web app', ['User.Read'], {
      redirectUris: [REDIRECT],
    });
    const user = await makeUser(services);
    const code = (
      await signInForCode(new FormClient(app), user.upn, {
        client_id: registered.clientId,
        scope: 'openid offline_access User.Read',
      })
    ).searchParams.get('code')!;
    const { db } = services.database;
    // Both looked the code up and found it unused; then each marks it.
    const found = await findAuthorizationCode(db, code);
    if (!found.ok) throw new Error('the code should be unused');
    const grant = (familyId: string) => ({
      familyId,
      clientId: registered.clientId,
      userId: user.id,
      scope: found.grant.scope,
      publicClient: false,
    });
    const first = newFamilyId();
    const won = await redeemAuthorizationCode(db, found.hash, first, grant(first));
    if (!won || !won.refreshToken) throw new Error('the first redemption should win');
    expect((await findRefreshToken(db, won.refreshToken, registered.clientId)).ok).toBe(true);
    const second = newFamilyId();
    expect(await redeemAuthorizationCode(db, found.hash, second, grant(second))).toBe(false);
    expect((await findRefreshToken(db, won.refreshToken, registered.clientId)).ok).toBe(false);
  });

  it('a code asked for without a challenge is not redeemed with a verifier (RFC 9700: no PKCE downgrade)', async () => {
    const registered = await createApp(services.database.db, 'Photo web app', ['User.Read'], {
      redirectUris: [REDIRECT],
    });
    const user = await makeUser(services);
    const code = (
      await signInForCode(new FormClient(app), user.upn, {
        client_id: registered.clientId,
        scope: 'openid User.Read',
      })
    ).searchParams.get('code')!;
    const redeem = {
      grant_type: 'authorization_code',
      client_id: registered.clientId,
      client_secret: registered.secret,
      code,
      redirect_uri: REDIRECT,
    };
    const refused = await token({ ...redeem, code_verifier: pkce().verifier });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: 'invalid_grant', error_codes: [50148] });
    expect(refused.json().error_description).toContain('no code_challenge');
    // Refused before the code was marked: the app that asked for it still redeems it.
    expect((await token(redeem)).statusCode).toBe(200);
  });

  it('rotates refresh tokens; a public client’s spent one is taken again for a minute (requests at once), later it ends the whole sign-in; revocation ends it too', async () => {
    const registered = await registerApp();
    const user = await makeUser(services);
    const browser = new FormClient(app);
    const { verifier, challenge } = pkce();
    const params = {
      client_id: registered.clientId,
      scope: 'openid offline_access User.Read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };
    const code = (await signInForCode(browser, user.upn, params)).searchParams.get('code')!;
    // A public client (no secret) may redeem a PKCE code and refresh without credentials.
    const first = (
      await token({
        grant_type: 'authorization_code',
        client_id: registered.clientId,
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        scope: params.scope,
      })
    ).json();
    const refresh = (refreshToken: string, scope = 'User.Read offline_access') =>
      token({ grant_type: 'refresh_token', client_id: registered.clientId, refresh_token: refreshToken, scope });
    const second = await refresh(first.refresh_token);
    expect(second.statusCode).toBe(200);
    expect(second.json().refresh_token).not.toBe(first.refresh_token);
    const third = await refresh(second.json().refresh_token);
    expect(third.statusCode).toBe(200);
    // The first token was spent, but a moment ago: an app's requests sent at once carry the same
    // token (MSAL refreshes each scope on its own), and each gets a next one of its own.
    const atOnce = await Promise.all([refresh(first.refresh_token), refresh(first.refresh_token, 'openid')]);
    expect(atOnce.map((answer) => answer.statusCode)).toEqual([200, 200]);
    expect(new Set(atOnce.map((answer) => answer.json().refresh_token)).size).toBe(2);
    // Used again past the grace: a replay, and the newest tokens die with it.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + REFRESH_REUSE_GRACE_MS + 1_000);
      // Sent with another client id (anyone who found it), it is refused and ends nothing.
      const elsewhere = await token({
        grant_type: 'refresh_token',
        client_id: '00000000-0000-0000-0000-000000000000',
        refresh_token: first.refresh_token,
        scope: 'User.Read',
      });
      expect(elsewhere.json().error_codes).toEqual([50173]);
      expect((await refresh(atOnce[1]!.json().refresh_token)).statusCode).toBe(200);
      const replay = await refresh(first.refresh_token);
      expect([replay.json().error, replay.json().error_codes]).toEqual(['invalid_grant', [50173]]);
      expect((await refresh(third.json().refresh_token)).json().error_codes).toEqual([9002313]);
      expect((await refresh(atOnce[0]!.json().refresh_token)).json().error_codes).toEqual([9002313]);
    } finally {
      vi.useRealTimers();
    }

    // A fresh sign-in, then the operator revokes the user's sessions.
    const code2 = (await signInForCode(new FormClient(app), user.upn, params)).searchParams.get('code')!;
    const fresh = (
      await token({
        grant_type: 'authorization_code',
        client_id: registered.clientId,
        code: code2,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        scope: params.scope,
      })
    ).json();
    const { revokeSessionsCommand } = await import('../src/cli/commands/sign-in.js');
    expect(await revokeSessionsCommand(services, user.upn)).toMatch(/^Ended 1 refresh token/);
    expect((await refresh(fresh.refresh_token)).json().error).toBe('invalid_grant');
  });

  it('redeems a PKCE code without the secret for a single-page app’s redirect URI (from the browser) or an app allowing public client flows, never a web app’s', async () => {
    const user = await makeUser(services);
    const redeem = async (
      registered: Awaited<ReturnType<typeof createApp>>,
      headers: Record<string, string>,
      withSecret = false,
    ) => {
      const browser = new FormClient(app);
      const { verifier, challenge } = pkce();
      const params = { client_id: registered.clientId, scope: 'openid User.Read', code_challenge: challenge };
      const code = (await signInForCode(browser, user.upn, { ...params, code_challenge_method: 'S256' })).searchParams;
      return app.inject({
        method: 'POST',
        url: `/${tenant}/oauth2/v2.0/token`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        payload: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: registered.clientId,
          code: code.get('code')!,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
          ...(withSecret ? { client_secret: registered.secret } : {}),
        }).toString(),
      });
    };
    const web = await createApp(services.database.db, 'Web app', ['User.Read'], { redirectUris: [REDIRECT] });
    // A script holding a web app's code and verifier, but not its secret: an Origin header changes nothing.
    for (const headers of [{}, { origin: 'null' }, { origin: 'https://app.contoso.example' }] as Record<
      string,
      string
    >[]) {
      const alone = await redeem(web, headers);
      expect([alone.statusCode, alone.json().error, alone.json().error_codes]).toEqual([
        401,
        'invalid_client',
        [7000218],
      ]);
      expect(alone.json().error_description).toContain(`photosync apps redirect-uri ${web.clientId} add <uri> --spa`);
    }
    expect((await redeem(web, {}, true)).statusCode).toBe(200);
    // A single-page app's redirect URI: redeemed from the browser (cross-origin), as Entra's "spa" platform.
    const spa = await createApp(services.database.db, 'SPA', ['User.Read'], { spaRedirectUris: [REDIRECT] });
    expect((await redeem(spa, { origin: 'https://app.contoso.example' })).statusCode).toBe(200);
    const fromServer = await redeem(spa, {});
    expect([fromServer.statusCode, fromServer.json().error_codes]).toEqual([400, [9002327]]);
    // An app allowing public client flows (desktop, mobile) redeems its codes alone.
    await services.database.db
      .updateTable('directory_apps')
      .set({ public_client: 1 })
      .where('client_id', '=', web.clientId)
      .execute();
    expect((await redeem(web, {})).statusCode).toBe(200);
  });

  it('takes any port of a registered http loopback redirect URI, as Entra does for desktop apps (RFC 8252)', async () => {
    // MSAL's acquireTokenInteractive listens on a free port of its own choosing.
    const registered = await createApp(services.database.db, 'Desktop app', ['User.Read'], {
      redirectUris: ['http://localhost'],
      publicClient: true,
    });
    const user = await makeUser(services);
    const { verifier, challenge } = pkce();
    const params = {
      client_id: registered.clientId,
      scope: 'openid User.Read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      redirect_uri: 'http://localhost:53187',
    };
    const back = await signInForCode(new FormClient(app), user.upn, params);
    expect(back.origin).toBe('http://localhost:53187');
    const redeemed = await token({
      grant_type: 'authorization_code',
      client_id: registered.clientId,
      code: back.searchParams.get('code')!,
      redirect_uri: params.redirect_uri,
      code_verifier: verifier,
    });
    expect(redeemed.statusCode).toBe(200);
    // Only the port: another path, https or another host is not the address registered.
    for (const other of ['http://localhost:53187/other', 'https://localhost:53187', 'http://127.0.0.1:53187']) {
      const page = await new FormClient(app).request('GET', authorizeUrl({ ...params, redirect_uri: other }));
      expect([other, page.statusCode]).toEqual([other, 400]);
      expect(page.body).toContain('AADSTS50011');
    }
  });

  it('never answers a login_hint naming someone else with the signed-in user: prompt=none is login_required, else the sign-in page', async () => {
    const registered = await registerApp();
    const kalle = await makeUser(services);
    const jane = await makeUser(services);
    const browser = new FormClient(app);
    const params = { client_id: registered.clientId, scope: 'openid User.Read', state: 's' };
    await signInForCode(browser, kalle.upn, params);
    // MSAL Browser's ssoSilent({ loginHint }) for Jane, in Kalle's browser.
    const silent = await browser.request('GET', authorizeUrl({ ...params, prompt: 'none', login_hint: jane.upn }));
    const answer = new URL(String(silent.headers.location));
    expect([answer.searchParams.get('error'), answer.searchParams.get('code')]).toEqual(['login_required', null]);
    expect(answer.searchParams.get('error_description')).toMatch(/^AADSTS50058: .*not the one login_hint names/);
    // Kalle's own hint, in any case, is answered silently.
    const own = await browser.request(
      'GET',
      authorizeUrl({ ...params, prompt: 'none', login_hint: kalle.upn.toUpperCase() }),
    );
    expect(new URL(String(own.headers.location)).searchParams.get('code')).toBeTruthy();
    // Without prompt=none: the sign-in page, filled in with the hinted account.
    const page = await browser.request('GET', authorizeUrl({ ...params, login_hint: jane.upn }));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`value="${jane.upn}"`);
    // The hint only fills in the form: whoever signs in there is answered (Kalle again, no loop).
    const next = /name="next" value="([^"]+)"/.exec(page.body)![1]!.replaceAll('&amp;', '&');
    expect(next).not.toContain('login_hint');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const signedIn = await browser.request('POST', '/signin', {
      upn: kalle.upn,
      password: PASSWORD,
      _csrf: csrf,
      next,
    });
    expect(signedIn.statusCode).toBe(303);
    const answered = await browser.request('GET', next);
    expect(new URL(String(answered.headers.location)).searchParams.get('code')).toBeTruthy();
  });

  it('signs out at the end-session endpoint (MSAL’s logoutRedirect): asked from an app, after the person confirms; back to a registered address, else a page', async () => {
    const registered = await registerApp();
    const user = await makeUser(services);
    const discovery = (await app.inject(`/${tenant}/v2.0/.well-known/openid-configuration`)).json();
    expect(discovery.end_session_endpoint).toMatch(new RegExp(`/${tenant}/oauth2/v2\\.0/logout$`));
    const logoutPath = new URL(discovery.end_session_endpoint).pathname;
    const params = { client_id: registered.clientId, scope: 'openid User.Read' };
    const silentAnswer = async (browser: FormClient) => {
      const silent = await browser.request('GET', authorizeUrl({ ...params, prompt: 'none' }));
      return new URL(String(silent.headers.location)).searchParams.get('error');
    };
    /** What MSAL's logoutRedirect does: the app's page sends the browser here; the person confirms. */
    const confirmed = async (browser: FormClient, url: string) => {
      const asked = await browser.request('GET', url);
      expect([asked.statusCode, asked.headers.location]).toEqual([200, undefined]);
      expect(asked.body).toContain(`${user.upn}`);
      expect(await silentAnswer(browser)).toBeNull(); // still signed in until the person confirms
      const csrf = /name="_csrf" value="([^"]+)"/.exec(asked.body)![1]!;
      const action = /<form method="post" action="([^"]*\/logout[^"]*)"/.exec(asked.body)![1]!.replaceAll('&amp;', '&');
      expect(action).toBe(url);
      return browser.request('POST', action, { _csrf: csrf });
    };

    const browser = new FormClient(app);
    await signInForCode(browser, user.upn, params);
    const query = new URLSearchParams({ post_logout_redirect_uri: REDIRECT, state: 'st' });
    const out = await confirmed(browser, `${logoutPath}?${query}`);
    expect([out.statusCode, out.headers.location]).toEqual([302, `${REDIRECT}?state=st`]);
    expect(await silentAnswer(browser)).toBe('login_required');

    // Another site cannot sign anyone out unseen: without the form's token nothing ends.
    const victim = new FormClient(app);
    await signInForCode(victim, user.upn, params);
    const forged = await victim.request('POST', `${logoutPath}?${query}`, {});
    expect(forged.statusCode).toBe(403);
    expect(await silentAnswer(victim)).toBeNull();

    // An address no app registered: no redirect, a page in the person's language.
    const other = new FormClient(app, 'et');
    await signInForCode(other, user.upn, params);
    const page = await confirmed(
      other,
      `${logoutPath}?post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
    );
    expect([page.statusCode, page.headers.location]).toEqual([200, undefined]);
    expect(page.body).toContain('Oled välja logitud');
    expect(await silentAnswer(other)).toBe('login_required');

    // A desktop app's loopback address, whatever its port, though MSAL names no client_id.
    await createApp(services.database.db, 'Desktop', ['User.Read'], { redirectUris: ['http://localhost/cb'] });
    const desktop = new FormClient(app);
    await signInForCode(desktop, user.upn, params);
    const back = await confirmed(
      desktop,
      `${logoutPath}?post_logout_redirect_uri=${encodeURIComponent('http://localhost:9/cb')}`,
    );
    expect([back.statusCode, back.headers.location]).toEqual([302, 'http://localhost:9/cb']);

    // From photosync's own pages (Sec-Fetch-Site: same-origin): nothing to ask.
    const own = new FormClient(app);
    await signInForCode(own, user.upn, params);
    const direct = await app.inject({
      method: 'GET',
      url: `${logoutPath}?${query}`,
      headers: { cookie: own.cookieHeader, 'sec-fetch-site': 'same-origin' },
    });
    expect([direct.statusCode, direct.headers.location]).toEqual([302, `${REDIRECT}?state=st`]);
  });

  it('answers prompt=none without a session and other mistakes back to the app; app problems on its own page', async () => {
    const registered = await registerApp();
    const browser = new FormClient(app);
    const silent = await browser.request(
      'GET',
      authorizeUrl({ client_id: registered.clientId, scope: 'openid', prompt: 'none', state: 'x' }),
    );
    expect(silent.statusCode).toBe(302);
    const answer = new URL(String(silent.headers.location));
    expect([answer.searchParams.get('error'), answer.searchParams.get('state')]).toEqual(['login_required', 'x']);
    expect(answer.searchParams.get('error_description')).toMatch(/^AADSTS50058: /);

    const badChallenge = await browser.request(
      'GET',
      authorizeUrl({
        client_id: registered.clientId,
        scope: 'openid',
        code_challenge: 'short',
        code_challenge_method: 'S256',
      }),
    );
    expect(new URL(String(badChallenge.headers.location)).searchParams.get('error')).toBe('invalid_request');
    const token = await browser.request(
      'GET',
      authorizeUrl({ client_id: registered.clientId, scope: 'openid', response_type: 'token' }),
    );
    expect(new URL(String(token.headers.location)).searchParams.get('error')).toBe('unsupported_response_type');
    // More than the app was registered with: no consent screen here, so no.
    const more = await browser.request(
      'GET',
      authorizeUrl({ client_id: registered.clientId, scope: 'openid ProfilePhoto.ReadWrite.All' }),
    );
    expect(new URL(String(more.headers.location)).searchParams.get('error')).toBe('consent_required');

    // form_post: a page that posts the answer to the app, allowed to do only that.
    const posted = await browser.request(
      'GET',
      authorizeUrl({
        client_id: registered.clientId,
        scope: 'openid',
        prompt: 'none',
        response_mode: 'form_post',
        state: 'p',
      }),
    );
    expect(posted.statusCode).toBe(200);
    expect(posted.body).toContain(`<form method="post" action="${REDIRECT}">`);
    expect(posted.body).toContain('name="error" value="login_required"');
    expect(posted.headers['content-security-policy']).toMatch(
      /script-src 'sha256-[^']+'; form-action https:\/\/app\.contoso\.example/,
    );
    expect(posted.body).toContain('<html lang="en">');
    expect(posted.body).toContain('Select Continue to go back to the app.');
    // In the person's language, as every page.
    const postedEt = await new FormClient(app, 'et').request(
      'GET',
      authorizeUrl({
        client_id: registered.clientId,
        scope: 'openid',
        prompt: 'none',
        response_mode: 'form_post',
        state: 'p',
      }),
    );
    expect(postedEt.body).toContain('<html lang="et">');
    expect(postedEt.body).toContain('<title>Tagasi rakendusse…</title>');
    expect(postedEt.body).toContain('<button type="submit">Jätka</button>');

    for (const [params, status, text] of [
      [
        { client_id: registered.clientId, redirect_uri: 'https://evil.example/cb', scope: 'openid' },
        400,
        'AADSTS50011',
      ],
      [{ client_id: '00000000-0000-4000-8000-000000000000', scope: 'openid' }, 400, 'AADSTS700016'],
    ] as const) {
      const page = await browser.request('GET', authorizeUrl(params));
      expect(page.statusCode).toBe(status);
      expect(page.headers.location).toBeUndefined();
      expect(page.body).toContain(text);
    }
    const estonian = await new FormClient(app, 'et').request(
      'GET',
      authorizeUrl({ client_id: 'nobody', scope: 'openid' }),
    );
    expect(estonian.body).toContain('pole photosyncis registreeritud');
  });

  it('sends nobody to another site after signing in', async () => {
    const user = await makeUser(services);
    for (const next of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const browser = new FormClient(app);
      const signedIn = await browser.request('POST', '/signin', {
        upn: user.upn,
        password: PASSWORD,
        _csrf: await browser.csrfToken(),
        next,
      });
      expect([signedIn.statusCode, signedIn.headers.location], next).toEqual([303, '/']);
    }
  });

  it('prompt=login asks a signed-in user to sign in again', async () => {
    const registered = await registerApp();
    const user = await makeUser(services);
    const browser = new FormClient(app);
    await browser.signIn(user.upn, PASSWORD);
    const quiet = await browser.request('GET', authorizeUrl({ client_id: registered.clientId, scope: 'openid' }));
    expect(quiet.statusCode).toBe(302);
    const again = await browser.request(
      'GET',
      authorizeUrl({ client_id: registered.clientId, scope: 'openid', prompt: 'login' }),
    );
    expect(again.statusCode).toBe(200);
    expect(again.body).toContain('name="password"');
    expect(again.body).not.toContain('prompt=login');
  });

  it('grants only the scopes the app was registered with, by password, code and refresh token', async () => {
    const registered = await registerApp(['User.Read']);
    const user = await makeUser(services);
    const password = (scope: string) =>
      token({ grant_type: 'password', client_id: registered.clientId, username: user.upn, password: PASSWORD, scope });
    const refused = await password('ProfilePhoto.ReadWrite.All');
    expect([refused.statusCode, refused.json().error, refused.json().error_codes]).toEqual([
      400,
      'invalid_grant',
      [65001],
    ]);
    // As Entra sends it: MSAL turns suberror consent_required into InteractionRequiredAuthError.
    expect(refused.json().suberror).toBe('consent_required');
    expect(refused.body).not.toContain('access_token');
    // .default is what the app was registered with, no more.
    const byDefault = await password('https://graph.microsoft.com/.default offline_access');
    expect(decodeJwt(byDefault.json().access_token).scp).toBe('User.Read');
    const widened = await token({
      grant_type: 'refresh_token',
      client_id: registered.clientId,
      refresh_token: byDefault.json().refresh_token,
      scope: 'ProfilePhoto.Read.All',
    });
    expect(widened.json().error_codes).toEqual([65001]);
    expect(widened.json().suberror).toBe('consent_required');
  });

  it('ends the tokens of an app when it is removed: access tokens, refresh tokens and codes', async () => {
    const registered = await registerApp();
    const user = await makeUser(services);
    const granted = (
      await token({
        grant_type: 'password',
        client_id: registered.clientId,
        username: user.upn,
        password: PASSWORD,
        scope: 'User.Read offline_access',
      })
    ).json();
    const me = () => app.inject({ url: '/v1.0/me', headers: bearer(granted.access_token) });
    expect((await me()).statusCode).toBe(200);
    await removeApp(services.database.db, registered.clientId);
    const after = await me();
    expect([after.statusCode, after.json().error.code]).toEqual([401, 'InvalidAuthenticationToken']);
    const refresh = await token({
      grant_type: 'refresh_token',
      client_id: registered.clientId,
      refresh_token: granted.refresh_token,
      scope: 'User.Read',
    });
    expect(refresh.statusCode).toBe(400);
    expect(refresh.body).not.toContain('access_token');
  });
});
