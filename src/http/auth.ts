import type { FastifyRequest } from 'fastify';
import type { AppRegistration } from '../directory/apps.js';
import type { Surface } from '../directory/resources.js';
import { verifyAccessToken } from '../directory/tokens.js';
import { grantForToken, userForSession } from '../directory/credentials.js';
import { DEFAULT_DELEGATED_SCOPES, type GraphScope } from '../directory/scopes.js';
import type { DirectoryUser } from '../directory/users.js';
import { AppError, unauthorized } from '../errors.js';
import type { Db } from '../storage/database.js';
import type { ReadCache } from '../storage/read-cache.js';

export const SESSION_COOKIE = 'photosync_session';

/** A browser session acts with the delegated scopes a signed-in user has by default. */
const SESSION_SCOPES: ReadonlySet<GraphScope> = new Set(DEFAULT_DELEGATED_SCOPES);

/** Who is asking: a user (their own token, a signed token or a session) or an app (its own token). */
export type Principal =
  | { kind: 'user'; user: DirectoryUser; scopes: ReadonlySet<GraphScope>; via: 'session' | 'token' }
  | { kind: 'app'; app: AppRegistration; scopes: ReadonlySet<GraphScope> };

/** A principal, or why there is none: no credentials, or credentials that do not hold. */
export type Authentication =
  | { ok: true; principal: Principal }
  | { ok: false; problem: 'missing' | 'malformed' | 'invalid' | 'expired' | 'audience' };

export interface AuthDeps {
  db: Db;
  /** The audience and issuer base of signed tokens; without it only opaque tokens and sessions count. */
  publicUrl?: string;
  /** Keeps token and session rows between commits (see ReadCache). */
  reads?: ReadCache;
  /** Which audience a signed token must carry: Graph's (default) or SharePoint's; this server's own URL is good for both. */
  surface?: Surface;
}

/**
 * Reads the Authorization header (opaque `pst_` tokens and signed access tokens) or, when
 * `cookies` is true, the session cookie. A header that is present always decides: a bad token is
 * never rescued by a cookie.
 */
export async function authenticate(
  request: FastifyRequest,
  deps: AuthDeps,
  options: { cookies: boolean },
): Promise<Authentication> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const token = match?.[1];
    if (!token) return { ok: false, problem: 'malformed' };
    if (token.startsWith('pst_')) {
      const grant = await grantForToken(deps.db, token, deps.reads);
      return grant
        ? { ok: true, principal: { kind: 'user', user: grant.user, scopes: grant.scopes, via: 'token' } }
        : { ok: false, problem: 'invalid' };
    }
    if (deps.publicUrl === undefined || token.split('.').length !== 3) return { ok: false, problem: 'invalid' };
    const check = await verifyAccessToken(
      { db: deps.db, publicUrl: deps.publicUrl, reads: deps.reads },
      token,
      deps.surface ?? 'graph',
    );
    if (!check.ok) return { ok: false, problem: check.reason === 'revoked' ? 'invalid' : check.reason };
    const { subject } = check;
    return {
      ok: true,
      principal:
        subject.kind === 'app'
          ? { kind: 'app', app: subject.app, scopes: new Set(subject.app.scopes) }
          : { kind: 'user', user: subject.user, scopes: new Set(subject.scopes), via: 'token' },
    };
  }
  const session = options.cookies ? request.cookies[SESSION_COOKIE] : undefined;
  if (!session) return { ok: false, problem: 'missing' };
  const user = await userForSession(deps.db, session, deps.reads);
  return user
    ? { ok: true, principal: { kind: 'user', user, scopes: SESSION_SCOPES, via: 'session' } }
    : { ok: false, problem: 'invalid' };
}

/** The signed-in user (session cookie) or the bearer token's user; undefined for anonymous and apps. */
export async function currentUser(
  request: FastifyRequest,
  db: Db,
  publicUrl?: string,
): Promise<DirectoryUser | undefined> {
  const result = await authenticate(request, { db, ...(publicUrl ? { publicUrl } : {}) }, { cookies: true });
  return result.ok && result.principal.kind === 'user' ? result.principal.user : undefined;
}

export async function requireUser(request: FastifyRequest, db: Db, publicUrl?: string): Promise<DirectoryUser> {
  const user = await currentUser(request, db, publicUrl);
  if (!user) throw unauthorized();
  return user;
}

/**
 * For the sites' pictures: the user behind the session or token may see `subject`'s picture when
 * their credential may read that photo (a token limited to User.Read sees its own only); 401 for
 * nobody, 403 for a credential without the scope.
 */
export async function requirePictureViewer(request: FastifyRequest, deps: AuthDeps): Promise<PictureViewer> {
  const result = await authenticate(request, deps, { cookies: true });
  if (!result.ok || result.principal.kind !== 'user') throw unauthorized();
  return new PictureViewer(result.principal);
}

/** A signed-in user looking at pictures, with what their credential lets them see. */
export class PictureViewer {
  constructor(private readonly principal: Principal & { kind: 'user' }) {}

  get user(): DirectoryUser {
    return this.principal.user;
  }

  /** Throws 403 unless the credential may see `subject`'s picture. */
  mayView(subject: { id: string }): void {
    if (!mayAccessPhoto(this.principal, subject, 'read')) {
      throw new AppError(
        'forbidden',
        403,
        "This token may only see its own user's picture (it lacks ProfilePhoto.Read.All).",
      );
    }
  }
}

export type PhotoAccess = 'read' | 'write';

/**
 * Whether the principal may read or change `subject`'s photo, by Graph's scope rules:
 * User.Read covers your own photo (read and write); ProfilePhoto.Read.All reads anyone's;
 * ProfilePhoto.ReadWrite.All changes anyone's (a user's own token also needs the admin role).
 */
export function mayAccessPhoto(principal: Principal, subject: { id: string }, access: PhotoAccess): boolean {
  const has = (scope: GraphScope) => principal.scopes.has(scope);
  if (principal.kind === 'user' && principal.user.id === subject.id) {
    return has('User.Read') || has('ProfilePhoto.ReadWrite.All') || (access === 'read' && has('ProfilePhoto.Read.All'));
  }
  if (access === 'read') return has('ProfilePhoto.Read.All') || has('ProfilePhoto.ReadWrite.All');
  return has('ProfilePhoto.ReadWrite.All') && (principal.kind === 'app' || principal.user.isAdmin);
}
