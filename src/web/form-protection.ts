import { randomBytes } from 'node:crypto';
import type { FastifyCsrfProtectionOptions } from '@fastify/csrf-protection';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { directorySetting } from '../directory/settings.js';
import { SESSION_COOKIE } from '../http/auth.js';
import { TENANT_SESSION_COOKIE } from '../m365/sessions.js';
import type { Db } from '../storage/database.js';

// The forms' tokens (double submit: a secret in the `_csrf` cookie, a token made from it in the
// form) are bound to the session they were made for. A secret alone could be planted: someone able
// to set a cookie for this site (a sibling subdomain) could send a browser their own `_csrf` and a
// token the server made for it. A token made for their session, or for nobody before a sign-in,
// is refused once the browser holds another session.

/** Who a token is for: the browser's session cookies as they are (empty before any sign-in). */
export function formTokenOwner(request: FastifyRequest): string {
  return `${request.cookies[SESSION_COOKIE] ?? ''}|${request.cookies[TENANT_SESSION_COOKIE] ?? ''}`;
}

/** The token for this page's forms, bound to the browser's session. */
export function formToken(request: FastifyRequest, reply: FastifyReply): string {
  return reply.generateCsrf({ userInfo: formTokenOwner(request) });
}

/** Options for `@fastify/csrf-protection`; the HMAC key is shared by every instance on the database. */
export async function formProtection(
  db: Db,
  options: { secure: boolean; getToken: (request: FastifyRequest) => string | undefined },
): Promise<FastifyCsrfProtectionOptions> {
  const hmacKey = await directorySetting(db, 'form_token_key', () => randomBytes(32).toString('base64url'));
  return {
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, secure: options.secure },
    csrfOpts: { hmacKey },
    getToken: options.getToken,
    getUserInfo: formTokenOwner,
  };
}
