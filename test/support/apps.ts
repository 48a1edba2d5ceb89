import { createApp } from '../../src/directory/apps.js';
import { issueAccessToken, type IssueOptions } from '../../src/directory/tokens.js';
import { createToken } from '../../src/directory/credentials.js';
import type { GraphScope } from '../../src/directory/scopes.js';
import type { DirectoryUser } from '../../src/directory/users.js';
import type { Services } from '../../src/services.js';

/**
 * A registered app and an access token signed for it, as the token endpoint would give one proved
 * with a certificate (unless `options` says otherwise): the sites take no other from an app.
 */
export async function appToken(services: Services, scopes: GraphScope[], options: IssueOptions = {}): Promise<string> {
  const app = await createApp(services.database.db, `test app ${scopes.join(' ')}`, scopes);
  const { accessToken } = await issueAccessToken(
    { db: services.database.db, publicUrl: services.config.publicUrl },
    { kind: 'app', app },
    { clientAuth: 'certificate', ...options },
  );
  return accessToken;
}

/** A user's opaque bearer token with the given scopes (default: the default delegated scopes). */
export function userToken(services: Services, user: DirectoryUser, scopes?: GraphScope[]): Promise<string> {
  return createToken(services.database.db, user.id, 'test', undefined, scopes);
}

export const bearer = (token: string | undefined): Record<string, string> =>
  token ? { authorization: `Bearer ${token}` } : {};
