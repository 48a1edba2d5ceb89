import { createSession, createToken } from '../../src/directory/credentials.js';
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
  'admin',
  'expiredToken',
  'expiredSession',
  'garbageToken',
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

export async function createCast(services: Services): Promise<Cast> {
  const { db } = services.database;
  const owner = await makeUser(services);
  const other = await makeUser(services);
  const admin = await makeUser(services, { isAdmin: true });
  const disabled = await makeUser(services);
  await db.updateTable('directory_users').set({ enabled: 0 }).where('id', '=', disabled.id).execute();
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const session = (id: string) => ({ cookie: `${SESSION_COOKIE}=${id}` });
  return {
    owner,
    other,
    admin,
    headers: {
      anonymous: {},
      user: session(await createSession(db, owner.id, HOUR)),
      userToken: bearer(await createToken(db, owner.id, 'matrix')),
      otherUser: session(await createSession(db, other.id, HOUR)),
      admin: session(await createSession(db, admin.id, HOUR)),
      expiredToken: bearer(await createToken(db, owner.id, 'matrix', -1000)),
      expiredSession: session(await createSession(db, owner.id, -1000)),
      garbageToken: bearer('pst_not-a-token-anyone-was-given'),
      disabledUser: session(await createSession(db, disabled.id, HOUR)),
    },
  };
}

/** The start of a stack frame line, which no response may ever contain. */
export const STACK_FRAME = /\n\s+at [^\n]+\(/;
