import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { invalidInput, notFound } from '../errors.js';
import type { Db } from '../storage/database.js';
import { inTransaction } from '../storage/in-transaction.js';
import { parseCertificate, type AppCertificate } from './app-certificates.js';
import { storedScopes, type GraphScope } from './scopes.js';

// App registrations (Entra's "app registrations"): a client id, a secret, optionally certificates
// (client assertions) and redirect URIs (sign-in with the authorization code flow), and the scopes
// the app was granted, which are both its `roles` as a daemon and the most a user's token through
// it may hold.

export interface AppRegistration {
  clientId: string;
  name: string;
  scopes: GraphScope[];
  /** Entra's "Allow public client flows": the password grant without the app's secret. */
  publicClient: boolean;
  createdAt: number;
}

export interface NewAppOptions {
  /** A web app's: its codes are redeemed with the app's secret or certificate. */
  redirectUris?: readonly string[];
  /** A single-page app's (Entra's "spa" platform): its codes are redeemed from the browser without one. */
  spaRedirectUris?: readonly string[];
  /** PEM text of certificates the app may sign client assertions with. */
  certificates?: readonly string[];
  /** Whether scripts may use the password grant with the client id alone (off, as in Entra). */
  publicClient?: boolean;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');
const MAX_REDIRECT_URI_LENGTH = 256;

/** Entra's rule: https, or http on the local machine only; no fragment. Returns the URI as given. */
export function validRedirectUri(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidInput(`"${text}" is not an absolute URL; a redirect URI looks like https://app.contoso.com/auth.`);
  }
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    throw invalidInput(`The redirect URI ${text} must use https (http only for localhost).`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidInput(`The redirect URI ${text} cannot carry a user name or password.`);
  }
  if (url.hostname.includes('*') || text.includes('*')) {
    throw invalidInput(`The redirect URI ${text} cannot have a wildcard (*): register each address.`);
  }
  if (url.hash !== '' || text.includes('#'))
    throw invalidInput(`The redirect URI ${text} cannot have a fragment (#…).`);
  if (text.length > MAX_REDIRECT_URI_LENGTH || /[\s\p{Cc}]/u.test(text)) {
    throw invalidInput(`A redirect URI is at most ${MAX_REDIRECT_URI_LENGTH} characters without spaces.`);
  }
  return text;
}

/** Registers an app; the secret is shown once and only its SHA-256 is kept. */
export async function createApp(
  db: Db,
  name: string,
  scopes: readonly GraphScope[],
  options: NewAppOptions = {},
): Promise<
  AppRegistration & {
    secret: string;
    redirectUris: string[];
    spaRedirectUris: string[];
    certificates: AppCertificate[];
  }
> {
  const cleanName = name.trim();
  if (cleanName.length === 0 || cleanName.length > 120 || /\p{Cc}/u.test(cleanName)) {
    throw invalidInput('An app name is 1 to 120 characters without control characters.');
  }
  if (scopes.length === 0) throw invalidInput('Give the app at least one scope.', 'invalid_scope');
  const spaRedirectUris = [...new Set((options.spaRedirectUris ?? []).map(validRedirectUri))];
  const redirectUris = [...new Set((options.redirectUris ?? []).map(validRedirectUri))];
  const both = redirectUris.find((uri) => spaRedirectUris.includes(uri));
  if (both !== undefined) {
    throw invalidInput(`The redirect URI ${both} is either a web app's or a single-page app's, not both.`);
  }
  const parsed = (options.certificates ?? []).map(parseCertificate);
  const certificates = parsed.filter(
    (c, i) => parsed.findIndex((d) => d.thumbprintSha256 === c.thumbprintSha256) === i,
  );
  // Entra's secrets are 40 URL-safe characters; these are 256 random bits.
  const secret = `psc~${randomBytes(32).toString('base64url')}`;
  const app = {
    clientId: randomUUID(),
    name: cleanName,
    scopes: [...scopes],
    publicClient: options.publicClient ?? false,
    createdAt: Date.now(),
  };
  await inTransaction(db, async (trx) => {
    await trx
      .insertInto('directory_apps')
      .values({
        client_id: app.clientId,
        name: app.name,
        secret_hash: digest(secret),
        scopes: app.scopes.join(' '),
        public_client: app.publicClient ? 1 : 0,
        created_at: app.createdAt,
      })
      .execute();
    if (redirectUris.length + spaRedirectUris.length > 0) {
      await trx
        .insertInto('directory_app_redirect_uris')
        .values([
          ...redirectUris.map((uri) => ({ client_id: app.clientId, uri, spa: 0 })),
          ...spaRedirectUris.map((uri) => ({ client_id: app.clientId, uri, spa: 1 })),
        ])
        .execute();
    }
    for (const certificate of certificates) {
      await trx
        .insertInto('directory_app_certificates')
        .values({
          thumbprint_sha256: certificate.thumbprintSha256,
          thumbprint_sha1: certificate.thumbprintSha1,
          client_id: app.clientId,
          certificate: certificate.pem,
          not_after: certificate.notAfter,
          created_at: app.createdAt,
        })
        .execute();
    }
  });
  return { ...app, secret, redirectUris, spaRedirectUris, certificates };
}

