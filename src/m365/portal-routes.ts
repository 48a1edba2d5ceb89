import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ComponentChildren } from 'preact';
import { unauthorized } from '../errors.js';
import type { App } from '../http/types.js';
import type { Services } from '../services.js';
import { OUT_OF_STEP_STATES } from '../sync/state.js';
import type { SyncTrigger } from '../sync/history.js';
import type { PageContext, SuiteUser } from '../web/layout.js';
import { localPath, pageContext, sendPage } from '../web/page-context.js';
import type { M365Connection } from './connection.js';
import { stateFinding } from './finding.js';
import { pushTenantUser, type PushReport } from './push.js';
import { pushProblemPage, signInProblemPage, tenantHomePage, type PushProblem, type TileApp } from './portal-pages.js';
import {
  TENANT_SESSION_COOKIE,
  TENANT_SESSION_LIFETIME_MS,
  createTenantSession,
  endTenantSession,
  tenantUserForSession,
} from './sessions.js';
import type { M365Settings } from './settings.js';
import {
  PENDING_SIGN_IN_COOKIE,
  PENDING_SIGN_IN_MS,
  SIGN_IN_CALLBACK_PATH,
  createTenantSignIn,
  type SignInProblem,
} from './sign-in.js';
import { isTenantError, type TenantProblem } from './errors.js';
import { createTenantClient } from './tokens.js';
import { rememberSignedInUser, type TenantUserRecord } from './users.js';

// Connect mode's side of the portal: the tenant's people sign in with their Microsoft 365 account
// (sign-in.ts), get a home page with the SharePoint and OneDrive tiles, and a tile pushes their
// Exchange photo into SharePoint (push.ts, recorded with the tile as its trigger) before sending
// them on to the real site. Whatever fails is said on a page, with the way on still offered.

const SIGN_IN_PATH = '/signin/microsoft';
const html = { 200: { type: 'string', description: 'An HTML page' } } as const;

export const TILE_TRIGGERS = {
  sharepoint: 'sharepoint_tile',
  onedrive: 'onedrive_tile',
} as const satisfies Record<TileApp, SyncTrigger>;

/** Where each tile sends the person once their photo is across: SharePoint's start page, their OneDrive. */
export function tileTargets(settings: M365Settings): Record<TileApp, string> {
  return {
    sharepoint: `${settings.sharePointUrl}/_layouts/15/sharepoint.aspx`,
    onedrive: `${settings.mySiteUrl}/_layouts/15/onedrive.aspx`,
  };
}

const SignInQuery = Type.Object({
  next: Type.Optional(Type.String({ maxLength: 4000, description: 'A same-site address to continue to' })),
});
const CallbackQuery = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 8000 })),
  state: Type.Optional(Type.String({ maxLength: 200 })),
  error: Type.Optional(Type.String({ maxLength: 200 })),
  error_description: Type.Optional(Type.String({ maxLength: 4000 })),
  error_subcode: Type.Optional(Type.String({ maxLength: 200 })),
});
const LaunchParams = Type.Object({ app: Type.Union([Type.Literal('onedrive'), Type.Literal('sharepoint')]) });
const LaunchBody = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  from: Type.Optional(Type.String({ maxLength: 20, description: '"prompt" when sent from the prompt banner' })),
});

const SIGN_IN_STATUS: Record<SignInProblem, number> = {
  declined: 403,
  consent: 403,
  tenant_down: 503,
  setup: 500,
  invalid: 400,
};
const PUSH_STATUS: Record<PushProblem, number> = { tenant_down: 503, consent: 403, push_failed: 502 };

