import fs from 'node:fs';
import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import {
  appRedirectUris,
  createApp,
  findApp,
  listApps,
  removeApp,
  removeAppCertificate,
  removeAppRedirectUri,
  setAppPublicClient,
  setAppRedirectUri,
} from '../../directory/apps.js';
import { tenantId } from '../../directory/settings.js';
import { issuerFor } from '../../directory/tokens.js';
import { parseScopes, GRAPH_SCOPES } from '../../directory/scopes.js';
import { isAppError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { CommandHandler } from '../command.js';
import { CliError, fileProblem, formatTime, table, UsageError } from '../output.js';

function scopesFrom(text: string | undefined) {
  if (text === undefined) throw new UsageError(`Give the scopes with --scopes, from ${GRAPH_SCOPES.join(', ')}.`);
  try {
    return parseScopes(text);
  } catch (error) {
    if (isAppError(error)) throw new CliError(error.message, 2);
    throw error;
  }
}

export const appsAdd: CommandHandler = async ({ args: [name], services, option, options, flag, print }) => {
  print(
    await addAppCommand(services, name, {
      scopes: option('scopes'),
      certificate: options('certificate'),
      'redirect-uri': options('redirect-uri'),
      'spa-redirect-uri': options('spa-redirect-uri'),
      'public-client': flag('public-client'),
    }),
  );
};

/** Adds a redirect URI to an app (a web app's, or with --spa a single-page app's), or removes one. */
export const appsRedirectUri: CommandHandler = async ({ args: [clientId, verb, uri], services, flag, print }) => {
  if (!clientId) throw new UsageError('Name the app by its client id, as photosync apps list shows it.');
  const action = verb?.toLowerCase();
  if (action !== 'add' && action !== 'remove') {
    throw new UsageError('Say add or remove, then the redirect URI.');
  }
  if (!uri) throw new UsageError('Give the redirect URI, e.g. https://app.contoso.com/auth.');
  const spa = flag('spa');
  if (spa && action === 'remove')
    throw new UsageError('--spa is for add: remove takes the URI alone, whatever its kind.');
  const { db } = (await services()).database;
  const done = await db
    .transaction()
    .execute(async (trx) => {
      const found = await findApp(trx, clientId);
      if (!found) throw new CliError(`There is no app with client id ${clientId}.`);
      const app = { name: found.name, clientId };
      if (action === 'remove') {
        if (!(await removeAppRedirectUri(trx, clientId, uri))) {
          throw new CliError(`App "${found.name}" has no redirect URI ${uri}; apps list shows its own.`);
        }
        await recordAudit(trx, COMMAND_LINE, 'app_redirect_uri_set', { ...app, uri, removed: true });
        return `Removed the redirect URI ${uri} from app "${found.name}": sign-in no longer answers there.`;
      }
      const before = await setAppRedirectUri(trx, clientId, uri, spa);
      const kind = spa ? 'spa' : 'web';
      const how = redeemedHow(kind, found.publicClient);
      if (before === kind)
        return `App "${found.name}" already has ${uri} as a ${words(kind)}'s redirect URI; nothing changed.`;
      await recordAudit(trx, COMMAND_LINE, 'app_redirect_uri_set', { ...app, uri, spa });
      return before === undefined
        ? `Added ${uri} to app "${found.name}" as a ${words(kind)}'s redirect URI (${how}).`
        : `${uri} of app "${found.name}" is now a ${words(kind)}'s redirect URI (${how}).`;
    })
    .catch((error: unknown) => {
      if (isAppError(error)) throw new CliError(error.message, 2);
      throw error;
    });
  print(done);
};

const words = (kind: 'web' | 'spa') => (kind === 'spa' ? 'single-page app' : 'web app');
const redeemedHow = (kind: 'web' | 'spa', publicClient: boolean) =>
  kind === 'spa'
    ? 'its codes are redeemed from the browser'
    : publicClient
      ? 'the app allows public client flows, so its codes are redeemed without the secret too'
      : 'its codes are redeemed with the app’s secret';

export const appsPublicClient: CommandHandler = async ({ args: [clientId, setting], services, print }) => {
  if (!clientId) throw new UsageError('Name the app by its client id, as photosync apps list shows it.');
  const word = setting?.toLowerCase();
  if (word !== 'on' && word !== 'off') {
    throw new UsageError('Say on (the password grant may come without the app’s secret) or off (it needs the secret).');
  }
  const allowed = word === 'on';
  const { db } = (await services()).database;
  const app = await db
    .transaction()
    .execute(async (trx) => {
      const found = await findApp(trx, clientId);
      // As it is already: nothing to change, nothing to record.
      if (found?.publicClient === allowed) return { found, changed: false };
      await setAppPublicClient(trx, clientId, allowed);
      await recordAudit(trx, COMMAND_LINE, 'app_public_client_set', { name: found?.name ?? '', clientId, allowed });
      return { found, changed: true };
    })
    .catch((error: unknown) => {
      if (isAppError(error)) throw new CliError(error.message);
      throw error;
    });
  if (!app.changed) {
    print(
      `App "${app.found?.name ?? clientId}" ${allowed ? 'already allows' : 'already does not allow'} public client flows; nothing changed.`,
    );
    return;
  }
  print(
    allowed
      ? `App "${app.found?.name ?? clientId}" now allows public client flows: a script may get a user's token with the password grant and the client id alone.`
      : `App "${app.found?.name ?? clientId}" no longer allows public client flows: the password grant needs its secret or certificate, and so does refreshing the refresh tokens it gave without one (access tokens already given last until they expire, at most an hour).`,
  );
};

export const appsList: CommandHandler = async ({ services, print }) => {
  print(await listAppsCommand(await services()));
};

export const appsRemove: CommandHandler = async ({ args: [clientId], services, print }) => {
  print(await removeAppCommand(await services(), clientId));
};

export const appsRemoveCertificate: CommandHandler = async ({ args: [clientId, thumbprint], services, print }) => {
  if (!clientId) throw new UsageError('Name the app by its client id, as photosync apps list shows it.');
  if (!thumbprint) throw new UsageError('Name the certificate by its x5t#S256 thumbprint.');
  const { db } = (await services()).database;
  const app = await findApp(db, clientId);
  await db
    .transaction()
    .execute(async (trx) => {
      const removed = await removeAppCertificate(trx, clientId, thumbprint);
      await recordAudit(trx, COMMAND_LINE, 'app_certificate_removed', {
        name: app?.name ?? '',
        clientId,
        thumbprint: removed,
      });
    })
    .catch((error: unknown) => {
      if (isAppError(error)) throw new CliError(error.message);
      throw error;
    });
  print(
    `Removed certificate ${thumbprint} from app ${clientId}: it can no longer get tokens with it (tokens it holds last until they expire).`,
  );
};

export interface AddAppOptions {
  scopes?: string | undefined;
  /** Files with a PEM certificate each: the app may prove itself with a client assertion signed by its key. */
  certificate?: string[] | undefined;
  /** Where /authorize may send the user back with a code (exact match, as Entra compares them). */
  'redirect-uri'?: string[] | undefined;
  /** A single-page app's redirect URIs (Entra's "spa" platform): codes redeemed from the browser without the secret. */
  'spa-redirect-uri'?: string[] | undefined;
  /** Entra's "Allow public client flows": the password grant with the client id alone. */
  'public-client'?: boolean | undefined;
}

function readCertificate(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(fileProblem(file, error));
  }
}

