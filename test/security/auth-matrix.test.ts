import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken, userForSession } from '../../src/directory/credentials.js';
import { buildApp, type App } from '../../src/app.js';
import { SESSION_COOKIE } from '../../src/http/auth.js';
import type { Services } from '../../src/services.js';
import { getMailPhoto } from '../../src/mail/photo-store.js';
import { attemptCount, listAttempts } from '../../src/sync/history.js';
import { giveMailPhoto, makeUser, solidJpeg } from '../support/factories.js';
import { FormClient } from '../support/form-client.js';
import { createTestStore, describeEachDialect, openTestServices, useTestApp } from '../support/services.js';
import { IDENTITIES, STACK_FRAME, createCast, type Cast, type Identity } from './identities.js';

// Who may do what, one row per route. A route that appears in /openapi.json without a row here
// fails the suite, so every new route (admin console, Graph API) must say who may use it.

interface RouteCase {
  /** `METHOD path` exactly as /openapi.json names the route. */
  route: string;
  /** Tells apart two rows of one route. */
  label?: string;
  url: (cast: Cast) => string;
  /** A form body (x-www-form-urlencoded). */
  payload?: Record<string, string>;
  /** Any other body: JSON, a picture. */
  body?: (cast: Cast) => { type: string; data: string | Buffer };
  expect: Record<Identity, number>;
  /** Further checks on one identity's answer: what it must not have read or changed. */
  check?: (context: CheckContext) => Promise<void> | void;
}

interface CheckContext {
  identity: Identity;
  response: LightMyRequestResponse;
  cast: Cast;
  services: Services;
  attemptsBefore: number;
}

/** Signed-in people by session: the only way into a page. Bearer tokens, opaque or signed, belong to the APIs. */
const SESSIONS: readonly Identity[] = ['user', 'otherUser', 'admin'];
/** Sessions and users' own tokens: what the sites' pictures take (within the token's scopes). */
const USERS: readonly Identity[] = [...SESSIONS, 'userToken', 'otherUserReadToken', 'adminToken'];

/** Every identity gets the same status. */
const everyone = (status: number) => Object.fromEntries(IDENTITIES.map((i) => [i, status])) as Record<Identity, number>;
/** Sessions get one status on a page, everyone else (tokens; no, expired or disabled credentials) another. */
const signedIn = (ok: number, otherwise: number) =>
  Object.fromEntries(IDENTITIES.map((i) => [i, SESSIONS.includes(i) ? ok : otherwise])) as Record<Identity, number>;
/** Users by session or by their own token get one status, everyone else another. */
const anyUser = (ok: number, otherwise: number) =>
  Object.fromEntries(IDENTITIES.map((i) => [i, USERS.includes(i) ? ok : otherwise])) as Record<Identity, number>;

/** Starts from `base` for everyone, then the named identities' own statuses. */
const statuses = (base: number, own: Partial<Record<Identity, number>>) => ({ ...everyone(base), ...own });

/** Session cookies and opaque tokens of an administrator: the console API's two ways in. */
const ADMIN_ONLY = { user: 403, userToken: 403, otherUser: 403, otherUserReadToken: 403, admin: 200, adminToken: 200 };
/** The console's pages: an administrator's session only; a token is sent to sign in like nobody. */
const ADMIN_PAGES = { user: 403, otherUser: 403, admin: 200 };
const ADMIN_FORM_WITHOUT_TOKEN = statuses(303, { ...ADMIN_PAGES, admin: 403 });
const APPS = (status: number) => ({ appRead: status, appReadWrite: status, appNoScope: status });
/** Graph's /me: the caller's own profile, any user token; an app has no "me". */
const graphMe = (own: number, others: number) =>
  statuses(401, { userToken: own, otherUserReadToken: others, adminToken: others, ...APPS(400) });
/** Graph's /users/{owner}: the owner, or a token with a scope to read (or change) anyone's. */
const graphUser = (ok: number, access: 'read' | 'write') =>
  statuses(401, {
    userToken: ok,
    otherUserReadToken: 403,
    adminToken: ok,
    appRead: access === 'read' ? ok : 403,
    appReadWrite: ok,
    appNoScope: 403,
  });
const SP_USERS = { user: 200, userToken: 200, otherUser: 200, otherUserReadToken: 200, admin: 200, adminToken: 200 };

/** Changing someone's profile in the sites: administrators' and apps' tokens with ProfilePhoto.ReadWrite.All. */
const SP_WRITERS = {
  user: 403,
  userToken: 403,
  otherUser: 403,
  otherUserReadToken: 403,
  admin: 403,
  adminToken: 200,
  appRead: 403,
  appReadWrite: 200,
  appNoScope: 403,
};

const OWNER_IDENTITIES: readonly Identity[] = ['user', 'userToken'];

/** Only the owner asking for their own L picture is a user action; anyone else only looks. */
const onlyTheOwnerSyncs = (context: CheckContext) => expectSync(context, OWNER_IDENTITIES.includes(context.identity));
/** Reading a library file is never a user action, not even for the owner. */
const nobodySyncs = (context: CheckContext) => expectSync(context, false);

async function expectSync({ response, cast, services, attemptsBefore }: CheckContext, synced: boolean) {
  const attempts = attemptCount(await listAttempts(services.database.db, cast.owner.id));
  if (synced) {
    expect(response.headers['x-photosync-sync']).toBeDefined();
    expect(attempts).toBe(attemptsBefore + 1);
  } else {
    expect(response.headers['x-photosync-sync']).toBeUndefined();
    expect(attempts).toBe(attemptsBefore);
  }
  if (response.statusCode === 200) expect(response.headers['content-type']).toBe('image/jpeg');
}

