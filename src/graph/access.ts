import type { FastifyRequest } from 'fastify';
import { normalizeUpn } from '../directory/upn.js';
import { findUserById, findUserByUpn, type DirectoryUser } from '../directory/users.js';
import { authenticate, mayAccessPhoto, type PhotoAccess, type Principal } from '../http/auth.js';
import type { Services } from '../services.js';
import { GraphError, graphErrors } from './errors.js';

// Who is asking and about whom, with Graph's answers: 401 without a valid token, 400 for /me with
// an app token, 403 without the scope, 404 for a user that does not exist.

const UNAUTHENTICATED = {
  missing: 'Access token is empty.',
  malformed: 'The Authorization header must be "Bearer <token>".',
  invalid: 'Access token validation failure. Invalid signature, unknown token or revoked app.',
  expired: 'Lifetime validation failed, the token is expired.',
  audience: 'Invalid audience: the token was not issued for this server.',
} as const;

const SOMEONE_ELSE = { id: '' };

/** Graph takes bearer tokens only; cookies belong to the pages. */
export async function graphPrincipal(request: FastifyRequest, services: Services): Promise<Principal> {
  const result = await authenticate(
    request,
    {
      db: services.database.db,
      publicUrl: services.config.publicUrl,
      reads: services.database.reads,
      surface: 'graph',
    },
    { cookies: false },
  );
  if (!result.ok) throw graphErrors.unauthenticated(UNAUTHENTICATED[result.problem]);
  return result.principal;
}

/**
 * The user a request is about: the caller for /me, else {id | userPrincipalName}. Scopes are
 * checked before the lookup, so a token without the right to see others learns nothing about them.
 */
export async function graphSubject(
  services: Services,
  principal: Principal,
  id: string | undefined,
  access: PhotoAccess | 'profile',
): Promise<DirectoryUser> {
  const { db } = services.database;
  if (id === undefined) {
    if (principal.kind === 'app') throw graphErrors.meNeedsUser();
    return checked(principal, principal.user, access);
  }
  const upn = normalizeUpn(id);
  // Object ids are GUIDs, which Graph matches in any case; ours are stored in lower case.
  if (!upn) id = id.toLowerCase();
  const self = principal.kind === 'user' && (principal.user.id === id || principal.user.upn === upn);
  if (!self && !mayAccessPhoto(principal, SOMEONE_ELSE, access === 'write' ? 'write' : 'read')) throw denied(access);
  const user = upn ? await findUserByUpn(db, upn) : await findUserById(db, id);
  if (!user) throw graphErrors.userNotFound(id);
  return checked(principal, user, access);
}

function checked(principal: Principal, user: DirectoryUser, access: PhotoAccess | 'profile'): DirectoryUser {
  if (!mayAccessPhoto(principal, user, access === 'write' ? 'write' : 'read')) throw denied(access);
  return user;
}

function denied(access: PhotoAccess | 'profile'): GraphError {
  return access === 'profile'
    ? new GraphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.')
    : graphErrors.accessDenied();
}
