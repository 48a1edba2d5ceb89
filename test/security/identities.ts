import { createApp } from '../../src/directory/apps.js';
import { issueAccessToken } from '../../src/directory/tokens.js';
import { createSession, createToken } from '../../src/directory/credentials.js';
import type { GraphScope } from '../../src/directory/scopes.js';
import type { DirectoryUser } from '../../src/directory/users.js';
import { SESSION_COOKIE } from '../../src/http/auth.js';
import type { Services } from '../../src/services.js';
import { makeUser } from '../support/factories.js';

// Everyone who can knock on the server's door, as request headers. The authorization matrix and
// the bad-input crawler send every request once per identity.

export const IDENTITIES = [
  'anonymous',
  'user',
  'userToken',
  'otherUser',
  'otherUserReadToken',
  'admin',
  'adminToken',
  'appRead',
  'appReadWrite',
  'appNoScope',
  'expiredToken',
  'expiredJwt',
  'expiredSession',
  'garbageToken',
  'tamperedJwt',
  'wrongAudienceJwt',
  'disabledUser',
] as const;
export type Identity = (typeof IDENTITIES)[number];

export interface Cast {
  /** The user whose data the routes are asked about ("user" and "userToken" are this user). */
  owner: DirectoryUser;
  other: DirectoryUser;
  admin: DirectoryUser;
  headers: Record<Identity, Record<string, string>>;
}

const HOUR = 60 * 60 * 1000;

/** A registered app's signed access token, as the token endpoint gives it. */
async function appJwt(
  services: Services,
  scopes: GraphScope[],
  options: { now?: number; audience?: string } = {},
): Promise<string> {
  const { db } = services.database;
  const app = await createApp(db, `matrix ${scopes.join(' ')}`, scopes.length > 0 ? scopes : ['User.Read']);
  if (scopes.length === 0) {
    // An app registration whose every permission was withdrawn.
    await db.updateTable('directory_apps').set({ scopes: '' }).where('client_id', '=', app.clientId).execute();
    app.scopes = [];
  }
  const deps = { db, publicUrl: services.config.publicUrl };
  // Proved with a certificate, as SharePoint requires of apps (a secret's token is refused there).
  return (await issueAccessToken(deps, { kind: 'app', app }, { ...options, clientAuth: 'certificate' })).accessToken;
}

/** The same token with its payload rewritten (more rights, another subject) but the old signature. */
function tamper(jwt: string): string {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  claims.roles = ['ProfilePhoto.ReadWrite.All'];
  claims.exp = Math.floor(Date.now() / 1000) + 86_400;
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

export async function createCast(services: Services): Promise<Cast> {
  const { db } = services.database;
  const owner = await makeUser(services);
  const other = await makeUser(services);
  const admin = await makeUser(services, { isAdmin: true });
  const disabled = await makeUser(services);
  await db.updateTable('directory_users').set({ enabled: 0 }).where('id', '=', disabled.id).execute();
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const session = (id: string) => ({ cookie: `${SESSION_COOKIE}=${id}` });
  const anHourAgo = Date.now() - 2 * HOUR;
  return {
    owner,
    other,
    admin,
    headers: {
      anonymous: {},
      user: session(await createSession(db, owner.id, HOUR)),
      userToken: bearer(await createToken(db, owner.id, 'matrix')),
      otherUser: session(await createSession(db, other.id, HOUR)),
      // Another user's token that may only read and change that user's own profile.
      otherUserReadToken: bearer(await createToken(db, other.id, 'matrix', undefined, ['User.Read'])),
      admin: session(await createSession(db, admin.id, HOUR)),
      adminToken: bearer(await createToken(db, admin.id, 'matrix', undefined, ['ProfilePhoto.ReadWrite.All'])),
      appRead: bearer(await appJwt(services, ['ProfilePhoto.Read.All'])),
      appReadWrite: bearer(await appJwt(services, ['ProfilePhoto.ReadWrite.All'])),
      appNoScope: bearer(await appJwt(services, [])),
      expiredToken: bearer(await createToken(db, owner.id, 'matrix', -1000)),
      expiredJwt: bearer(await appJwt(services, ['ProfilePhoto.ReadWrite.All'], { now: anHourAgo })),
      expiredSession: session(await createSession(db, owner.id, -1000)),
      garbageToken: bearer('pst_not-a-token-anyone-was-given'),
      tamperedJwt: bearer(tamper(await appJwt(services, ['ProfilePhoto.Read.All']))),
      wrongAudienceJwt: bearer(
        await appJwt(services, ['ProfilePhoto.ReadWrite.All'], { audience: 'https://outlook.office.com' }),
      ),
      disabledUser: session(await createSession(db, disabled.id, HOUR)),
    },
  };
}

/** The start of a stack frame line, which no response may ever contain. */
export const STACK_FRAME = /\n\s+at [^\n]+\(/;