export async function listApps(db: Db): Promise<AppRegistration[]> {
  const rows = await db
    .selectFrom('directory_apps')
    .select(['client_id', 'name', 'scopes', 'public_client', 'created_at'])
    .orderBy('created_at')
    .execute();
  return rows.map(toApp);
}

/** Removes an app by client id; its tokens, codes and refresh tokens stop working at once. */
export async function removeApp(db: Db, clientId: string): Promise<void> {
  const result = await db.deleteFrom('directory_apps').where('client_id', '=', clientId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound(`There is no app with client id ${clientId}.`, 'app_not_found');
}

/**
 * Revokes one certificate of an app, named by its x5t#S256 thumbprint (base64url, as `apps add`
 * prints it, or hex, as Entra's portal shows it): client assertions signed with it are refused
 * from now on, as when a certificate is deleted from an app registration in Entra. Returns the
 * thumbprint as `apps add` prints it.
 */
export async function removeAppCertificate(db: Db, clientId: string, thumbprint: string): Promise<string> {
  const stored = /^[0-9a-f]{64}$/i.test(thumbprint) ? Buffer.from(thumbprint, 'hex').toString('base64url') : thumbprint;
  const result = await db
    .deleteFrom('directory_app_certificates')
    .where('client_id', '=', clientId)
    .where('thumbprint_sha256', '=', stored)
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) {
    throw notFound(`App ${clientId} has no certificate with the thumbprint ${thumbprint}.`, 'app_not_found');
  }
  return stored;
}