export const ROUTES: RouteCase[] = [
  { route: 'GET /healthz', url: () => '/healthz', expect: everyone(200) },
  { route: 'GET /readyz', url: () => '/readyz', expect: everyone(200) },
  { route: 'GET /metrics', url: () => '/metrics', expect: everyone(200) },
  { route: 'GET /openapi.json', url: () => '/openapi.json', expect: everyone(200) },
  { route: 'GET /assets/portal.css', url: () => '/assets/portal.css', expect: everyone(200) },
  { route: 'GET /assets/forms.css', url: () => '/assets/forms.css', expect: everyone(200) },
  {
    route: 'GET /',
    url: () => '/',
    expect: signedIn(200, 303),
    check: ({ identity, response, cast }) => {
      // The home page shows the signed-in person only, never the owner of some other credential.
      if (identity === 'otherUser') expect(response.body).not.toContain(cast.owner.upn);
    },
  },
  { route: 'GET /signin', url: () => '/signin', expect: signedIn(303, 200) },
  // Without the form token nobody gets past the CSRF check, whatever else they hold.
  {
    route: 'POST /signin',
    url: () => '/signin',
    payload: { upn: 'x@contoso.com', password: 'correct horse battery' },
    expect: everyone(403),
    check: ({ response }) => expect(response.cookies.some((c) => c.name === SESSION_COOKIE)).toBe(false),
  },
  {
    route: 'POST /signout',
    url: () => '/signout',
    payload: {},
    expect: signedIn(403, 303),
  },
  { route: 'GET /assets/portal.js', url: () => '/assets/portal.js', expect: everyone(200) },
  { route: 'GET /assets/icon.svg', url: () => '/assets/icon.svg', expect: everyone(200) },
  { route: 'GET /favicon.ico', url: () => '/favicon.ico', expect: everyone(200) },
  {
    route: 'GET /_layouts/15/images/PersonPlaceholder.96x96x32.png',
    url: () => '/_layouts/15/images/PersonPlaceholder.96x96x32.png',
    expect: everyone(200),
  },
  { route: 'GET /help/profile-picture-sync', url: () => '/help/profile-picture-sync', expect: everyone(200) },
  { route: 'GET /outlook', url: () => '/outlook', expect: signedIn(200, 303) },
  { route: 'GET /profile-photo', url: () => '/profile-photo', expect: signedIn(200, 303) },
  {
    // Your own mail photo only: nobody else's, whoever asks.
    route: 'GET /portal/photo',
    url: () => '/portal/photo?size=96',
    // Signed out (a token is no sign-in to the portal): to the sign-in page; signed in without a photo: 404.
    expect: { ...signedIn(404, 303), user: 200 },
  },
  { route: 'GET /_layouts/15/sharepoint.aspx', url: () => '/_layouts/15/sharepoint.aspx', expect: signedIn(200, 303) },
  { route: 'GET /_layouts/15/onedrive.aspx', url: () => '/_layouts/15/onedrive.aspx', expect: signedIn(200, 303) },
  {
    route: 'GET /_layouts/15/person.aspx',
    url: (cast) => `/_layouts/15/person.aspx?accountname=${cast.owner.upn}`,
    expect: signedIn(200, 303),
  },
  {
    route: 'GET /_layouts/15/editprofile.aspx',
    url: () => '/_layouts/15/editprofile.aspx',
    expect: signedIn(200, 303),
  },
  // Every state-changing form: refused without its token (403) when there is a session; without a
  // session the form's token went with it, so the person is sent to sign in (303), nothing changed.
  { route: 'POST /language', url: () => '/language', payload: { lang: 'et' }, expect: signedIn(403, 303) },
  { route: 'POST /launch/{app}', url: () => '/launch/onedrive', payload: {}, expect: signedIn(403, 303) },
  // Uploads send the signed-out to the sign-in page before looking at the form (nothing changes).
  { route: 'POST /profile-photo', url: () => '/profile-photo', payload: {}, expect: signedIn(403, 303) },
  {
    route: 'POST /profile-photo/remove',
    url: () => '/profile-photo/remove',
    payload: {},
    expect: signedIn(403, 303),
    check: async ({ cast, services }) => expect(await getMailPhoto(services.database.db, cast.owner.id)).toBeDefined(),
  },
  {
    route: 'POST /_layouts/15/editprofile.aspx',
    url: () => '/_layouts/15/editprofile.aspx',
    payload: {},
    expect: signedIn(403, 303),
  },
  {
    route: 'GET /_layouts/15/userphoto.aspx',
    url: (cast) => `/_layouts/15/userphoto.aspx?size=L&accountname=${cast.owner.upn}`,
    // A token limited to User.Read sees its own user's picture only (like GetPropertiesFor).
    // An app is known and may not (a 401 would send it for another token of the same kind).
    expect: { ...anyUser(200, 401), otherUserReadToken: 403, ...APPS(403) },
    check: onlyTheOwnerSyncs,
  },
  {
    route: 'GET /User Photos/Profile Pictures/{file}',
    url: (cast) => `/User%20Photos/Profile%20Pictures/${ownerStem(cast)}_LThumb.jpg`,
    expect: { ...anyUser(200, 401), otherUserReadToken: 403, ...APPS(403) },
    check: nobodySyncs,
  },

  // The token endpoint: anyone may ask, nobody gets a token without the app's secret.
  {
    route: 'POST /{tenant}/oauth2/v2.0/token',
    url: () => '/organizations/oauth2/v2.0/token',
    payload: {
      grant_type: 'client_credentials',
      client_id: '00000000-0000-0000-0000-000000000000',
      client_secret: 'guessed',
      scope: 'https://graph.microsoft.com/.default',
    },
    // No app has this client id: Entra's 400 unauthorized_client (AADSTS700016), the secret unread.
    expect: everyone(400),
    check: ({ response }) => expect(response.body).not.toContain('access_token'),
  },

  { route: 'OPTIONS /{tenant}/oauth2/v2.0/token', url: () => '/common/oauth2/v2.0/token', expect: everyone(204) },
  // Sign-in for apps: an app nobody registered gets a page saying so, whoever asks; never a code.
  {
    route: 'GET /{tenant}/oauth2/v2.0/authorize',
    url: () =>
      `/organizations/oauth2/v2.0/authorize?client_id=00000000-0000-4000-8000-000000000000&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('https://app.example/cb')}`,
    expect: everyone(400),
    check: ({ response }) => {
      expect(response.headers.location).toBeUndefined();
      expect(response.body).toContain('AADSTS700016');
    },
  },

  // Signing out for apps ends the browser's session whoever it is (as Entra's): here of an
  // organisation that is not this one, which ends nothing (the sessions are the other rows').
  {
    route: 'GET /{tenant}/oauth2/v2.0/logout',
    url: () =>
      `/nosuch.example/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent('https://app.example/')}`,
    expect: everyone(400),
    check: ({ response }) => {
      expect(response.headers.location).toBeUndefined();
      expect(response.body).toContain('AADSTS90002');
    },
  },

  {
    route: 'POST /{tenant}/oauth2/v2.0/logout',
    url: () => '/nosuch.example/oauth2/v2.0/logout',
    // Without the confirmation form's token nothing ends, whoever sends it (as POST /signout).
    payload: {},
    expect: signedIn(403, 303),
  },

  // OpenID Connect discovery: public, like Entra's; the tenant must be this one.
  {
    route: 'GET /{tenant}/v2.0/.well-known/openid-configuration',
    url: () => '/organizations/v2.0/.well-known/openid-configuration',
    expect: everyone(200),
  },
  {
    route: 'GET /{tenant}/.well-known/openid-configuration',
    url: () => '/nosuch.example/.well-known/openid-configuration',
    expect: everyone(400),
  },
  { route: 'GET /{tenant}/discovery/v2.0/keys', url: () => '/common/discovery/v2.0/keys', expect: everyone(200) },
  { route: 'GET /{tenant}/discovery/keys', url: () => '/common/discovery/keys', expect: everyone(200) },
  {
    route: 'GET /common/discovery/instance',
    url: () =>
      `/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent('http://localhost:8080/common/oauth2/v2.0/authorize')}`,
    expect: everyone(200),
  },

  // Graph: bearer tokens only, by scope.
  ...graphRows(),

  // SharePoint REST.
  {
    route: 'GET /_api/SP.UserProfiles.PeopleManager/{call}',
    url: () => '/_api/SP.UserProfiles.PeopleManager/GetMyProperties',
    expect: statuses(401, { ...SP_USERS, ...APPS(403) }),
  },
  {
    route: 'GET /_api/SP.UserProfiles.PeopleManager/{call}',
    url: (cast) =>
      `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v='${encodeURIComponent(`i:0#.f|membership|${cast.owner.upn}`)}'`,
    expect: statuses(401, { ...SP_USERS, otherUserReadToken: 403, ...APPS(200), appNoScope: 403 }),
  },
  {
    // The same reads by POST (PnPjs sends some so, with an empty JSON body): a read changes nothing.
    route: 'POST /_api/SP.UserProfiles.PeopleManager/{call}',
    url: (cast) =>
      `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v='${encodeURIComponent(`i:0#.f|membership|${cast.owner.upn}`)}'`,
    body: () => ({ type: 'application/json', data: '' }),
    expect: statuses(401, { ...SP_USERS, otherUserReadToken: 403, ...APPS(200), appNoScope: 403 }),
  },
  {
    // The signed-in user's own profile: an app has none.
    route: 'POST /_api/SP.UserProfiles.ProfileLoader.GetProfileLoader/GetUserProfile',
    url: () => '/_api/SP.UserProfiles.ProfileLoader.GetProfileLoader/GetUserProfile',
    body: () => ({ type: 'application/json', data: '' }),
    expect: statuses(401, { ...SP_USERS, ...APPS(403) }),
  },
  {
    route: 'POST /_api/contextinfo',
    url: () => '/_api/contextinfo',
    body: () => ({ type: 'application/json', data: '' }),
    expect: statuses(401, { ...SP_USERS, ...APPS(200) }),
  },
  {
    // No identity holds the form digest here, so a cookie alone never changes a picture.
    route: 'POST /_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
    url: () => '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
    body: () => ({ type: 'application/octet-stream', data: picture }),
    // A User.Read token only reads: changing even one's own picture needs User.ReadWrite.
    expect: statuses(401, {
      ...SP_USERS,
      user: 403,
      otherUser: 403,
      otherUserReadToken: 403,
      admin: 403,
      ...APPS(403),
    }),
  },

  {
    route: 'POST /_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty',
    url: () => '/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty',
    body: (cast) => ({
      type: 'application/json',
      data: JSON.stringify({
        accountName: `i:0#.f|membership|${cast.owner.upn}`,
        propertyName: 'SPS-PictureExchangeSyncState',
        propertyValue: '1',
      }),
    }),
    expect: statuses(401, { ...SP_WRITERS }),
  },
  {
    route: 'GET /_api/web',
    url: () => '/_api/web',
    expect: statuses(401, { ...SP_USERS, ...APPS(200), appNoScope: 403 }),
  },
  {
    route: 'GET /_api/web/currentuser',
    url: () => '/_api/web/currentuser',
    expect: statuses(401, { ...SP_USERS, ...APPS(403) }),
  },
  {
    route: 'GET /_api/web/siteusers',
    url: () => '/_api/web/siteusers',
    // Everyone's e-mail address: a token that reads only its own user (User.Read) is refused.
    expect: statuses(401, { ...SP_USERS, otherUserReadToken: 403, ...APPS(200), appNoScope: 403 }),
  },
  {
    route: 'POST /_api/web/ensureuser',
    url: () => '/_api/web/ensureuser',
    body: (cast) => ({ type: 'application/json', data: JSON.stringify({ logonName: cast.owner.upn }) }),
    expect: statuses(401, { ...SP_USERS, otherUserReadToken: 403, ...APPS(200), appNoScope: 403 }),
  },
  {
    route: 'GET /_api/web/{*}',
    url: (cast) =>
      `/_api/web/GetFileByServerRelativeUrl('${encodeURIComponent(`/User Photos/Profile Pictures/${cast.owner.upn.replace(/[@.]/g, '_')}_LThumb.jpg`)}')/$value`,
    // The owner's picture file, as at its library address: a User.Read token sees its own user's only.
    expect: statuses(401, { ...SP_USERS, otherUserReadToken: 403, ...APPS(200), appNoScope: 403 }),
  },
  {
    route: 'POST /_api/web/{*}',
    url: (cast) =>
      `/_api/web/GetFolderByServerRelativeUrl('${encodeURIComponent('/User Photos/Profile Pictures')}')/Files/add(url='${cast.owner.upn.replace(/[@.]/g, '_')}_LThumb.jpg',overwrite=true)`,
    body: () => ({ type: 'image/jpeg', data: picture }),
    expect: statuses(401, { ...SP_WRITERS }),
  },

  {
    // The batch itself admits anyone signed in; each request inside is checked as if sent alone.
    route: 'POST /_api/$batch',
    url: () => '/_api/$batch',
    body: () => ({
      type: 'multipart/mixed; boundary=batch_1',
      data: '--batch_1\r\nContent-Type: application/http\r\n\r\nGET /_api/web/siteusers HTTP/1.1\r\n\r\n--batch_1--\r\n',
    }),
    expect: statuses(401, { ...SP_USERS, ...APPS(200) }),
    check: ({ identity, response }) => {
      if (response.statusCode !== 200) return;
      expect(response.body).toContain(
        identity === 'appNoScope' || identity === 'otherUserReadToken' ? 'HTTP/1.1 403 ' : 'HTTP/1.1 200 ',
      );
    },
  },

  // The admin console's pages and JSON API: administrators only.
  { route: 'GET /admin/assets/admin.css', url: () => '/admin/assets/admin.css', expect: everyone(200) },
  { route: 'GET /admin/assets/admin.js', url: () => '/admin/assets/admin.js', expect: everyone(200) },
  { route: 'GET /admin', url: () => '/admin', expect: statuses(303, ADMIN_PAGES) },
  { route: 'GET /admin/users', url: () => '/admin/users', expect: statuses(303, ADMIN_PAGES) },
  {
    route: 'GET /admin/users/{upn}',
    url: (cast) => `/admin/users/${cast.owner.upn}`,
    expect: statuses(303, ADMIN_PAGES),
  },
  { route: 'GET /admin/settings', url: () => '/admin/settings', expect: statuses(303, ADMIN_PAGES) },
  { route: 'GET /admin/audit', url: () => '/admin/audit', expect: statuses(303, ADMIN_PAGES) },
  // Connect mode's pages (here without a tenant: an admin is told connect mode is off).
  { route: 'GET /admin/tenant', url: () => '/admin/tenant', expect: statuses(303, { ...ADMIN_PAGES, admin: 404 }) },
  {
    route: 'GET /admin/tenant/sync',
    url: () => '/admin/tenant/sync?all=1',
    expect: statuses(303, { ...ADMIN_PAGES, admin: 404 }),
  },
  {
    route: 'POST /admin/tenant/sync',
    url: () => '/admin/tenant/sync',
    payload: { all: '1' },
    expect: ADMIN_FORM_WITHOUT_TOKEN,
  },
  {
    route: 'POST /admin/tenant/scan',
    url: () => '/admin/tenant/scan',
    payload: {},
    expect: ADMIN_FORM_WITHOUT_TOKEN,
  },
  {
    route: 'GET /admin/photos/{upn}/{which}',
    url: (cast) => `/admin/photos/${cast.owner.upn}/mail`,
    expect: statuses(303, ADMIN_PAGES),
  },
  // The console's forms without their token: nobody gets through and nothing changes. Non-admins are
  // refused (or sent to sign in) before the form is read; an admin is refused for the missing token.
  {
    route: 'POST /admin/prompts',
    url: () => '/admin/prompts',
    payload: { all: '1' },
    expect: ADMIN_FORM_WITHOUT_TOKEN,
  },
  { route: 'POST /admin/sync', url: () => '/admin/sync', payload: { all: '1' }, expect: ADMIN_FORM_WITHOUT_TOKEN },
  {
    route: 'POST /admin/settings',
    url: () => '/admin/settings',
    payload: { recheckSeconds: '61' },
    expect: ADMIN_FORM_WITHOUT_TOKEN,
  },
  { route: 'GET /admin/api/overview', url: () => '/admin/api/overview', expect: statuses(401, ADMIN_ONLY) },
  { route: 'GET /admin/api/users', url: () => '/admin/api/users', expect: statuses(401, ADMIN_ONLY) },
  {
    route: 'GET /admin/api/users/{upn}',
    url: (cast) => `/admin/api/users/${cast.owner.upn}`,
    expect: statuses(401, ADMIN_ONLY),
  },
  { route: 'GET /admin/api/settings', url: () => '/admin/api/settings', expect: statuses(401, ADMIN_ONLY) },
  { route: 'GET /admin/api/audit', url: () => '/admin/api/audit', expect: statuses(401, ADMIN_ONLY) },
  {
    route: 'POST /admin/api/prompts',
    url: () => '/admin/api/prompts',
    body: (cast) => ({ type: 'application/json', data: JSON.stringify({ upns: [cast.owner.upn] }) }),
    expect: statuses(401, ADMIN_ONLY),
  },
  {
    route: 'POST /admin/api/sync',
    url: () => '/admin/api/sync',
    body: (cast) => ({ type: 'application/json', data: JSON.stringify({ upns: [cast.owner.upn] }) }),
    expect: statuses(401, ADMIN_ONLY),
  },
  {
    route: 'PATCH /admin/api/settings',
    url: () => '/admin/api/settings',
    body: () => ({ type: 'application/json', data: JSON.stringify({ recheckSeconds: 62 }) }),
    expect: statuses(401, ADMIN_ONLY),
  },
  {
    // A cookie alone cannot post a form at the API: it takes JSON only.
    route: 'PATCH /admin/api/settings',
    url: () => '/admin/api/settings',
    payload: { recheckSeconds: '63' },
    expect: statuses(401, { ...ADMIN_ONLY, admin: 403 }),
  },
];