export interface ConnectPortal {
  /** Where signing in with Microsoft 365 starts, continuing to `next`. */
  signInUrl(next: string): string;
  /** The tenant user of this request's session, if any. */
  userOf(request: FastifyRequest): Promise<TenantUserRecord | undefined>;
  /** Sends the tenant user's home page; false when the request carries no tenant session. */
  home(request: FastifyRequest, reply: FastifyReply): Promise<boolean>;
  /** Ends the tenant session this request carries, if any. */
  signOut(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  routes(app: App): void;
}

export interface ConnectPortalOptions {
  /** The prompt banner for a tenant user whose pictures are out of step. */
  banner: (page: PageContext) => ComponentChildren;
}

export function createConnectPortal(
  services: Services,
  connection: M365Connection,
  options: ConnectPortalOptions,
): ConnectPortal {
  const { db } = services.database;
  const { settings, log } = connection;
  const secure = services.config.publicUrl.startsWith('https:');
  const targets = tileTargets(settings);
  const signIn = createTenantSignIn({
    settings,
    client: () => createTenantClient(settings, log),
    publicUrl: services.config.publicUrl,
    clock: connection.clock,
    log,
  });
  const signInUrl = (next: string) =>
    next === '/' ? SIGN_IN_PATH : `${SIGN_IN_PATH}?${new URLSearchParams({ next }).toString()}`;

  const userOf = async (request: FastifyRequest) => {
    const session = request.cookies[TENANT_SESSION_COOKIE];
    return session ? tenantUserForSession(db, session) : undefined;
  };

  /** Page context for a tenant user: their name in the suite bar, no photosync-only links. */
  const tenantContext = async (request: FastifyRequest, reply: FastifyReply, user?: TenantUserRecord) => {
    const context = await pageContext(db, request, reply);
    const suite: SuiteUser | undefined = user && { displayName: user.displayName, upn: user.upn };
    return { ...context, user: suite, tenantUser: true };
  };

  /**
   * Browsers apply a page's form-action to the redirects that follow its forms: the tiles' forms
   * end at SharePoint and the My Site host, so their origins join 'self' on pages with tiles.
   */
  const allowFormsToSites = (reply: FastifyReply) => {
    const csp = String(reply.getHeader('content-security-policy') ?? '');
    const origins = [...new Set([new URL(targets.sharepoint).origin, new URL(targets.onedrive).origin])].join(' ');
    void reply.header('content-security-policy', csp.replace("form-action 'self'", `form-action 'self' ${origins}`));
  };

  return {
    signInUrl,
    userOf,

    async home(request, reply) {
      const user = await userOf(request);
      if (!user) return false;
      const context = await tenantContext(request, reply, user);
      const outOfStep = (OUT_OF_STEP_STATES as readonly string[]).includes(user.state ?? '');
      allowFormsToSites(reply);
      const page = tenantHomePage(
        { ...context, user: context.user! },
        {
          state: user.state,
          finding: await stateFinding(db, user.id),
          banner: outOfStep ? options.banner(context) : undefined,
        },
      );
      await sendPage(reply, page);
      return true;
    },

    async signOut(request, reply) {
      const session = request.cookies[TENANT_SESSION_COOKIE];
      if (session) await endTenantSession(db, session);
      reply.clearCookie(TENANT_SESSION_COOKIE, { path: '/' });
    },

    routes(app) {
      app.get(
        SIGN_IN_PATH,
        {
          schema: {
            summary: 'Sign in with a Microsoft 365 account (connect mode): goes to the tenant’s sign-in',
            tags: ['portal'],
            querystring: SignInQuery,
            response: html,
          },
        },
        async (request, reply) => {
          const next = localPath(request.query.next);
          let begun: { url: string; pending: string };
          try {
            begun = await signIn.begin(next);
          } catch (error) {
            const problem: SignInProblem =
              isTenantError(error) && PUSH_PROBLEMS[error.problem] === 'tenant_down' ? 'tenant_down' : 'setup';
            log.warn({ err: error, problem }, 'a Microsoft 365 sign-in could not begin');
            return showSignInProblem(request, reply, problem, next);
          }
          reply.setCookie(PENDING_SIGN_IN_COOKIE, begun.pending, {
            path: SIGN_IN_PATH,
            httpOnly: true,
            sameSite: 'lax',
            secure,
            maxAge: PENDING_SIGN_IN_MS / 1000,
          });
          return reply.header('cache-control', 'no-store').redirect(begun.url, 302);
        },
      );

      app.get(
        SIGN_IN_CALLBACK_PATH,
        {
          schema: {
            summary: 'Where the tenant sends a Microsoft 365 sign-in back (the app’s redirect URI)',
            tags: ['portal'],
            querystring: CallbackQuery,
            response: html,
          },
        },
        async (request, reply) => {
          const result = await signIn.complete(request.query, request.cookies[PENDING_SIGN_IN_COOKIE]);
          reply.clearCookie(PENDING_SIGN_IN_COOKIE, { path: SIGN_IN_PATH });
          if (!result.ok) {
            log.warn({ problem: result.problem, detail: result.detail }, 'a Microsoft 365 sign-in did not finish');
            return showSignInProblem(request, reply, result.problem, result.next);
          }
          const user = await rememberSignedInUser(db, result.user);
          // A new session id at every sign-in, so an id planted before sign-in is worthless after it.
          const previous = request.cookies[TENANT_SESSION_COOKIE];
          if (previous) await endTenantSession(db, previous);
          const session = await createTenantSession(db, user.id);
          reply.setCookie(TENANT_SESSION_COOKIE, session, {
            path: '/',
            httpOnly: true,
            sameSite: 'lax',
            secure,
            maxAge: TENANT_SESSION_LIFETIME_MS / 1000,
          });
          return reply.redirect(localPath(result.next), 303);
        },
      );

      app.post(
        '/m365/launch/:app',
        {
          schema: {
            summary:
              'Open SharePoint or OneDrive (connect mode): pushes your Exchange photo into SharePoint, then opens the real site',
            tags: ['portal'],
            params: LaunchParams,
            body: LaunchBody,
          },
          preValidation: app.csrfProtection,
        },
        async (request, reply) => {
          const user = await userOf(request);
          if (!user) throw unauthorized();
          const tile = request.params.app;
          const trigger: SyncTrigger = request.body.from === 'prompt' ? 'prompt' : TILE_TRIGGERS[tile];
          const report = await pushTenantUser(connection, { db, lock: services.tenantLock }, user, {
            trigger,
            sizes: services.syncSettings().renditionSizes,
          });
          if (report.outcome !== 'failed') return reply.redirect(targets[tile], 303);
          const problem = pushProblem(report);
          log.warn({ upn: user.upn, problem, error: report.error }, 'a tile’s push into SharePoint failed');
          const context = await tenantContext(request, reply, user);
          allowFormsToSites(reply);
          const page = pushProblemPage(context, { app: tile, problem, reason: report.error ?? '', targets });
          return sendPage(reply, page, PUSH_STATUS[problem]);
        },
      );
    },
  };

  async function showSignInProblem(request: FastifyRequest, reply: FastifyReply, problem: SignInProblem, next: string) {
    const context = await tenantContext(request, reply);
    const page = signInProblemPage(context, { problem, signInUrl: signInUrl(next), targets });
    return sendPage(reply, page, SIGN_IN_STATUS[problem]);
  }
}

/** What the person is told about a failed push: the tenant down, consent missing, or the push itself. */
const PUSH_PROBLEMS: Partial<Record<TenantProblem, PushProblem>> = {
  unreachable: 'tenant_down',
  throttled: 'tenant_down',
  // MSAL cannot tell a host that is down from a wrong one: either way the tenant did not answer.
  wrong_url: 'tenant_down',
  consent: 'consent',
  permission: 'consent',
};

function pushProblem(report: PushReport): PushProblem {
  return (report.problem && PUSH_PROBLEMS[report.problem]) ?? 'push_failed';
}
