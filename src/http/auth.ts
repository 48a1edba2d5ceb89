import type { FastifyRequest } from 'fastify';
import type { AppRegistration } from '../directory/apps.js';
import type { Surface } from '../directory/resources.js';
import { verifyAccessToken } from '../directory/tokens.js';
import {
  cachedGrantForToken,
  cachedSession,
  grantForToken,
  sessionById,
  type TokenGrant,
  type Until,
} from '../directory/credentials.js';
import {
  DEFAULT_DELEGATED_SCOPES,
  READ_ANYONE_SCOPES,
  SITES_DELEGATED_SCOPES,
  SITES_WRITE_OWN_SCOPES,
  type GraphScope,
} from '../directory/scopes.js';
import type { DirectoryUser } from '../directory/users.js';
import { forbidden, unauthorized, type CredentialProblem } from '../errors.js';
import type { Db } from '../storage/database.js';
import { NOT_CACHED, type ReadCache } from '../storage/read-cache.js';
import type { App } from './types.js';

// Who is asking, worked out once per request by one hook, before the body is read, and only for
// routes that declare `config.auth`; handlers read `request.principal`. Where tokens are taken, a
// present Authorization header always decides: a bad token is never rescued by a cookie. Pages
// take the session cookie only.

export const SESSION_COOKIE = 'photosync_session';

/** A browser session acts with the delegated scopes a signed-in user has by default. */
const SESSION_SCOPES: ReadonlySet<GraphScope> = new Set(DEFAULT_DELEGATED_SCOPES);

/** Who is asking: a user (their own token, a signed token or a session) or an app (its own token). */
export type Principal =
  | {
      kind: 'user';
      user: DirectoryUser;
      scopes: ReadonlySet<GraphScope>;
      via: 'session' | 'token';
      /** Until when the credential holds if nothing in the database changes (its expiry). */
      until?: number;
    }
  | { kind: 'app'; app: AppRegistration; scopes: ReadonlySet<GraphScope> };

export type UserPrincipal = Extract<Principal, { kind: 'user' }>;

/** A principal, or why there is none: no credentials, or credentials that do not hold. */
export type Authentication = { ok: true; principal: Principal } | { ok: false; problem: CredentialProblem };

/** Which credentials a route takes. */
export type Credentials =
  /** Graph: a bearer token, opaque (`pst_`) or signed for Graph; cookies belong to the pages. */
  | 'token'
  /** SharePoint's REST API and pictures: a bearer token, opaque or signed for SharePoint, or the session cookie. */
  | 'token-or-session'
  /** The admin console's JSON API: an admin's session cookie or opaque token; signed tokens are for Graph and SharePoint. */
  | 'session-or-opaque-token'
  /**
   * Pages and their forms (portal, sites, admin console): the session cookie only. Bearer tokens
   * belong to the APIs, whose scopes pages do not apply; an Authorization header is not looked at.
   */
  | 'session';

/** Which half of the server a signed token must have been issued for (its audience). */
const SURFACE: Record<Exclude<Credentials, 'session-or-opaque-token' | 'session'>, Surface> = {
  token: 'graph',
  'token-or-session': 'sharepoint',
};

/** Who a route lets in; everyone else is refused before the body is read. */
export type Admission = 'anyone' | 'principal' | 'user' | 'admin';

export interface RouteAuth {
  credentials: Credentials;
  allow: Admission;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** How the route learns who is asking, and whom it lets in; no credentials are read when not said. */
    auth?: RouteAuth | false;
  }
  interface FastifyRequest {
    /** Who is asking, for routes that declare `config.auth`; undefined for nobody. */
    principal: Principal | undefined;
    /** This request's view of the read cache: other processes' commits are looked for once. */
    readonly reads: ReadCache;
  }
}

export interface AuthDeps {
  db: Db;
  /** The audience and issuer base of signed tokens. */
  publicUrl: string;
  /** Keeps token and session rows between commits (see ReadCache). */
  reads: ReadCache;
}

/**
 * Reads the Authorization header (opaque `pst_` tokens and, where the credentials allow, signed
 * access tokens) or, where they allow, the session cookie.
 */