/** A picture to upload, and a mail photo per identity; made before the first row runs. */
let picture: Buffer;
let mailPhotos: Buffer[];

function graphRows(): RouteCase[] {
  const rows: RouteCase[] = [];
  for (const [base, url] of [
    ['/v1.0/me', () => '/v1.0/me'],
    ['/v1.0/users/{id}', (cast: Cast) => `/v1.0/users/${cast.owner.upn}`],
  ] as const) {
    const me = base === '/v1.0/me';
    // Only the owner has a photo: the other callers' own /me photo is not there (404).
    const read = me ? graphMe(200, 404) : graphUser(200, 'read');
    // A User.Read token reads its own photo; writing it needs User.ReadWrite (as in Graph).
    const write = me ? { ...graphMe(200, 200), otherUserReadToken: 403 } : graphUser(200, 'write');
    const remove = me ? { ...graphMe(204, 204), otherUserReadToken: 403 } : graphUser(204, 'write');
    rows.push(
      { route: `GET ${base}`, url, expect: me ? graphMe(200, 200) : graphUser(200, 'read') },
      { route: `GET ${base}/photo`, url: (cast) => `${url(cast)}/photo`, expect: read },
      { route: `GET ${base}/photo/$value`, url: (cast) => `${url(cast)}/photo/$value`, expect: read },
      {
        route: `GET ${base}/photos`,
        url: (cast) => `${url(cast)}/photos`,
        expect: me ? graphMe(200, 200) : graphUser(200, 'read'),
      },
      { route: `GET ${base}/photos/{size}`, url: (cast) => `${url(cast)}/photos/48x48`, expect: read },
      {
        route: `GET ${base}/photos/{size}/$value`,
        url: (cast) => `${url(cast)}/photos/48x48/$value`,
        expect: read,
      },
      {
        route: `PUT ${base}/photo/$value`,
        url: (cast) => `${url(cast)}/photo/$value`,
        body: () => ({ type: 'image/jpeg', data: picture }),
        expect: write,
      },
      {
        route: `PATCH ${base}/photo/$value`,
        url: (cast) => `${url(cast)}/photo/$value`,
        body: () => ({ type: 'image/jpeg', data: picture }),
        expect: write,
      },
      { route: `DELETE ${base}/photo`, url: (cast) => `${url(cast)}/photo`, expect: remove },
      {
        route: `DELETE ${base}/photo/$value`,
        url: (cast) => `${url(cast)}/photo/$value`,
        // The row before removed the administrator's own photo (only the owner's is given back).
        expect: me ? { ...remove, adminToken: 404 } : remove,
      },
      {
        route: `GET ${base}/photo/{size}/$value`,
        url: (cast) => `${url(cast)}/photo/48x48/$value`,
        expect: read,
      },
    );
  }
  rows.push(
    {
      route: 'GET /v1.0/users',
      url: () => '/v1.0/users?$top=1',
      // Listing needs a scope that reads anyone; User.Read alone is refused.
      expect: statuses(401, {
        userToken: 200,
        otherUserReadToken: 403,
        adminToken: 200,
        ...APPS(200),
        appNoScope: 403,
      }),
    },
    {
      // Readers who may list users get Graph's 400 for the missing ConsistencyLevel: eventual.
      route: 'GET /v1.0/users/$count',
      url: () => '/v1.0/users/$count',
      expect: statuses(401, {
        userToken: 400,
        otherUserReadToken: 403,
        adminToken: 400,
        ...APPS(400),
        appNoScope: 403,
      }),
    },
    {
      // The batch itself admits any valid token; each request inside is checked as if sent alone.
      route: 'POST /v1.0/$batch',
      url: () => '/v1.0/$batch',
      body: () => ({
        type: 'application/json',
        data: JSON.stringify({ requests: [{ id: '1', method: 'GET', url: '/users?$top=1' }] }),
      }),
      expect: statuses(401, { userToken: 200, otherUserReadToken: 200, adminToken: 200, ...APPS(200) }),
    },
    {
      // A CORS preflight carries no credentials, by the Fetch standard.
      route: 'OPTIONS /v1.0/{*}',
      url: () => '/v1.0/me/photo/$value',
      expect: everyone(204),
    },
  );
  return rows;
}

