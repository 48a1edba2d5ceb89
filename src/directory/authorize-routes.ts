import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../http/types.js';
import { SESSION_COOKIE } from '../http/auth.js';
import { pageContext, requestLocale, sendPage } from '../web/page-context.js';
import { translator } from '../web/i18n.js';
import { signInPage } from '../portal/pages.js';
import { messagePage } from '../web/message-page.js';
import { confirmSignOutPage, signedOutPage } from './logout-page.js';
import type { MessageKey } from '../web/messages/en.js';
import type { Services } from '../services.js';
import { findApp, postLogoutUriIsRegistered, redirectUriIsRegistered, type AppRegistration } from './apps.js';
import { endSession, userForSession } from './credentials.js';
import { EntraError, entraError, entraErrorBody } from './entra-errors.js';
import { grantDelegatedScopes, parseAuthorizeScopes } from './scope-request.js';
import { tenantId } from './settings.js';
import { createAuthorizationCode } from './sign-in-grants.js';
import { tenantIsOurs } from './tenants.js';
import { clientInfo } from './tokens.js';

// Entra's authorization endpoint, GET /{tenant}/oauth2/v2.0/authorize: the authorization code
// flow with PKCE (S256). The user signs in on the portal's own sign-in page, which comes back
// here; a registered app needs no consent (its registration is the consent). Problems with the
// app itself (unknown client, unregistered redirect URI) are shown on a page, as Entra does,
// since sending the user anywhere would be unsafe; every other problem goes back to the app as
// `error` and `error_description` in its response mode.

const AuthorizeQuery = Type.Object(
  {
    client_id: Type.Optional(Type.String({ maxLength: 100 })),
    redirect_uri: Type.Optional(Type.String({ maxLength: 2000 })),
    response_type: Type.Optional(Type.String({ maxLength: 100 })),
    response_mode: Type.Optional(Type.String({ maxLength: 20, description: 'query (default), fragment or form_post' })),
    scope: Type.Optional(Type.String({ maxLength: 2000 })),
    state: Type.Optional(Type.String({ maxLength: 2000 })),
    nonce: Type.Optional(Type.String({ maxLength: 500 })),
    prompt: Type.Optional(Type.String({ maxLength: 30, description: 'login, none, consent or select_account' })),
    login_hint: Type.Optional(Type.String({ maxLength: 300 })),
    code_challenge: Type.Optional(Type.String({ maxLength: 200 })),
    code_challenge_method: Type.Optional(Type.String({ maxLength: 20 })),
    client_info: Type.Optional(Type.String({ maxLength: 5 })),
  },
  { additionalProperties: true },
);
type AuthorizeQuery = Static<typeof AuthorizeQuery>;

const LogoutBody = Type.Object({ _csrf: Type.String({ maxLength: 200 }) });

const LogoutQuery = Type.Object(
  {
    post_logout_redirect_uri: Type.Optional(Type.String({ maxLength: 2000 })),
    state: Type.Optional(Type.String({ maxLength: 2000 })),
    client_id: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: true },
);

const RESPONSE_MODES = ['query', 'fragment', 'form_post'] as const;
type ResponseMode = (typeof RESPONSE_MODES)[number];
const PROMPTS = ['login', 'none', 'consent', 'select_account'];
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;
const html = {
  200: { type: 'string', description: 'The sign-in page, or a form that posts the answer to the app' },
} as const;