export async function findApp(db: Db, clientId: string): Promise<AppRegistration | undefined> {
  if (clientId.includes('\u0000')) return undefined;
  const row = await db
    .selectFrom('directory_apps')
    .select(['client_id', 'name', 'scopes', 'public_client', 'created_at'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  return row && toApp(row);
}

/** The app whose client id and secret these are, or undefined (never says which one was wrong). */
export async function appForCredentials(
  db: Db,
  clientId: string,
  secret: string,
): Promise<AppRegistration | undefined> {
  const row = clientId.includes('\u0000')
    ? undefined
    : await db
        .selectFrom('directory_apps')
        .select(['client_id', 'name', 'scopes', 'public_client', 'created_at', 'secret_hash'])
        .where('client_id', '=', clientId)
        .executeTakeFirst();
  const expected = Buffer.from(row?.secret_hash ?? digest('no such app'), 'hex');
  const matches = timingSafeEqual(expected, Buffer.from(digest(secret), 'hex'));
  return row && matches ? toApp(row) : undefined;
}

/**
 * Whether `uri` is one of the app's registered redirect URIs, compared exactly as Entra does, but
 * for the port of an http loopback address (localhost, 127.0.0.1, [::1]), which Entra ignores
 * (RFC 8252 §7.3): a desktop app or command-line tool listens on whatever port is free, so MSAL's
 * `acquireTokenInteractive` asks for http://localhost:<random port> of a registered http://localhost.
 */
export async function redirectUriIsRegistered(db: Db, clientId: string, uri: string): Promise<boolean> {
  if ((await registeredRedirectUri(db, clientId, uri)) !== undefined) return true;
  const loopback = withoutLoopbackPort(uri);
  if (loopback === undefined) return false;
  return (await appRedirectUris(db, clientId)).some((registered) => withoutLoopbackPort(registered.uri) === loopback);
}

/** Whether `uri` is registered for the app as a single-page app's (exactly: codes carry the URI asked for). */
export async function redirectUriIsSpa(db: Db, clientId: string, uri: string): Promise<boolean> {
  return (await registeredRedirectUri(db, clientId, uri))?.spa === 1;
}

/** The app's row for `uri`, spelled exactly so. */
async function registeredRedirectUri(db: Db, clientId: string, uri: string): Promise<{ spa: number } | undefined> {
  if (uri.includes('\u0000') || clientId.includes('\u0000')) return undefined;
  return db
    .selectFrom('directory_app_redirect_uris')
    .select('spa')
    .where('client_id', '=', clientId)
    .where('uri', '=', uri)
    .executeTakeFirst();
}

/**
 * Whether an app may be sent back to `uri` after signing out: a redirect URI of the app named, or
 * of any app when none is named (MSAL sends post_logout_redirect_uri without client_id).
 */
export async function postLogoutUriIsRegistered(db: Db, uri: string, clientId: string | undefined): Promise<boolean> {
  if (clientId !== undefined) return redirectUriIsRegistered(db, clientId, uri);
  if (uri.includes('\u0000')) return false;
  const row = await db
    .selectFrom('directory_app_redirect_uris')
    .select('uri')
    .where('uri', '=', uri)
    .executeTakeFirst();
  if (row !== undefined) return true;
  const loopback = withoutLoopbackPort(uri);
  if (loopback === undefined) return false;
  // Any app's loopback address, whatever its port (a few rows: loopback addresses are desktop apps').
  const local = await db
    .selectFrom('directory_app_redirect_uris')
    .select('uri')
    .where((eb) =>
      eb.or(['http://localhost', 'http://127.0.0.1', 'http://[::1]'].map((o) => eb('uri', 'like', `${o}%`))),
    )
    .execute();
  return local.some((registered) => withoutLoopbackPort(registered.uri) === loopback);
}

/** An http loopback URL without its port (and as the URL parser writes it); undefined for any other. */
function withoutLoopbackPort(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' || !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) return undefined;
  url.port = '';
  return url.href;
}

export async function appRedirectUris(db: Db, clientId: string): Promise<Array<{ uri: string; spa: boolean }>> {
  const rows = await db
    .selectFrom('directory_app_redirect_uris')
    .select(['uri', 'spa'])
    .where('client_id', '=', clientId)
    .orderBy('uri')
    .execute();
  return rows.map((r) => ({ uri: r.uri, spa: r.spa === 1 }));
}

/**
 * Registers `uri` for the app, a web app's or (`spa`) a single-page app's; one already there
 * takes the platform given. Returns what it was before: undefined when it was not registered.
 */
export async function setAppRedirectUri(
  db: Db,
  clientId: string,
  uri: string,
  spa: boolean,
): Promise<'web' | 'spa' | undefined> {
  const valid = validRedirectUri(uri);
  const before = await registeredRedirectUri(db, clientId, valid);
  if (before === undefined) {
    await db
      .insertInto('directory_app_redirect_uris')
      .values({ client_id: clientId, uri: valid, spa: spa ? 1 : 0 })
      .execute();
    return undefined;
  }
  await db
    .updateTable('directory_app_redirect_uris')
    .set({ spa: spa ? 1 : 0 })
    .where('client_id', '=', clientId)
    .where('uri', '=', valid)
    .execute();
  return before.spa === 1 ? 'spa' : 'web';
}

/** Removes a redirect URI from the app; false when it was not registered. */
export async function removeAppRedirectUri(db: Db, clientId: string, uri: string): Promise<boolean> {
  const result = await db
    .deleteFrom('directory_app_redirect_uris')
    .where('client_id', '=', clientId)
    .where('uri', '=', uri)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Allows or refuses an app's public client flows (the password grant without its secret). */
export async function setAppPublicClient(db: Db, clientId: string, allowed: boolean): Promise<void> {
  const result = await db
    .updateTable('directory_apps')
    .set({ public_client: allowed ? 1 : 0 })
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound(`There is no app with client id ${clientId}.`, 'app_not_found');
}

function toApp(row: {
  client_id: string;
  name: string;
  scopes: string;
  public_client: number;
  created_at: number;
}): AppRegistration {
  return {
    clientId: row.client_id,
    name: row.name,
    scopes: storedScopes(row.scopes, []),
    publicClient: row.public_client === 1,
    createdAt: row.created_at,
  };
}