/** Everything a write could change, as one comparable value. */
async function organisationState(services: Services, cast: Cast) {
  const { db } = services.database;
  const count = async (table: 'admin_prompts' | 'admin_audit' | 'sync_attempts') =>
    Number((await db.selectFrom(table).select(db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  return {
    mailPhoto: (await getMailPhoto(db, cast.owner.id))?.etag ?? null,
    settings: await db.selectFrom('admin_settings').selectAll().orderBy('name').execute(),
    prompts: await count('admin_prompts'),
    audit: await count('admin_audit'),
    attempts: await count('sync_attempts'),
    apps: Number((await db.selectFrom('directory_apps').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
  };
}

function ownerStem(cast: Cast): string {
  return cast.owner.upn.replace(/[^a-z0-9_-]/g, '_');
}

/**
 * Headers every answer carries, pages, pictures and errors alike. A picture route's answers
 * (its errors too) need no page policies, so they get the short set: nothing may load, run or
 * frame it, never sniffed, never read cross-origin.
 */
export function expectSecurityHeaders(response: LightMyRequestResponse): void {
  const csp = String(response.headers['content-security-policy'] ?? '');
  const isPictureRoute = /^\/(_layouts\/15\/userphoto\.aspx|User%20Photos\/)/.test(response.raw.req.url ?? '');
  if (isPictureRoute) {
    expect(csp).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['cross-origin-resource-policy']).toBe('same-origin');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['x-powered-by']).toBeUndefined();
    return;
  }
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
  expect(response.headers['referrer-policy']).toBe('same-origin');
  expect(response.headers['x-powered-by']).toBeUndefined();
}

describeEachDialect('authorization matrix', (dialect) => {
  const context = useTestApp(dialect);
  let cast: Cast;
  beforeAll(async () => {
    cast = await createCast(context.services);
    // The owner's photo is in the sites and a newer one waits in the mail store, so an L request
    // by the owner has something to sync and anyone else's request visibly does not.
    await giveMailPhoto(context.services, cast.owner, await solidJpeg([200, 40, 40], 64));
    await context.services.sync.sync(cast.owner, 'admin');
    // Operator sync on, so that its API and its buttons (and their forms) are there to be tried.
    await context.services.settings.update({ operatorSync: true }, cast.admin);
    picture = await solidJpeg([40, 40, 200], 120);
    mailPhotos = await Promise.all(IDENTITIES.map((_, i) => solidJpeg([10 + i * 14, 90, 90], 64)));
  });

  it('has a row for every route the server documents', async () => {
    const doc = (await context.app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, object> }>();
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const missing = documented.filter((route) => !ROUTES.some((row) => row.route === route));
    expect(missing, 'add these routes to ROUTES in test/security/auth-matrix.test.ts').toEqual([]);
  });

  for (const row of ROUTES) {
    const title = row.label ? `${row.route} (${row.label})` : row.route;
    it(`${title}: each identity gets what it may, with the security headers`, async () => {
      const { app, services } = context;
      const seen: Partial<Record<Identity, number>> = {};
      for (const identity of IDENTITIES) {
        if (row.check === onlyTheOwnerSyncs || row.check === nobodySyncs) {
          // Each time a new mail photo, so that a request which triggered a sync would show it.
          await giveMailPhoto(services, cast.owner, mailPhotos[IDENTITIES.indexOf(identity)]!);
        } else if (!(await getMailPhoto(services.database.db, cast.owner.id))) {
          // The owner always has a photo to read, change or remove (an earlier identity may have removed it).
          await giveMailPhoto(services, cast.owner, mailPhotos[0]!);
        }
        const attemptsBefore = attemptCount(await listAttempts(services.database.db, cast.owner.id));
        const [method, ...rest] = row.route.split(' ');
        expect(rest.length).toBeGreaterThan(0);
        const body = row.payload
          ? { type: 'application/x-www-form-urlencoded', data: new URLSearchParams(row.payload).toString() }
          : row.body?.(cast);
        const before = method === 'GET' ? undefined : await organisationState(services, cast);
        const response = await app.inject({
          method: method as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS',
          url: row.url(cast),
          headers: { ...cast.headers[identity], ...(body ? { 'content-type': body.type } : {}) },
          ...(body ? { payload: body.data } : {}),
        });
        seen[identity] = response.statusCode;
        expectSecurityHeaders(response);
        expect(response.body).not.toMatch(STACK_FRAME);
        if (response.statusCode === 401) {
          // Each API says why in its own error format; never an empty answer.
          expect(response.body).toMatch(/"message"|"error"/);
        }
        if (before && (response.statusCode >= 400 || response.headers.location?.startsWith('/signin'))) {
          // A refused write changed nothing: not the photo, the settings, the prompts, the history or the audit.
          expect(await organisationState(services, cast), `${identity} was refused`).toEqual(before);
        }
        await row.check?.({ identity, response, cast, services, attemptsBefore });
      }
      expect(seen).toEqual(row.expect);
    });
  }

  it("lets a user's ProfilePhoto.ReadWrite.All token change someone else's photo only when the user is an admin", async () => {
    const { app, services } = context;
    const { db } = services.database;
    const token = await createToken(db, cast.other.id, 'matrix', undefined, ['ProfilePhoto.ReadWrite.All']);
    if (!(await getMailPhoto(db, cast.owner.id))) await giveMailPhoto(services, cast.owner, mailPhotos[0]!);
    const before = await organisationState(services, cast);
    for (const method of ['PUT', 'PATCH'] as const) {
      const response = await app.inject({
        method,
        url: `/v1.0/users/${cast.owner.upn}/photo/$value`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/jpeg' },
        payload: picture,
      });
      expect(response.statusCode).toBe(403);
    }
    const removal = await app.inject({
      method: 'DELETE',
      url: `/v1.0/users/${cast.owner.upn}/photo`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(removal.statusCode).toBe(403);
    // Reading is within the scope, changing is not.
    const read = await app.inject({
      url: `/v1.0/users/${cast.owner.upn}/photo`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.statusCode).toBe(200);
    expect(await organisationState(services, cast)).toEqual(before);
  });

  it('takes no bearer token on a page form, even with a valid form token: the token holder is sent to sign in', async () => {
    const { app, services } = context;
    const { db } = services.database;
    if (!(await getMailPhoto(db, cast.owner.id))) await giveMailPhoto(services, cast.owner, mailPhotos[0]!);
    // The owner's own token with a scope that may only read: the pages must not let it write.
    const readOnly = await createToken(db, cast.owner.id, 'matrix', undefined, ['ProfilePhoto.Read.All']);
    const forms = new FormClient(app);
    const formToken = await forms.csrfToken('/signin');
    const before = await organisationState(services, cast);
    const posts: Array<{ url: string; form?: Record<string, string>; upload?: boolean }> = [
      { url: '/profile-photo/remove', form: { _csrf: formToken } },
      { url: '/launch/onedrive', form: { _csrf: formToken } },
      { url: '/launch/sharepoint', form: { _csrf: formToken } },
      { url: '/profile-photo', upload: true },
      { url: '/_layouts/15/editprofile.aspx', upload: true },
    ];
    for (const bearer of [readOnly, cast.headers.adminToken.authorization!.slice('Bearer '.length)]) {
      for (const post of posts) {
        const boundary = '----tokenform';
        const response = await app.inject({
          method: 'POST',
          url: post.url,
          headers: {
            authorization: `Bearer ${bearer}`,
            cookie: forms.cookieHeader,
            'content-type': post.upload
              ? `multipart/form-data; boundary=${boundary}`
              : 'application/x-www-form-urlencoded',
          },
          payload: post.upload
            ? Buffer.concat([
                Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${formToken}\r\n`),
                Buffer.from(
                  `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
                ),
                picture,
                Buffer.from(`\r\n--${boundary}--\r\n`),
              ])
            : new URLSearchParams(post.form).toString(),
        });
        expect(response.statusCode, post.url).toBe(303);
        expect(response.headers.location, post.url).toBe('/signin');
      }
      // Pages that show names, UPNs and whether a user exists: not to a token.
      for (const url of [
        `/_layouts/15/person.aspx?accountname=${cast.owner.upn}`,
        '/_layouts/15/sharepoint.aspx',
        '/admin/users',
      ]) {
        const response = await app.inject({ url, headers: { authorization: `Bearer ${bearer}` } });
        expect(response.statusCode, url).toBe(303);
        expect(response.body).not.toContain(cast.owner.upn);
      }
    }
    expect(await organisationState(services, cast)).toEqual(before);
  });

  it('refuses every form posted without its token, or with a token of another browser, and changes nothing', async () => {
    const { app, services } = context;
    const browsers: Array<{ identity: Identity; page: string }> = [
      { identity: 'anonymous', page: '/signin' },
      { identity: 'anonymous', page: '/help/profile-picture-sync' },
      ...[
        '/',
        '/profile-photo',
        '/outlook',
        '/_layouts/15/sharepoint.aspx',
        '/_layouts/15/onedrive.aspx',
        '/_layouts/15/person.aspx',
        '/_layouts/15/editprofile.aspx',
      ].map((page) => ({ identity: 'user' as const, page })),
      // The admin console's forms: prompts, operator sync, settings.
      ...['/admin', '/admin/users', `/admin/users/${cast.owner.upn}`, '/admin/settings', '/admin/audit'].map(
        (page) => ({
          identity: 'admin' as const,
          page,
        }),
      ),
    ];
    const forms = new Set<string>();
    // One's own profile page syncs first, as its L picture does (a user action, not a form): done
    // once before the state is noted, so the walk below finds the owner in step.
    await app.inject({ url: '/_layouts/15/person.aspx', headers: cast.headers.user });
    const before = await organisationState(services, cast);
    const attacker = await app.inject({ url: '/signin' });
    const attackerToken = /name="_csrf" value="([^"]+)"/.exec(attacker.body)?.[1];
    expect(attackerToken).toBeDefined();

    for (const { identity, page } of browsers) {
      const response = await app.inject({ url: page, headers: cast.headers[identity] });
      expect(response.statusCode).toBe(200);
      const csrfCookie = response.cookies.find((c) => c.name === '_csrf');
      expect(csrfCookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
      const cookie = [cast.headers[identity].cookie, `_csrf=${csrfCookie!.value}`].filter(Boolean).join('; ');
      for (const match of response.body.matchAll(/<form([^>]*) action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)) {
        const [, attributes = '', action = '', inner = ''] = match;
        // Search forms only read (GET); every form that posts must carry its token.
        if (/method="get"/i.test(attributes)) continue;
        forms.add(action);
        const token = /name="_csrf" value="([^"]+)"/.exec(inner)?.[1];
        expect(token, `the form for ${action} on ${page} carries a token`).toBeDefined();
        // The other fields filled in as the owner would, so only the token is wrong.
        const fields: Record<string, string> = {};
        for (const name of inner.matchAll(/name="([^"]+)"/g)) fields[name[1]!] = '';
        if ('upn' in fields) fields.upn = cast.owner.upn;
        if ('password' in fields) fields.password = 'correct horse battery';
        delete fields._csrf;

        // A button may post the same form elsewhere (formaction): each target checks the token.
        const targets = [action, ...[...inner.matchAll(/formaction="([^"]+)"/g)].map((m) => m[1]!)];
        for (const target of targets) {
          forms.add(target);
          for (const forged of [undefined, '', 'forged', attackerToken!]) {
            const body = forged === undefined ? fields : { ...fields, _csrf: forged };
            const answer = await app.inject({
              method: 'POST',
              url: target,
              headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
              payload: new URLSearchParams(body).toString(),
            });
            // Without a session (the sign-in page's forms) a form is sent to sign in; nothing changes either way.
            const allowed = cast.headers[identity].cookie?.includes(SESSION_COOKIE) ? [403] : [403, 303];
            expect(allowed, `${target} on ${page} with token ${String(forged)}: ${answer.statusCode}`).toContain(
              answer.statusCode,
            );
            expect(answer.cookies.some((c) => c.name === SESSION_COOKIE)).toBe(false);
          }
        }
        // The session the page belongs to is still valid: a forged sign-out ended nothing.
        const session = /photosync_session=([^;]+)/.exec(
          cast.headers[identity].cookie ?? cast.headers.user.cookie!,
        )?.[1];
        expect(await userForSession(services.database.db, session!)).toBeDefined();
      }
    }
    expect([...forms]).toEqual(
      expect.arrayContaining([
        '/signin',
        '/signout',
        '/launch/onedrive',
        '/profile-photo',
        '/admin/prompts',
        '/admin/sync',
        '/admin/settings',
      ]),
    );
    expect(await organisationState(services, cast)).toEqual(before);
  });

  it('limits the sign-in form to 120 posts a minute from one address, then answers 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 122; i++) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/signin',
        remoteAddress: '192.0.2.77',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'upn=a%40b.com&password=x',
      });
      statuses.push(response.statusCode);
    }
    expect(statuses.slice(0, 120).every((s) => s === 403)).toBe(true);
    expect(statuses.slice(120)).toEqual([429, 429]);
    // Another address is not affected.
    const elsewhere = await context.app.inject({ method: 'POST', url: '/signin', remoteAddress: '192.0.2.78' });
    expect(elsewhere.statusCode).not.toBe(429);
  });
});

