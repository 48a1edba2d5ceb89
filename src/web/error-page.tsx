import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppError, ErrorId } from '../errors.js';
import { userForSession } from '../directory/credentials.js';
import type { DirectoryUser } from '../directory/users.js';
import { SESSION_COOKIE, userOf } from '../http/auth.js';
import { currentMaxInputPixels } from '../media/media-config.js';
import type { Db } from '../storage/database.js';
import type { PageContext } from './layout.js';
import { messagePage } from './message-page.js';
import type { MessageKey } from './messages/en.js';
import { setFlash } from './flash.js';
import { pageContext, returnPath, sendPage, signInAddress } from './page-context.js';

// Errors of page routes, as pages in the user's language: the sign-in page for whoever is not
// signed in, the route's own form again when it has one (with the message above it), otherwise a
// page that says what went wrong and the way back. The sentence for each error id of the catalogue
// (src/errors.ts) is a key of the message catalogs, here.

/** How a page with a form shows a refused request: the form again, with the message. */
export interface FormPage {
  /** The form's own words for some errors (an upload without a file: "Choose a picture first"). */
  messages?: Partial<Record<ErrorId, MessageKey>>;
  /** Renders the form again with `message`, or answers otherwise when it cannot (nobody signed in). */
  show(request: FastifyRequest, reply: FastifyReply, message: string, status: number): unknown;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A page route's form, shown again when the request is refused. */
    formPage?: FormPage;
    /** The page errors are shown on in this part of the site (the shell's message page when not said). */
    errorPage?: (context: PageContext, title: string, message: string, error: AppError) => string;
  }
}

/** What a page says for the catalogue's ids; "That request is not valid" for other client errors. */
const PAGE_MESSAGES: Partial<Record<ErrorId, MessageKey>> = {
  invalid_input: 'admin.error.invalid',
  invalid_setting: 'admin.settings.invalid',
  invalid_scan_interval: 'admin.settings.error.scanInterval',
  nothing_selected: 'admin.error.nothingSelected',
  // A page's "next" link carries the cursor: one that is not right is an address, not a form.
  invalid_cursor: 'error.badAddress',
  // A chosen file of zero bytes; a form with no file chosen is invalid_request (UPLOAD_MESSAGES).
  image_empty: 'photo.error.emptyFile',
  image_corrupt: 'photo.error.corrupt',
  image_too_many_pixels: 'photo.error.too_many_pixels',
  image_side_too_long: 'photo.error.not_portrait',
  image_aspect_too_extreme: 'photo.error.not_portrait',
  image_too_many_scans: 'photo.error.too_many_scans',
  image_decode_timeout: 'photo.error.too_slow',
  image_queue_full: 'photo.error.busy',
  forbidden: 'admin.forbidden.body',
  form_expired: 'form.expired',
  operator_sync_off: 'admin.error.operatorSyncOff',
  not_found: 'error.notFound',
  method_not_allowed: 'error.methodNotAllowed',
  user_not_found: 'admin.error.unknownUser',
  connect_mode_off: 'admin.tenant.notOn',
  // Any body over its route's limit; the upload forms say it about the picture (UPLOAD_MESSAGES).
  too_large: 'error.tooLarge',
  headers_too_large: 'error.headersTooLarge',
  upload_too_many_parts: 'photo.error.one_file',
  upload_incomplete: 'photo.error.incomplete',
  unsupported_type: 'photo.error.unsupported_type',
  rate_limited: 'error.rateLimited',
  internal_error: 'error.body',
  unavailable: 'error.unavailable',
  storage_full: 'error.storageFull',
  storage_read_only: 'error.storageReadOnly',
  storage_damaged: 'error.storageDamaged',
  database_busy: 'error.unavailable',
  database_unavailable: 'error.databaseUnavailable',
};

