import csrf from '@fastify/csrf-protection';
import rateLimit from '@fastify/rate-limit';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createSession, endSession } from '../directory/credentials.js';
import { checkPassword } from '../directory/users.js';
import { logRefusedSignIn, type RefusedSignIn } from '../directory/sign-in-throttle.js';
import type { App } from '../http/types.js';
import type { DirectoryUser } from '../directory/users.js';
import { formProtection } from '../web/form-protection.js';
import type { PageContext } from '../web/layout.js';
import type { ComponentChildren } from 'preact';
import { SESSION_COOKIE, userOf } from '../http/auth.js';
import type { Services } from '../services.js';
import { SIGNED_IN, localPath, pageContext, sendPage } from '../web/page-context.js';
import { portalPageRoutes } from './page-routes.js';
import { sitesLagOf } from './sites-lag.js';
import { getDirectoryPhoto } from '../directory/photo.js';
import { getSiteProfile } from '../sites/profiles.js';
import { userPhotoUrl } from '../sites/library.js';
import type { FormPage } from '../web/error-page.js';
import { homePage, signInPage } from './pages.js';
import type { ConnectPortal } from '../m365/portal-routes.js';
import { unauthorized } from '../errors.js';
import { ANYONE } from '../web/page-context.js';
import { MAX_REQUEST_HEAD_BYTES } from '../http/request-head.js';

// The portal (Office.com's role): sign-in, sign-out and the signed-in home page.

const SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000;
/** Plain flood control on the sign-in form; guessing is slowed by the failed-attempt throttle. */
const SIGN_IN_REQUESTS_PER_MINUTE = 120;

/** Longer than any account name or password can be: refused as not matching, never hashed. */
const UPN_MAX = 300;
const PASSWORD_MAX = 1000;
/**
 * The longest address to continue to: any request photosync takes, as an /authorize request with
 * a long `state` is (the sign-in page comes back to it), fits.
 */
const NEXT_MAX = MAX_REQUEST_HEAD_BYTES;
const SignInBody = Type.Object({
  // Up to the body limit: a longer paste is a sign-in that does not match, said on the form (not a schema refusal).
  upn: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  _csrf: Type.Optional(Type.String({ maxLength: 200 })),
  next: Type.Optional(Type.String({ maxLength: NEXT_MAX, description: 'A same-site address to continue to' })),
});
const CsrfBody = Type.Object({ _csrf: Type.String({ maxLength: 200 }) });
const SignInQuery = Type.Object({
  next: Type.Optional(Type.String({ maxLength: NEXT_MAX, description: 'A same-site address to continue to' })),
});
const html = { 200: { type: 'string', description: 'An HTML page' } } as const;

export interface PortalOptions {
  /** Something to show at the top of the home page for this user (the admin console's prompt banner). */
  homeBanner?: (user: DirectoryUser, page: PageContext) => Promise<ComponentChildren | null>;
  /**
   * Connect mode: the tenant's people sign in with their Microsoft 365 account and get their own
   * home page; photosync's own accounts (its administrators) keep the form.
   */
  connect?: ConnectPortal | undefined;
}

