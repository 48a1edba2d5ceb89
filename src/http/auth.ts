import type { FastifyRequest } from 'fastify';
import { userForSession, userForToken } from '../directory/credentials.js';
import type { DirectoryUser } from '../directory/users.js';
import { unauthorized } from '../errors.js';
import type { Db } from '../storage/database.js';

export const SESSION_COOKIE = 'photosync_session';

/** The signed-in user (session cookie) or the bearer token's user; undefined for anonymous. */
export async function currentUser(request: FastifyRequest, db: Db): Promise<DirectoryUser | undefined> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1] ? userForToken(db, match[1]) : undefined;
  }
  const session = request.cookies[SESSION_COOKIE];
  return session ? userForSession(db, session) : undefined;
}

export async function requireUser(request: FastifyRequest, db: Db): Promise<DirectoryUser> {
  const user = await currentUser(request, db);
  if (!user) throw unauthorized();
  return user;
}