describeEachDialect('cookies and transport security behind https', (dialect) => {
  let app: App;
  let services: Services;
  let drop: () => Promise<void>;
  let store: Awaited<ReturnType<typeof createTestStore>>;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    drop = () => store.drop();
    services = await openTestServices(store, { PHOTOSYNC_PUBLIC_URL: 'https://photos.contoso.test' });
    app = await buildApp(services);
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
    await drop?.();
  });

  it('marks the session and form cookies Secure, HttpOnly and SameSite=Lax, and sends HSTS', async () => {
    const user = await makeUser(services, { password: 'long password' });
    const page = await app.inject({ url: '/signin' });
    expect(page.headers['strict-transport-security']).toMatch(/max-age=\d{7,}/);
    expect(page.headers['content-security-policy']).toContain('upgrade-insecure-requests');
    // At localhost (a development certificate) HSTS would hold for every port of it: not sent.
    const local = await openTestServices(store, { PHOTOSYNC_PUBLIC_URL: 'https://localhost:8443' });
    const localApp = await buildApp(local);
    try {
      const localPage = await localApp.inject({ url: '/signin' });
      expect(localPage.headers['strict-transport-security']).toBeUndefined();
      expect(localPage.headers['content-security-policy']).toContain('upgrade-insecure-requests');
    } finally {
      await localApp.close();
      await local.close();
    }
    const csrfCookie = page.cookies.find((c) => c.name === '_csrf')!;
    expect(csrfCookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax' });
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const signedIn = await app.inject({
      method: 'POST',
      url: '/signin',
      headers: { cookie: `_csrf=${csrfCookie.value}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ upn: user.upn, password: 'long password', _csrf: token }).toString(),
    });
    expect(signedIn.statusCode).toBe(303);
    const session = signedIn.cookies.find((c) => c.name === SESSION_COOKIE)!;
    expect(session).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/' });
    // At most a working day, and a secret long enough that guessing it is hopeless.
    expect(session.maxAge).toBeLessThanOrEqual(8 * 60 * 60);
    expect(session.value.length).toBeGreaterThanOrEqual(43);
  });
});