/** Registers an app and prints what a client needs: client id, secret (once), tenant, authority and endpoints. */
async function addAppCommand(open: () => Promise<Services>, name: string | undefined, options: AddAppOptions) {
  // The words first: a usage mistake needs no database.
  if (!name) throw new UsageError('Name the app, e.g. "My daemon".');
  const scopes = scopesFrom(options.scopes);
  const certificates = (options.certificate ?? []).map(readCertificate);
  const services = await open();
  const app = await services.database.db
    .transaction()
    .execute(async (trx) => {
      const added = await createApp(trx, name, scopes, {
        certificates,
        redirectUris: options['redirect-uri'] ?? [],
        spaRedirectUris: options['spa-redirect-uri'] ?? [],
        publicClient: options['public-client'] ?? false,
      });
      await recordAudit(trx, COMMAND_LINE, 'app_added', {
        name: added.name,
        clientId: added.clientId,
        scopes: added.scopes,
        certificates: added.certificates.map((c) => c.thumbprintSha256),
        redirectUris: added.redirectUris,
        spaRedirectUris: added.spaRedirectUris,
        publicClient: added.publicClient,
      });
      return added;
    })
    .catch((error: unknown) => {
      if (isAppError(error)) throw new CliError(error.message, 2);
      throw error;
    });
  const tenant = await tenantId(services.database.db);
  const { publicUrl } = services.config;
  return [
    `Registered app "${app.name}" with ${app.scopes.join(', ')}.`,
    `  tenant id:      ${tenant}`,
    `  client id:      ${app.clientId}`,
    `  client secret:  ${app.secret}   (shown once; keep it secret)`,
    ...app.certificates.map(
      (c) => `  certificate:    x5t#S256 ${c.thumbprintSha256} (until ${formatTime(c.notAfter)})`,
    ),
    ...app.redirectUris.map((uri) => `  redirect URI:   ${uri}   (web: codes redeemed with the secret)`),
    ...app.spaRedirectUris.map(
      (uri) => `  redirect URI:   ${uri}   (single-page app: codes redeemed from the browser)`,
    ),
    app.publicClient
      ? '  public client:  yes   (the password grant may come with the client id alone)'
      : '  public client:  no    (the password grant needs the secret; apps add --public-client, or apps public-client <client id> on)',
    `  authority:      ${publicUrl}/${tenant}   (MSAL: authority, and knownAuthorities: ["${new URL(publicUrl).host}"])`,
    `  token endpoint: ${publicUrl}/${tenant}/oauth2/v2.0/token`,
    `  scope:          https://graph.microsoft.com/.default (Graph), https://contoso-my.sharepoint.com/.default (SharePoint: any https://<name>.sharepoint.com names photosync's sites, as in a script written for Microsoft 365)`,
    `  issuer:         ${issuerFor(publicUrl, tenant)}`,
  ].join('\n');
}