export async function identify(
  request: FastifyRequest,
  deps: Omit<AuthDeps, 'reads'>,
  credentials: Credentials,
): Promise<Authentication> {
  const header = credentials === 'session' ? undefined : request.headers.authorization;
  if (header !== undefined) {
    const token = BEARER.exec(header)?.[1];
    if (!token) return { ok: false, problem: 'malformed' };
    if (token.startsWith('pst_')) return tokenAuthentication(await grantForToken(deps.db, token, request.reads));
    // Signed tokens are for Graph and SharePoint only.
    if ((credentials !== 'token' && credentials !== 'token-or-session') || token.split('.').length !== 3) {
      return { ok: false, problem: 'invalid' };
    }
    const check = await verifyAccessToken(
      { db: deps.db, publicUrl: deps.publicUrl, reads: request.reads },
      token,
      SURFACE[credentials],
    );
    if (!check.ok) return { ok: false, problem: check.reason === 'revoked' ? 'invalid' : check.reason };
    const { subject } = check;
    return {
      ok: true,
      principal:
        subject.kind === 'app'
          ? { kind: 'app', app: subject.app, scopes: new Set(subject.app.scopes) }
          : { kind: 'user', user: subject.user, scopes: new Set(subject.scopes), via: 'token', until: check.until },
    };
  }
  const session = credentials === 'token' ? undefined : request.cookies[SESSION_COOKIE];
  if (!session) return { ok: false, problem: 'missing' };
  return sessionAuthentication(await sessionById(deps.db, session, request.reads));
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

const tokenAuthentication = (grant: (TokenGrant & Until) | undefined): Authentication =>
  grant
    ? {
        ok: true,
        principal: { kind: 'user', user: grant.user, scopes: grant.scopes, via: 'token', until: grant.until },
      }
    : { ok: false, problem: 'invalid' };

const sessionAuthentication = (session: ({ user: DirectoryUser } & Until) | undefined): Authentication =>
  session
    ? {
        ok: true,
        principal: { kind: 'user', user: session.user, scopes: SESSION_SCOPES, via: 'session', until: session.until },
      }
    : { ok: false, problem: 'invalid' };

/**
 * identify's answer when it needs no waiting: an opaque token or a session whose row the read
 * cache holds (the same judgement, from the same rows). Undefined when identify has to run.
 */
function identifyFromCache(request: FastifyRequest, credentials: Credentials): Authentication | undefined {
  const header = credentials === 'session' ? undefined : request.headers.authorization;
  if (header !== undefined) {
    const token = BEARER.exec(header)?.[1];
    if (!token?.startsWith('pst_')) return undefined;
    const grant = cachedGrantForToken(token, request.reads);
    return grant === NOT_CACHED ? undefined : tokenAuthentication(grant);
  }
  const session = credentials === 'token' ? undefined : request.cookies[SESSION_COOKIE];
  if (!session) return undefined;
  const found = cachedSession(session, request.reads);
  return found === NOT_CACHED ? undefined : sessionAuthentication(found);
}

/** Lets in whom `allow` admits, or throws: unauthorized for nobody (with why), forbidden for non-admins. */
function admit(allow: Admission, result: Authentication): void {
  switch (allow) {
    case 'anyone':
      return;
    case 'principal':
      if (!result.ok) throw unauthorized(undefined, result.problem);
      return;
    case 'user':
    case 'admin': {
      if (!result.ok) throw unauthorized(undefined, result.problem);
      // Who is asking is known, and may not: 403 with why, not a 401 that sends a client for
      // another token of the same kind (the only such addresses are the pictures and the console).
      if (result.principal.kind !== 'user') {
        throw forbidden(
          "An app's token cannot be used here: this address answers people (a user's token or a signed-in session). " +
            'An app reads pictures through /_api (GetFileByServerRelativeUrl(…)/$value) or Graph (/users/{id}/photo/$value).',
        );
      }
      const { user } = result.principal;
      if (allow === 'admin' && !(user.isAdmin && user.enabled)) {
        throw forbidden('Only administrators can use the admin console.');
      }
      return;
    }
  }
}

/** The auth step of a request: calls `done` when the principal is set, or with why it is refused. */
export type Authenticate = (request: FastifyRequest, auth: RouteAuth, done: (error?: Error) => void) => void;

/**
 * Decorates requests with `principal` and `reads`, and returns the step the app's onRequest hook
 * runs for routes that declare `config.auth`: it reads the credentials once, sets
 * `request.principal` and refuses whom the route does not admit, all before the body is read.
 * Other routes (health, metrics, assets) skip it and do no database work for it.
 */
export function requestAuthentication(app: App, deps: AuthDeps): Authenticate {
  // The request's view of the read cache lives in a slot of the request itself, made at first use.
  app.decorateRequest(READS_SLOT, null);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('reads', {
    getter(this: FastifyRequest) {
      const slot = this as unknown as { [READS_SLOT]: ReadCache | null };
      return (slot[READS_SLOT] ??= deps.reads.forRequest());
    },
  });
  const decide = (request: FastifyRequest, allow: Admission, result: Authentication, done: (error?: Error) => void) => {
    request.principal = result.ok ? result.principal : undefined;
    let refusal: Error | undefined;
    try {
      admit(allow, result);
    } catch (error) {
      refusal = error as Error;
    }
    done(refusal);
  };
  return (request, auth, done) => {
    // A credential whose row is in the read cache is decided at once (most requests of a client
    // that keeps asking); otherwise its rows are read first.
    const known = identifyFromCache(request, auth.credentials);
    if (known) return decide(request, auth.allow, known, done);
    identify(request, deps, auth.credentials).then((result) => decide(request, auth.allow, result, done), done);
  };
}

const READS_SLOT = Symbol('photosync request reads');

/** Adds the auth step as an onRequest hook of its own (for an app that sets no other headers first). */
export function authenticateRequests(app: App, deps: AuthDeps): void {
  const authenticate = requestAuthentication(app, deps);
  app.addHook('onRequest', (request, _reply, done) => {
    const auth = request.routeOptions.config.auth;
    if (auth) authenticate(request, auth, done);
    else done();
  });
}

/** The signed-in user, when there is one (and the route reads credentials). */
export function userOf(request: FastifyRequest): DirectoryUser | undefined {
  return request.principal?.kind === 'user' ? request.principal.user : undefined;
}

/** The principal of a route that admits principals only; unauthorized otherwise. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized();
  return request.principal;
}

/** The signed-in user's principal; unauthorized (pages: the sign-in page) otherwise. */
export function userPrincipalOf(request: FastifyRequest): UserPrincipal {
  const principal = request.principal;
  if (principal?.kind !== 'user') throw unauthorized();
  return principal;
}

/** The signed-in user; unauthorized (pages: the sign-in page) otherwise. */
export function signedInUser(request: FastifyRequest): DirectoryUser {
  return userPrincipalOf(request).user;
}

/** Throws 403 unless the signed-in viewer's credential may see `subject`'s picture in the sites. */
export function checkPictureAccess(viewer: UserPrincipal, subject: { id: string }): void {
  if (!mayAccessPhoto(viewer, subject, 'read') && !seesPeopleInSites(viewer)) {
    throw forbidden(
      "This token may only see its own user's picture (it lacks ProfilePhoto.Read.All, or SharePoint's AllSites.Read).",
    );
  }
}

/** A user's credential with one of SharePoint's delegated permissions (AllSites.Read and up). */
function seesPeopleInSites(principal: Principal): boolean {
  return principal.kind === 'user' && SITES_DELEGATED_SCOPES.some((scope) => principal.scopes.has(scope));
}

/**
 * Whether the user's credential may change their own picture in the sites: Graph's rule
 * (User.ReadWrite, ProfilePhoto.ReadWrite.All), or SharePoint's AllSites.Write and up.
 */
export function mayChangeOwnPictureInSites(principal: UserPrincipal): boolean {
  return (
    mayAccessPhoto(principal, principal.user, 'write') ||
    SITES_WRITE_OWN_SCOPES.some((scope) => principal.scopes.has(scope))
  );
}

export type PhotoAccess = 'read' | 'write';

/**
 * Whether the principal may read or write the sites for anyone (profiles, "User Photos", site
 * users): an app with SharePoint's Sites.FullControl.All, or whoever Graph's photo scopes allow;
 * a user with SharePoint's AllSites.Read and up reads them (changing others' is an administrator's).
 */
export function mayUseSites(principal: Principal, access: PhotoAccess): boolean {
  if (principal.kind === 'app' && principal.scopes.has('Sites.FullControl.All')) return true;
  if (access === 'read' && seesPeopleInSites(principal)) return true;
  return mayAccessPhoto(principal, { id: '' }, access);
}

/**
 * Whether the principal may read or change `subject`'s photo, by Graph's scope rules:
 * User.Read reads your own photo, User.ReadWrite also changes it; User.ReadBasic.All,
 * User.Read.All and ProfilePhoto.Read.All read anyone's; ProfilePhoto.ReadWrite.All changes
 * anyone's (a user's own token also needs the admin role).
 */
export function mayAccessPhoto(principal: Principal, subject: { id: string }, access: PhotoAccess): boolean {
  const has = (scope: GraphScope) => principal.scopes.has(scope);
  if (principal.kind === 'user' && principal.user.id === subject.id) {
    if (has('User.ReadWrite') || has('ProfilePhoto.ReadWrite.All')) return true;
    return access === 'read' && (has('User.Read') || READ_ANYONE_SCOPES.some(has));
  }
  if (access === 'read') return READ_ANYONE_SCOPES.some(has);
  return has('ProfilePhoto.ReadWrite.All') && (principal.kind === 'app' || principal.user.isAdmin);
}