/** Headings other than "Something went wrong". */
const PAGE_TITLES: Partial<Record<ErrorId, MessageKey>> = {
  forbidden: 'admin.forbidden.title',
  not_found: 'error.notFound.title',
  user_not_found: 'admin.error.unknownUser.title',
  method_not_allowed: 'error.methodNotAllowed.title',
  too_large: 'error.tooLarge.title',
  upload_too_many_parts: 'error.tooLarge.title',
  headers_too_large: 'error.headersTooLarge.title',
  rate_limited: 'error.rateLimited.title',
  unavailable: 'error.unavailable.title',
  image_queue_full: 'error.unavailable.title',
  connect_mode_off: 'admin.tenant.notOn.title',
  invalid_cursor: 'error.badAddress.title',
};

/** The page's heading: an address no page can mean says so, like the page it would have been. */
function titleKey(request: FastifyRequest, error: AppError): MessageKey {
  if (error.id === 'invalid_request' && request.method === 'GET') return 'error.badAddress.title';
  return PAGE_TITLES[error.id] ?? 'error.title';
}

/** The pixel limit of uploads, as the too-many-pixels message names it ("50", "12.5"; "12,5" in Estonian). */
function megapixels(locale: string): string {
  return (currentMaxInputPixels() / 1_000_000).toLocaleString(locale === 'et' ? 'et-EE' : 'en-GB', {
    maximumFractionDigits: 1,
  });
}

/** A request the address cannot mean (GET) or a form that was not filled in as offered (POST). */
function invalidRequestKey(method: string): MessageKey {
  return method === 'GET' ? 'error.badAddress' : 'admin.error.invalid';
}

function messageKey(request: FastifyRequest, error: AppError): MessageKey {
  // An SVG drawing is named as such, as the page's script names it before sending.
  if (error.detail.svg) return 'photo.error.svg';
  const own = request.routeOptions.config.formPage?.messages?.[error.id];
  if (own) return own;
  if (error.id === 'invalid_request') return invalidRequestKey(request.method);
  return PAGE_MESSAGES[error.id] ?? (error.status >= 500 ? 'error.body' : 'admin.error.invalid');
}

/**
 * Who is signed in, for the suite bar: the route's principal, or for an address no route has
 * (which reads no credentials) the session cookie's user.
 */
async function suiteBarUser(db: Db, request: FastifyRequest): Promise<DirectoryUser | undefined> {
  if (request.routeOptions.config.auth !== undefined) return userOf(request);
  const session = request.cookies[SESSION_COOKIE];
  return session ? userForSession(db, session, request.reads) : undefined;
}

/**
 * Nobody is signed in (or the session ran out, or a form came back after the browser lost its
 * token along with the session): sign in, saying so when there was a session, then come back.
 */
async function sendToSignIn(db: Db, request: FastifyRequest, reply: FastifyReply) {
  if (request.cookies[SESSION_COOKIE] !== undefined) {
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    await setFlash(db, request, reply, '/signin', { name: 'ended' });
  }
  return reply.redirect(signInAddress(returnPath(request)), 303);
}

export function createPageErrorRenderer(db: Db) {
  return async function renderPageError(request: FastifyRequest, reply: FastifyReply, error: AppError) {
    if (error.id === 'unauthorized') return sendToSignIn(db, request, reply);
    // A broken database must not break the error page: after a failure on our side, no suite bar user.
    const user = error.status >= 500 ? undefined : await suiteBarUser(db, request);
    const signingIn = request.routeOptions.url === '/signin';
    if (error.id === 'form_expired' && !user && !signingIn) return sendToSignIn(db, request, reply);
    const page = await pageContext(db, request, reply, user);
    // A form's account name that names nobody is repeated (shortened), so a list of many says which.
    const subject = error.id === 'user_not_found' && request.method === 'POST' ? error.detail.subject : undefined;
    const message =
      subject !== undefined
        ? page.t('admin.error.unknownUserNamed', { upn: subject.length > 120 ? `${subject.slice(0, 120)}…` : subject })
        : page.t(messageKey(request, error), { upn: user?.upn ?? '', megapixels: megapixels(page.locale) });
    const form = request.routeOptions.config.formPage;
    if (form) return form.show(request, reply, message, error.status);
    const title = page.t(titleKey(request, error));
    const errorPage = request.routeOptions.config.errorPage ?? messagePage;
    return sendPage(reply, errorPage(page, title, message, error), error.status);
  };
}
