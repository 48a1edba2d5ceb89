import fs from 'node:fs';
import csrf from '@fastify/csrf-protection';
import rateLimit from '@fastify/rate-limit';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { promptBannerFor } from '../admin/banner.js';
import { createSession, endSession } from '../directory/credentials.js';
import { authenticate } from '../directory/users.js';
import type { App } from '../http/app.js';
import { SESSION_COOKIE, currentUser } from '../http/auth.js';
import type { Services } from '../services.js';
import { contentTag } from '../storage/hash.js';
import { createSignInThrottle } from './sign-in-throttle.js';
import { localPath, pageContext, sendPage } from './page-context.js';
import { portalPageRoutes } from './page-routes.js';
import { homePage, messagePage, signInPage } from './pages.js';

// The portal (Office.com's role): sign-in, sign-out and the signed-in home page.

const SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000;
/** Plain flood control on the sign-in form; guessing is slowed by the failed-attempt throttle. */
const SIGN_IN_REQUESTS_PER_MINUTE = 120;
const STYLESHEET = fs.readFileSync(new URL('./assets/portal.css', import.meta.url));
const STYLESHEET_ETAG = `"${contentTag(STYLESHEET)}"`;

const SignInBody = Type.Object({
  upn: Type.Optional(Type.String({ maxLength: 300 })),
  password: Type.Optional(Type.String({ maxLength: 1000 })),
  _csrf: Type.Optional(Type.String({ maxLength: 200 })),
  next: Type.Optional(Type.String({ maxLength: 4000, description: 'A same-site address to continue to' })),
});
const CsrfBody = Type.Object({ _csrf: Type.String({ maxLength: 200 }) });
const html = { 200: { type: 'string', description: 'An HTML page' } } as const;

export async function portalRoutes(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const secure = services.config.publicUrl.startsWith('https:');

  await app.register(csrf, {
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, secure },
    getToken: csrfFromBody,
  });
  await app.register(rateLimit, { global: false });
  const throttle = createSignInThrottle({
    windowMs: 15 * 60_000,
    perAccount: 5,
    perAddress: 100,
  });

  const context = (request: FastifyRequest, reply: FastifyReply) => pageContext(db, request, reply);

  // Pages answer a stale form with the form again (or a page saying so), not with a JSON error.
  app.setErrorHandler(async (error: { code?: string; validation?: unknown }, request, reply) => {
    if (!request.url.startsWith('/signin')) {
      // A page's address with an odd query (`?sync=bogus`, a 1,000-character account name), or a
      // form whose fields were changed (`lang=fr`, `/launch/bogus`).
      if (error.validation) {
        const page = await context(request, reply);
        const message = request.method === 'GET' ? page.t('error.badAddress') : page.t('admin.error.invalid');
        return sendPage(reply, messagePage(page, page.t('error.title'), message), 400);
      }
      if (!error.code?.startsWith('FST_CSRF') || request.method !== 'POST') throw error;
      const page = await context(request, reply);
      return sendPage(reply, messagePage(page, page.t('error.title'), page.t('form.expired')), 403);
    }
    const page = await context(request, reply);
    if (error.code?.startsWith('FST_CSRF'))
      return sendPage(reply, signInPage(page, { error: page.t('form.expired') }), 403);
    if (error.validation) return sendPage(reply, signInPage(page, { error: page.t('signin.incomplete') }), 400);
    throw error;
  });

  app.get('/assets/portal.css', { schema: { summary: 'Portal stylesheet', tags: ['portal'] } }, (request, reply) => {
    reply.header('etag', STYLESHEET_ETAG).header('cache-control', 'public, max-age=300');
    if (request.headers['if-none-match'] === STYLESHEET_ETAG) return reply.status(304).send();
    return reply.type('text/css; charset=utf-8').send(STYLESHEET);
  });

  app.get('/', { schema: { summary: 'Portal home', tags: ['portal'], response: html } }, async (request, reply) => {
    const user = await currentUser(request, db);
    if (!user) return reply.redirect('/signin', 303);
    const page = await pageContext(db, request, reply, user);
    // Admin console (issue 4): the prompt banner for a user an admin asked to sync.
    const banner = (await promptBannerFor(db, user, page)) ?? undefined;
    return sendPage(reply, homePage({ ...page, user: page.user! }, { hasMailbox: user.hasMailbox, banner }));
  });

  app.get(
    '/signin',
    { schema: { summary: 'Sign-in page', tags: ['portal'], response: html } },
    async (request, reply) => {
      if (await currentUser(request, db)) return reply.redirect('/', 303);
      return sendPage(reply, signInPage(await context(request, reply), {}));
    },
  );

  app.post(
    '/signin',
    {
      schema: { summary: 'Sign in with UPN and password', tags: ['portal'], body: SignInBody, response: html },
      preValidation: app.csrfProtection,
      config: {
        rateLimit: {
          max: SIGN_IN_REQUESTS_PER_MINUTE,
          timeWindow: 60_000,
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
        return sendPage(reply, signInPage(page, { upn, next, error: page.t('signin.incomplete') }), 400);
      }
      const wait = throttle.retryAfter(request.ip, upn);
      if (wait > 0) {
        const page = await context(request, reply);
        const error = page.t('signin.rateLimited', { minutes: Math.ceil(wait / 60_000) });
        reply.header('retry-after', Math.ceil(wait / 1000));
        return sendPage(reply, signInPage(page, { upn, next, error }), 429);
      }
      throttle.recordAttempt(request.ip, upn);
      const user = await authenticate(db, upn, password);
      if (!user) {
        const page = await context(request, reply);
        return sendPage(reply, signInPage(page, { upn, next, error: page.t('signin.failed') }), 401);
      }
      throttle.forgive(request.ip, upn);
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
      return reply.redirect('/signin', 303);
    },
  );

  await portalPageRoutes(app, services);
}

function csrfFromBody(request: FastifyRequest): string | undefined {
  const body = request.body as { _csrf?: unknown } | undefined;
  return typeof body?._csrf === 'string' ? body._csrf : undefined;
}
