import { normalizeUpn } from '../directory/upn.js';
import { findUserById, findUserByUpn, type DirectoryUser } from '../directory/users.js';
import { mayAccessPhoto, type PhotoAccess, type Principal } from '../http/auth.js';
import type { Services } from '../services.js';
import type { AppError } from '../errors.js';
import { graphErrors } from './errors.js';

// About whom a Graph request is, with Graph's answers: 400 for /me with an app token, 403 without
// the scope, 404 for a user that does not exist. (Who is asking is the auth hook's: 401 there.)

const SOMEONE_ELSE = { id: '' };

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

function denied(access: PhotoAccess | 'profile'): AppError {
  return access === 'profile' ? graphErrors.profileDenied() : graphErrors.accessDenied();
}