/** A problem shown on our own page, because the app cannot safely be told. */
class AuthorizePageError extends Error {
  constructor(
    readonly key: MessageKey,
    readonly code: number,
  ) {
    super(`AADSTS${code}`);
  }
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The answer to the app in its response mode: its redirect URI with the parameters, or a self-posting form. */
function answerApp(
  request: FastifyRequest,
  reply: FastifyReply,
  redirectUri: string,
  mode: ResponseMode,
  params: Record<string, string>,
) {
  if (mode === 'form_post') {
    // In the person's language, as every page: seen only without script, or for a moment.
    const locale = requestLocale(request);
    const t = translator(locale);
    const script = 'document.forms[0].submit();';
    const hash = createHash('sha256').update(script).digest('base64');
    const inputs = Object.entries(params)
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('');
    const page =
      `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><title>${escapeHtml(t('authorize.returning'))}</title></head><body>` +
      `<form method="post" action="${escapeHtml(redirectUri)}">${inputs}` +
      `<noscript><p>${escapeHtml(t('authorize.noScript'))}</p><button type="submit">${escapeHtml(t('authorize.continue'))}</button></noscript>` +
      `</form><script>${script}</script></body></html>`;
    return reply
      .status(200)
      .header(
        'content-security-policy',
        `default-src 'self'; script-src 'sha256-${hash}'; form-action ${new URL(redirectUri).origin}; frame-ancestors 'none'; base-uri 'none'`,
      )
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page);
  }
  const url = new URL(redirectUri);
  if (mode === 'fragment') url.hash = new URLSearchParams(params).toString();
  else for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return reply.header('cache-control', 'no-store').redirect(url.toString(), 302);
}

