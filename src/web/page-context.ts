import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DirectoryUser } from '../directory/users.js';
import type { RouteAuth } from '../http/auth.js';
import { getMailPhoto } from '../mail/photo-store.js';
import type { Db } from '../storage/database.js';
import { takeFlash } from './flash.js';
import { formToken } from './form-protection.js';
import { LOCALES, localeFromHeader, translator, type Locale } from './i18n.js';
import type { PageContext, SuiteUser } from './layout.js';

// What every page needs before it renders: the language (switcher cookie first, then
// Accept-Language), the form token and the signed-in user as the suite bar shows them.

export const LANGUAGE_COOKIE = 'photosync_lang';

/**
 * Pages for signed-in people, by their session (bearer tokens belong to the APIs): whoever is not
 * signed in is sent to sign in before anything is read.
 */
export const SIGNED_IN: RouteAuth = { credentials: 'session', allow: 'user' };

/** Pages anyone may see; a signed-in person's session is read for the suite bar. */
export const ANYONE: RouteAuth = { credentials: 'session', allow: 'anyone' };

export function requestLocale(request: FastifyRequest): Locale {
  const chosen = request.cookies[LANGUAGE_COOKIE];
  if (chosen && (LOCALES as readonly string[]).includes(chosen)) return chosen as Locale;
  return localeFromHeader(request.headers['accept-language']);
}

/** The mail photo's URL, versioned by its ETag so a new photo is a new URL. */
export async function mailPhotoUrl(db: Db, user: DirectoryUser, side = 96): Promise<string | undefined> {
  if (!user.hasMailbox) return undefined;
  const photo = await getMailPhoto(db, user.id);
  return photo ? `/portal/photo?size=${side}&v=${photo.etag}` : undefined;
}

export async function suiteUser(db: Db, user: DirectoryUser): Promise<SuiteUser> {
  return {
    displayName: user.displayName,
    upn: user.upn,
    photoUrl: await mailPhotoUrl(db, user),
    hasMailbox: user.hasMailbox,
  };
}

export async function pageContext(
  db: Db,
  request: FastifyRequest,
  reply: FastifyReply,
  user?: DirectoryUser,
): Promise<PageContext> {
  const locale = requestLocale(request);
  return {
    locale,
    t: translator(locale),
    // Plugins without form protection (none serve pages today) get no token, and so no forms.
    csrfToken: typeof reply.generateCsrf === 'function' ? formToken(request, reply) : '',
    user: user && (await suiteUser(db, user)),
    isAdmin: user?.isAdmin ?? false,
    // The whole address, query included, so the language switch comes back to the same view; a
    // refused form's address cannot be opened again, so that comes back home.
    path: request.method === 'GET' ? localPath(request.url) : '/',
    flash: await takeFlash(db, request, reply),
  };
}

export function sendPage(reply: FastifyReply, page: string, status = 200) {
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('vary', 'Accept-Language, Cookie')
    .send(page);
}

/** A same-site path to go back to, never another site (`//evil.example`). */
export function localPath(text: string | undefined): string {
  // Printable ASCII only: a control or non-ASCII character cannot go into a Location header.
  return text && /^\/(?![/\\])[\x21-\x7e]*$/.test(text) ? text : '/';
}

/**
 * Where a person was, to come back to after signing in: the address itself for a page, or for a
 * form the same-site page it was sent from (Referer); home otherwise.
 */
export function returnPath(request: FastifyRequest): string {
  if (request.method === 'GET') return localPath(request.url);
  const referer = request.headers.referer;
  if (!referer) return '/';
  try {
    const from = new URL(referer);
    // Compared as URLs, so a default port written out (`:80`) is the same host.
    const here = new URL(`${from.protocol}//${request.headers.host ?? ''}`);
    return from.host === here.host ? localPath(from.pathname + from.search) : '/';
  } catch {
    return '/';
  }
}

/** The sign-in page, continuing to `next`. */
export function signInAddress(next: string): string {
  return next === '/' ? '/signin' : `/signin?${new URLSearchParams({ next }).toString()}`;
}

/** Dates in the page's language; how each language writes them is decided in dates.ts. */
export { formatDate } from './dates.js';