async function listAppsCommand(services: Services): Promise<string> {
  const apps = await listApps(services.database.db);
  if (apps.length === 0) return 'No apps are registered. Add one with: photosync apps add <name> --scopes …';
  const rows = await Promise.all(
    apps.map(async (a) => [
      a.clientId,
      a.name,
      a.scopes.join(' '),
      // Which kind each is decides how its codes are redeemed (the secret, or from the browser).
      (await appRedirectUris(services.database.db, a.clientId))
        .map((r) => (r.spa ? `${r.uri} (single-page app)` : `${r.uri} (web)`))
        .join(' '),
      a.publicClient ? 'yes' : 'no',
      formatTime(a.createdAt),
    ]),
  );
  return table(['client id', 'name', 'scopes', 'redirect URIs', 'public client', 'created'], rows);
}

async function removeAppCommand(services: Services, clientId: string | undefined): Promise<string> {
  if (!clientId) throw new UsageError('Name the app by its client id, as photosync apps list shows it.');
  const app = await findApp(services.database.db, clientId);
  await services.database.db.transaction().execute(async (trx) => {
    await removeApp(trx, clientId);
    await recordAudit(trx, COMMAND_LINE, 'app_removed', { clientId, name: app?.name ?? '' });
  });
  return `Removed app ${clientId}; its tokens no longer work.`;
}