export function authorizeRoutes(app: App, services: Services): void {
  const { db, dialect, reads } = services.database;

  async function showProblem(request: FastifyRequest, reply: FastifyReply, problem: AuthorizePageError) {
    const page = await pageContext(db, request, reply);
    const message = page.t(problem.key, { code: problem.message });
    return sendPage(reply, messagePage(page, page.t('authorize.title'), message), 400);
  }

  /** The registered app and redirect URI, or a page saying which is wrong. */
  async function checkClient(query: AuthorizeQuery): Promise<{ client: AppRegistration; redirectUri: string }> {
    if (!query.client_id) throw new AuthorizePageError('authorize.badRequest', 900144);
    const client = await findApp(db, query.client_id);
    if (!client) throw new AuthorizePageError('authorize.unknownApp', 700016);
    if (!query.redirect_uri || !(await redirectUriIsRegistered(db, client.clientId, query.redirect_uri))) {
      throw new AuthorizePageError('authorize.badRedirect', 50011);
    }
    return { client, redirectUri: query.redirect_uri };
  }

  // Entra's end_session_endpoint (MSAL's logoutRedirect and logoutPopup): the portal session
  // ends, and the browser goes back to the app when it names one of its registered redirect URIs;
  // otherwise a page says it is signed out. Asked from another site (an app's page), the person
  // confirms first, with a form that carries its token, as Entra's account picker asks: another
  // site cannot sign anyone out unseen. Tokens already given stay good until they expire.
  const logoutSchema = {
    tags: ['auth'],
    params: Type.Object({ tenant: Type.String({ maxLength: 256 }) }),
    querystring: LogoutQuery,
    response: {
      200: { type: 'string', description: 'The question (signed in), or that nobody is signed in now' },
      302: { description: 'Back to the app', type: 'null' },
    },
  } as const;
  const logoutErrors = async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AuthorizePageError) return showProblem(request, reply, error);
    if ((error as { validation?: unknown }).validation) {
      return showProblem(request, reply, new AuthorizePageError('authorize.badRequest', 900144));
    }
    throw error;
  };
  /** Ends this browser's session, then back to the app or the signed-out page. */
  async function signOut(request: FastifyRequest, reply: FastifyReply, query: Static<typeof LogoutQuery>) {
    const session = request.cookies[SESSION_COOKIE];
    if (session) await endSession(db, session);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    const target = query.post_logout_redirect_uri;
    if (target && (await postLogoutUriIsRegistered(db, target, query.client_id))) {
      const url = new URL(target);
      if (query.state !== undefined) url.searchParams.set('state', query.state);
      return reply.header('cache-control', 'no-store').redirect(url.toString(), 302);
    }
    // The page is of nobody signed in: the session read from the request has just ended.
    const page = { ...(await pageContext(db, request, reply)), user: undefined };
    return sendPage(reply, signedOutPage(page), 200);
  }
  app.get(
    '/:tenant/oauth2/v2.0/logout',
    {
      schema: {
        ...logoutSchema,
        summary: 'Sign out (Entra ID v2.0 end-session endpoint)',
        description:
          'Ends the photosync session of this browser (asked from another site, after the person confirms), then ' +
          'redirects to post_logout_redirect_uri (with state) when it is a redirect URI registered for client_id, or ' +
          'for any app when client_id is not sent; otherwise a page.',
        security: [{ session: [] }],
      },
      errorHandler: logoutErrors,
    },
    async (request, reply) => {
      if (!(await tenantIsOurs(db, dialect, request.params.tenant))) {
        throw new AuthorizePageError('authorize.unknownTenant', 90002);
      }
      const session = request.cookies[SESSION_COOKIE];
      const user = session ? await userForSession(db, session, reads.forRequest()) : undefined;
      // From photosync's own pages (or typed in): nothing to ask.
      const site = request.headers['sec-fetch-site'];
      if (user && site !== 'same-origin' && site !== 'none') {
        const page = await pageContext(db, request, reply);
        return sendPage(reply, confirmSignOutPage(page, request.url, user.upn), 200);
      }
      return signOut(request, reply, request.query);
    },
  );
  app.post(
    '/:tenant/oauth2/v2.0/logout',
    {
      schema: { ...logoutSchema, summary: 'Sign out, confirmed (the form of the end-session page)', body: LogoutBody },
      preValidation: app.csrfProtection,
      errorHandler: logoutErrors,
    },
    async (request, reply) => {
      if (!(await tenantIsOurs(db, dialect, request.params.tenant))) {
        throw new AuthorizePageError('authorize.unknownTenant', 90002);
      }
      return signOut(request, reply, request.query);
    },
  );

  app.get(
    '/:tenant/oauth2/v2.0/authorize',
    {
      schema: {
        summary: 'Sign-in for apps (Entra ID v2.0 authorization endpoint): authorization code with PKCE',
        description:
          'response_type=code, PKCE with code_challenge_method=S256, response_mode query, fragment or form_post, state, nonce, ' +
          'prompt=login|none. The app must be registered with the redirect URI (photosync apps add … --redirect-uri).',
        tags: ['auth'],
        security: [{ session: [] }],
        params: Type.Object({ tenant: Type.String({ maxLength: 256 }) }),
        querystring: AuthorizeQuery,
        response: html,
      },
      errorHandler: async (error, request, reply) => {
        if (error instanceof AuthorizePageError) return showProblem(request, reply, error);
        if ((error as { validation?: unknown }).validation) {
          return showProblem(request, reply, new AuthorizePageError('authorize.badRequest', 900144));
        }
        throw error;
      },
    },
    async (request, reply) => {
      const { query } = request;
      const { tenant } = request.params;
      if (!(await tenantIsOurs(db, dialect, tenant))) throw new AuthorizePageError('authorize.unknownTenant', 90002);
      const { client, redirectUri } = await checkClient(query);

      const mode = (RESPONSE_MODES as readonly string[]).includes(query.response_mode ?? 'query')
        ? ((query.response_mode ?? 'query') as ResponseMode)
        : 'query';
      const back = (error: EntraError) => {
        // Asked for a scope the app was not registered with: Entra would ask for consent; there is none here.
        const body = entraErrorBody(
          error.aadsts === 65001 ? entraError(400, 'consent_required', 65001, error.message) : error,
        );
        return answerApp(request, reply, redirectUri, mode, {
          error: body.error,
          error_description: body.error_description,
          ...(query.state !== undefined ? { state: query.state } : {}),
        });
      };
      try {
        if (query.response_mode !== undefined && !(RESPONSE_MODES as readonly string[]).includes(query.response_mode)) {
          throw entraError(
            400,
            'invalid_request',
            900144,
            `The response_mode '${query.response_mode}' is not supported; use query, fragment or form_post.`,
          );
        }
        if (query.response_type !== 'code') {
          throw entraError(
            400,
            'unsupported_response_type',
            700054,
            `The response_type '${query.response_type ?? ''}' is not enabled for the application; photosync issues authorization codes only (response_type=code).`,
          );
        }
        if (!query.scope) {
          throw entraError(
            400,
            'invalid_request',
            900144,
            "The request body must contain the following parameter: 'scope'.",
          );
        }
        if (query.code_challenge !== undefined || query.code_challenge_method !== undefined) {
          if (query.code_challenge_method !== 'S256') {
            throw entraError(
              400,
              'invalid_request',
              501491,
              'photosync takes PKCE with code_challenge_method=S256 only.',
            );
          }
          if (!CODE_CHALLENGE.test(query.code_challenge ?? '')) {
            throw entraError(400, 'invalid_request', 501491, 'Invalid size of Code_Challenge parameter.');
          }
        }
        if (query.prompt !== undefined && !PROMPTS.includes(query.prompt)) {
          throw entraError(
            400,
            'invalid_request',
            90023,
            `The prompt '${query.prompt}' is not supported; use login, none, consent or select_account.`,
          );
        }
        // The scopes are checked now, so an app asking for more than it was registered with learns it here.
        // Several resources may be asked for at once (consent up front); each is checked.
        for (const asked of parseAuthorizeScopes(query.scope, services.config.publicUrl)) {
          grantDelegatedScopes(asked, client);
        }

        const sessionId = request.cookies[SESSION_COOKIE];
        const user = sessionId ? await userForSession(db, sessionId, reads.forRequest()) : undefined;
        // A login_hint naming someone else than who is signed in asks for that person: never
        // answered with the session's user (MSAL's ssoSilent and silent renewal send one).
        const hint = query.login_hint?.trim().toLowerCase();
        const otherThanHinted = user !== undefined && !!hint && user.upn.toLowerCase() !== hint;
        const mustSignIn = query.prompt === 'login' || query.prompt === 'select_account' || !user || otherThanHinted;
        if (mustSignIn && query.prompt === 'none') {
          throw entraError(
            400,
            'login_required',
            50058,
            user
              ? 'A silent sign-in request was sent but the signed-in user is not the one login_hint names.'
              : 'A silent sign-in request was sent but no user is signed in.',
          );
        }
        if (mustSignIn) {
          // The sign-in page comes back to this request, without the prompt (it is being answered
          // now) and without the hint (the form is filled in with it): whoever signs in there is answered.
          const next = new URL(request.url, 'http://x');
          next.searchParams.delete('prompt');
          next.searchParams.delete('login_hint');
          const back = `${next.pathname}${next.search}`;
          // The language switcher comes back to this request too.
          const page = { ...(await pageContext(db, request, reply)), path: back };
          // Browsers apply the page's form-action to the redirects after the form is sent, and
          // those end at the app: its origin joins 'self' for this page only.
          const csp = String(reply.getHeader('content-security-policy') ?? '');
          void reply.header(
            'content-security-policy',
            csp.replace("form-action 'self'", `form-action 'self' ${new URL(redirectUri).origin}`),
          );
          return sendPage(reply, signInPage(page, { upn: query.login_hint, next: back, app: client.name }));
        }
        const code = await createAuthorizationCode(db, {
          clientId: client.clientId,
          userId: user!.id,
          redirectUri,
          scope: query.scope,
          codeChallenge: query.code_challenge ?? null,
          nonce: query.nonce ?? null,
        });
        return answerApp(request, reply, redirectUri, mode, {
          code,
          ...(query.client_info === '1' ? { client_info: clientInfo(user!.id, await tenantId(db)) } : {}),
          ...(query.state !== undefined ? { state: query.state } : {}),
        });
      } catch (error) {
        if (error instanceof EntraError) return back(error);
        throw error;
      }
    },
  );
}