export async function portalRoutes(app: App, services: Services, options: PortalOptions = {}): Promise<void> {
  const { db } = services.database;
  const secure = services.config.publicUrl.startsWith('https:');

  await app.register(csrf, await formProtection(db, { secure, getToken: csrfFromBody }));
  await app.register(rateLimit, { global: false });
  // Shared with the token endpoint's password grant, and with other instances on the database.
  const throttle = services.signInThrottle;

  const context = (request: FastifyRequest, reply: FastifyReply) => pageContext(db, request, reply);
  const lagOf = sitesLagOf(services);
  const { connect } = options;
  /** In connect mode the sign-in page leads with Microsoft 365, continuing to the same place. */
  const microsoft = (next: string | undefined) => ({ microsoftUrl: connect?.signInUrl(localPath(next)) });

  /** A refused sign-in (a stale form, missing fields) is answered by the sign-in page again. */
  const signInForm: FormPage = {
    messages: { invalid_request: 'signin.incomplete' },
    show: async (request, reply, message, status) =>
      sendPage(reply, signInPage(await context(request, reply), { error: message, ...microsoft('/') }), status),
  };

  app.get(
    '/',
    {
      // In connect mode a tenant user's session is not a directory session: the handler decides.
      config: { auth: connect ? ANYONE : SIGNED_IN },
      schema: { summary: 'Portal home', tags: ['portal'], response: html },
    },
    async (request, reply) => {
      const user = userOf(request);
      if (!user) {
        if (connect && (await connect.home(request, reply))) return reply;
        throw unauthorized();
      }
      const page = await pageContext(db, request, reply, user);
      const banner = (await options.homeBanner?.(user, page)) ?? undefined;
      const sitesLag = await lagOf(user);
      const directoryPhotoOnly =
        user.hasMailbox && !page.user?.photoUrl && (await getDirectoryPhoto(db, user.id)) !== undefined;
      const profile = user.hasMailbox ? undefined : await getSiteProfile(db, user.id);
      const sitesPictureUrl =
        profile?.placeholderState === 0 ? userPhotoUrl(user.upn, 'L', profile.pictureTimestamp) : undefined;
      const view = { hasMailbox: user.hasMailbox, banner, sitesLag, directoryPhotoOnly, sitesPictureUrl };
      return sendPage(reply, homePage({ ...page, user: page.user! }, view));
    },
  );

  app.get(
    '/signin',
    { schema: { summary: 'Sign-in page', tags: ['portal'], querystring: SignInQuery, response: html } },
    async (request, reply) => {
      // Only a same-site address to continue to, never another site (`//evil`, `/\\evil`).
      const next = localPath(request.query.next);
      if (userOf(request)) return reply.redirect(next, 303);
      // A Microsoft 365 tenant's user (connect mode) is signed in, but not to the pages of this
      // directory's people, which sent them here: home, or connect mode's own page they came from
      // (going back to a page that sends them here again would go round for ever).
      if (await connect?.userOf(request)) return reply.redirect(next.startsWith('/m365/') ? next : '/', 303);
      const page = await context(request, reply);
      // The session ran out: said once, by the page that sent the person here.
      const notice = page.flash?.name === 'ended' ? page.t('signin.ended') : undefined;
      return sendPage(reply, signInPage(page, { next: next === '/' ? undefined : next, notice, ...microsoft(next) }));
    },
  );

  app.post(
    '/signin',
    {
      schema: { summary: 'Sign in with UPN and password', tags: ['portal'], body: SignInBody, response: html },
      preValidation: app.csrfProtection,
      config: {
        formPage: signInForm,
        rateLimit: {
          max: SIGN_IN_REQUESTS_PER_MINUTE,
          timeWindow: 60_000,
          // A client that left before its form was read has no address any more (nothing to count).
          keyGenerator: (request) => request.ip ?? 'gone',
        },
      },
    },
    async (request, reply) => {
      const { upn = '', password = '' } = request.body;
      // Only a same-site address: an app's sign-in request comes back here, never another site.
      const next =
        request.body.next !== undefined && localPath(request.body.next) !== '/' ? request.body.next : undefined;
      if (upn.trim() === '' || password === '') {
        const page = await context(request, reply);
        return sendPage(
          reply,
          signInPage(page, { upn, next, error: page.t('signin.incomplete'), ...microsoft(next) }),
          400,
        );
      }
      const wait = await throttle.begin(request.ip, upn);
      const refused = (reason: RefusedSignIn) =>
        logRefusedSignIn(request.log, { upn, address: request.ip, way: 'form', reason });
      if (wait > 0) {
        refused('throttled');
        const page = await context(request, reply);
        const error = page.t('signin.rateLimited', { minutes: Math.ceil(wait / 60_000) });
        reply.header('retry-after', Math.ceil(wait / 1000));
        return sendPage(reply, signInPage(page, { upn, next, error, ...microsoft(next) }), 429);
      }
      const tooLong = upn.length > UPN_MAX || password.length > PASSWORD_MAX;
      const { user, disabled } = tooLong ? { disabled: false } : await checkPassword(db, upn, password);
      if (disabled) {
        // The right password: not a guess to count, but the account cannot be used.
        await throttle.forgive(request.ip, upn);
        refused('disabled');
        const page = await context(request, reply);
        return sendPage(
          reply,
          signInPage(page, { upn, next, error: page.t('signin.disabled'), ...microsoft(next) }),
          403,
        );
      }
      if (!user) {
        refused('wrong_password');
        const page = await context(request, reply);
        return sendPage(
          reply,
          signInPage(page, { upn: upn.slice(0, UPN_MAX), next, error: page.t('signin.failed'), ...microsoft(next) }),
          401,
        );
      }
      await throttle.forgive(request.ip, upn);
      // A new session id at every sign-in, so an id planted before sign-in is worthless after it.
      const previous = request.cookies[SESSION_COOKIE];
      if (previous) await endSession(db, previous);
      const session = await createSession(db, user.id, SESSION_LIFETIME_MS);
      reply.setCookie(SESSION_COOKIE, session, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure,
        maxAge: SESSION_LIFETIME_MS / 1000,
      });
      return reply.redirect(next ?? '/', 303);
    },
  );

  app.post(
    '/signout',
    { schema: { summary: 'Sign out', tags: ['portal'], body: CsrfBody }, preValidation: app.csrfProtection },
    async (request, reply) => {
      const session = request.cookies[SESSION_COOKIE];
      if (session) await endSession(db, session);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      await connect?.signOut(request, reply);
      return reply.redirect('/signin', 303);
    },
  );

  await portalPageRoutes(app, services);
  connect?.routes(app);
}

function csrfFromBody(request: FastifyRequest): string | undefined {
  const body = request.body as { _csrf?: unknown } | undefined;
  return typeof body?._csrf === 'string' ? body._csrf : undefined;
}
