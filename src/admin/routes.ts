import csrf from '@fastify/csrf-protection';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { getDirectoryPhoto } from '../directory/photo.js';
import { findUserByUpn, type DirectoryUser } from '../directory/users.js';
import { notFound, userNotFound } from '../errors.js';
import { signedInUser } from '../http/auth.js';
import { CACHE_CONTROL, clientHasCurrent } from '../http/conditional.js';
import { routeDefaults, type App } from '../http/types.js';
import { getMailPhoto, readMailMaster, readingCurrentMailPhoto } from '../mail/photo-store.js';
import { readAsset, sendAsset } from '../web/asset-routes.js';
import { setFlash } from '../web/flash.js';
import { formProtection } from '../web/form-protection.js';
import type { FormPage } from '../web/error-page.js';
import { pageContext, sendPage } from '../web/page-context.js';
import type { PageContext } from '../web/layout.js';
import type { Services } from '../services.js';
import { contentTag } from '../storage/hash.js';
import { SYNC_STATES } from '../sync/state.js';
import { ADMIN_PAGES } from './access.js';
import { askToSync, operatorSync, userDetail } from './actions.js';
import { adminApiRoutes } from './api.js';
import { getAuditEntry, listAudit } from './audit.js';
import { operatorSyncNotice, promptNotice } from './pages/notices.js';
import { auditPage } from './pages/audit.js';
import type { Notice } from './pages/console.js';
import { consoleErrorPage } from './pages/error.js';
import { overviewPage } from './pages/overview.js';
import { asTyped, settingsForm, settingsPage, wholeNumber } from './pages/settings.js';
import { invalidSettings } from './settings.js';
import { userDetailPage } from './pages/user-detail.js';
import { usersLink, usersPage } from './pages/users.js';
import { tenantSyncNotice } from './pages/tenant-sync.js';
import { tenantPages } from './tenant-routes.js';
import { countByState, firstOutOfStep, listUsersPage, USER_SORTS, type UsersPageQuery } from './users-query.js';
import { SEARCH_MAX_LENGTH } from './pages/filters.js';
import { getRendition } from '../sites/profiles.js';

// The admin console: pages under /admin (forms with CSRF tokens) and the JSON API under /admin/api.

const STYLESHEET = readAsset(new URL('./assets/admin.css', import.meta.url), 'text/css; charset=utf-8');
const SCRIPT = readAsset(new URL('./assets/admin.js', import.meta.url), 'text/javascript; charset=utf-8');
const html = { 200: { type: 'string', description: 'An HTML page' } } as const;
const tags = ['admin'];
const literals = <T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)));

const UpnList = Type.Optional(Type.Array(Type.String({ maxLength: 300 }), { maxItems: 500 }));
/** The users page's view: its filter, search, sort and where the page starts. */
const UsersView = Type.Object({
  state: Type.Optional(Type.Union([literals(SYNC_STATES), Type.Literal('')])),
  search: Type.Optional(Type.String({ maxLength: SEARCH_MAX_LENGTH })),
  sort: Type.Optional(literals(USER_SORTS)),
  after: Type.Optional(Type.String({ maxLength: 600 })),
});

export async function adminRoutes(app: App, services: Services): Promise<void> {
  // The console shows what is recorded: the in-step checks this server is still gathering are
  // written first (for an administrator's request; the public stylesheet and script need nothing).
  app.addHook('preHandler', async (request) => {
    if ((request.routeOptions.config as { auth?: unknown }).auth === false) return;
    await services.sync.writeChecks();
  });
  await app.register((api) => {
    adminApiRoutes(api as App, services);
    return Promise.resolve();
  });
  await app.register((pages) => adminPages(pages as App, services));
}

async function adminPages(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const secure = services.config.publicUrl.startsWith('https:');
  await app.register(
    csrf,
    await formProtection(db, {
      secure,
      getToken: (request) => {
        const body = request.body as { _csrf?: unknown } | undefined;
        return typeof body?._csrf === 'string' ? body._csrf : undefined;
      },
    }),
  );

  const context = (request: FastifyRequest, reply: FastifyReply, user?: DirectoryUser) =>
    pageContext(db, request, reply, user);
  const connectMode = services.m365 !== undefined;
  const admin = async (request: FastifyRequest, reply: FastifyReply) => {
    const user = signedInUser(request);
    return { user, page: { ...(await context(request, reply, user)), connectMode } };
  };

  // Errors are pages in the admin's language: sign-in for nobody, a 403 for non-admins, the reason otherwise.
  // Their navigation is the console's own, the Microsoft 365 tab included in connect mode.
  routeDefaults(app, {
    envelope: 'page',
    errorPage: (page, title, message, error) => consoleErrorPage({ ...page, connectMode }, title, message, error),
    auth: ADMIN_PAGES,
  });

  // The stylesheet is for anyone (the prompt banner on the portal uses it): no credentials read.
  app.get(
    '/admin/assets/admin.css',
    { config: { auth: false }, schema: { summary: 'Admin stylesheet', tags } },
    (request, reply) => sendAsset(request, reply, STYLESHEET),
  );
  app.get(
    '/admin/assets/admin.js',
    { config: { auth: false }, schema: { summary: 'Admin script (copy buttons, select all)', tags } },
    (request, reply) => sendAsset(request, reply, SCRIPT),
  );

  /** The mail photo (its bytes read only when sent) or the directory photo, with their ETags. */
  async function consolePhoto(userId: string, which: 'mail' | 'directory' | 'S' | 'M' | 'L') {
    if (which === 'mail') {
      const photo = await getMailPhoto(db, userId);
      return photo && { tag: photo.etag, bytes: () => readMailMaster(services.blobs, photo) };
    }
    if (which !== 'directory') {
      // The sites' rendition as they hold it: read here, never through userphoto.aspx, where an
      // administrator's own L picture would sync them and change the state the page shows.
      const rendition = await getRendition(db, userId, which);
      return (
        rendition && {
          tag: rendition.etag,
          bytes: async () => {
            const bytes = await services.blobs.get(rendition.blobKey);
            if (!bytes) throw notFound('This user has no such photo.', 'photo_not_found');
            return bytes;
          },
        }
      );
    }
    const jpeg = await getDirectoryPhoto(db, userId);
    return jpeg && { tag: contentTag(jpeg), bytes: () => Promise.resolve(jpeg) };
  }

  /** What the form that redirected here says, once (a flash message, never the address). */
  const notice = async (page: PageContext): Promise<Notice | undefined> => {
    const flash = page.flash;
    if (!flash) return undefined;
    const n = flash.n ?? 0;
    switch (flash.name) {
      case 'prompted': {
        const entry = await getAuditEntry(db, n);
        // Read back from the request's audit entry, and only for the admin who asked.
        if (entry?.action !== 'prompt' || entry.actorUpn !== page.user?.upn) return undefined;
        return promptNotice(page, entry);
      }
      case 'synced': {
        const entry = await getAuditEntry(db, n);
        if (entry?.action !== 'operator_sync' || entry.actorUpn !== page.user?.upn) return undefined;
        return operatorSyncNotice(page, entry);
      }
      case 'saved':
        return { kind: 'ok', text: page.t('admin.notice.saved') };
      case 'tenantSynced': {
        const entry = await getAuditEntry(db, n);
        if (entry?.action !== 'operator_sync' || entry.actorUpn !== page.user?.upn) return undefined;
        return tenantSyncNotice(page, entry);
      }
      case 'tenantScanStarted': {
        const entry = await getAuditEntry(db, n);
        if (entry?.action !== 'tenant_scan_started' || entry.actorUpn !== page.user?.upn) return undefined;
        const resumed = entry.detail.resumed === true;
        return { kind: 'ok', text: page.t(resumed ? 'admin.tenant.scan.resumedNow' : 'admin.tenant.scan.started') };
      }
      case 'tenantScanBusy':
        return { kind: 'info', text: page.t('admin.tenant.scan.busy') };
      case undefined:
      default:
        return undefined;
    }
  };

  app.get('/admin', { schema: { summary: 'Admin overview', tags, response: html } }, async (request, reply) => {
    const { page } = await admin(request, reply);
    const [counts, first] = await Promise.all([countByState(db), firstOutOfStep(db)]);
    return sendPage(reply, overviewPage(page, counts, first, await notice(page)));
  });

  app.get(
    '/admin/users',
    {
      schema: {
        summary: 'Admin users table',
        tags,
        querystring: UsersView,
        response: html,
      },
    },
    async (request, reply) => {
      const { page } = await admin(request, reply);
      const query = viewOf(request.query);
      const users = await listUsersPage(db, { ...query, limit: 50 });
      const operatorSync = (await services.settings.refresh()).operatorSync;
      return sendPage(reply, usersPage(page, query, users, { operatorSync, notice: await notice(page) }));
    },
  );

  app.get(
    '/admin/users/:upn',
    {
      schema: {
        summary: 'Admin user detail',
        tags,
        params: Type.Object({ upn: Type.String({ maxLength: 300 }) }),
        response: html,
      },
    },
    async (request, reply) => {
      const { page } = await admin(request, reply);
      const detail = await userDetail(services, request.params.upn);
      const operatorSync = (await services.settings.refresh()).operatorSync;
      return sendPage(
        reply,
        userDetailPage(page, detail, {
          operatorSync,
          emailOn: services.mailer !== undefined,
          notice: await notice(page),
        }),
      );
    },
  );

  const SelectionBody = Type.Object({
    _csrf: Type.String({ maxLength: 200 }),
    upn: UpnList,
    all: Type.Optional(Type.Literal('1')),
    back: Type.Optional(Type.Literal('detail')),
    // The users page's view the form was sent from.
    ...UsersView.properties,
  });
  // The schema has let through only a state and a sort there are.
  const viewOf = (body: Static<typeof UsersView>): UsersPageQuery => ({
    state: body.state === '' ? undefined : (body.state as UsersPageQuery['state']),
    search: body.search?.trim() || undefined,
    sort: body.sort as UsersPageQuery['sort'],
    after: body.after,
  });
  const backTo = (body: Static<typeof SelectionBody>) =>
    body.back === 'detail' && body.upn?.[0]
      ? `/admin/users/${encodeURIComponent(body.upn[0])}`
      : body.state || body.search || body.sort || body.after
        ? usersLink(viewOf(body), body.after)
        : '/admin/users';

  /** A form that acts on the users ticked, sent with none: answered on the users page itself, not on an error page. */
  const nothingSelected = async (page: PageContext, body: Static<typeof SelectionBody>, reply: FastifyReply) => {
    const view = viewOf(body);
    const users = await listUsersPage(db, { ...view, limit: 50 });
    const operatorSync = (await services.settings.refresh()).operatorSync;
    const nothing = { kind: 'error' as const, text: page.t('admin.error.nothingSelected') };
    return sendPage(reply, usersPage(page, view, users, { operatorSync, notice: nothing }), 400);
  };

  app.post(
    '/admin/prompts',
    {
      schema: { summary: 'Ask users to sync (form)', tags, body: SelectionBody },
      preValidation: app.csrfProtection,
    },
    async (request, reply) => {
      const { user, page } = await admin(request, reply);
      const body = request.body;
      if (body.all !== '1' && (body.upn ?? []).length === 0) return nothingSelected(page, body, reply);
      const result = await askToSync(
        services,
        user,
        body.all === '1' ? { allOutOfStep: true } : { upns: body.upn ?? [] },
      );
      const where = body.all === '1' ? '/admin' : backTo(body);
      await setFlash(db, request, reply, where, { name: 'prompted', n: result.auditId });
      return reply.redirect(where, 303);
    },
  );

  app.post(
    '/admin/sync',
    {
      schema: { summary: 'Run the sync for chosen users (form)', tags, body: SelectionBody },
      preValidation: app.csrfProtection,
    },
    async (request, reply) => {
      const { user, page } = await admin(request, reply);
      const upns = request.body.upn ?? [];
      if (upns.length === 0 && (await services.settings.refresh()).operatorSync) {
        return nothingSelected(page, request.body, reply);
      }
      const { auditId } = await operatorSync(services, user, upns);
      const where = backTo(request.body);
      await setFlash(db, request, reply, where, { name: 'synced', n: auditId });
      return reply.redirect(where, 303);
    },
  );

  app.get(
    '/admin/settings',
    { schema: { summary: 'Admin settings', tags, response: html } },
    async (request, reply) => {
      const { page } = await admin(request, reply);
      const settings = await services.settings.refresh();
      const emailOn = services.mailer !== undefined;
      return sendPage(
        reply,
        settingsPage(page, settingsForm(settings), { emailOn, connectMode, notice: await notice(page) }),
      );
    },
  );

  /**
   * The settings form shown again when the request is refused before its handler (the form's token
   * expired, say): with what was typed, the reason above it, and a new token to send it with.
   */
  const settingsFormPage: FormPage = {
    show: async (request, reply, message, status) => {
      const { page } = await admin(request, reply);
      const form = asTyped(settingsForm(await services.settings.refresh()), request.body);
      const emailOn = services.mailer !== undefined;
      const notice: Notice = { kind: 'error', text: message };
      return sendPage(reply, settingsPage(page, form, { emailOn, connectMode, notice }), status);
    },
  };

  // Any text is taken, so that what was typed comes back beside its error rather than on an error page.
  const typed = Type.String({ maxLength: 1000 });
  app.post(
    '/admin/settings',
    {
      schema: {
        summary: 'Change settings (form)',
        tags,
        body: Type.Object({
          _csrf: Type.String({ maxLength: 200 }),
          sizeS: typed,
          sizeM: typed,
          sizeL: typed,
          recheckSeconds: typed,
          errorBackoffSeconds: typed,
          operatorSync: Type.Optional(Type.Literal('on')),
          mailFrom: Type.String({ maxLength: 300 }),
          // Connect mode only: scheduled scans of the tenant.
          tenantScan: Type.Optional(Type.Literal('on')),
          tenantScanMinutes: Type.Optional(typed),
        }),
      },
      preValidation: app.csrfProtection,
      config: { formPage: settingsFormPage },
    },
    async (request, reply) => {
      const { user, page } = await admin(request, reply);
      const b = request.body;
      const change = {
        renditionSizes: { S: wholeNumber(b.sizeS), M: wholeNumber(b.sizeM), L: wholeNumber(b.sizeL) },
        recheckSeconds: wholeNumber(b.recheckSeconds),
        errorBackoffSeconds: wholeNumber(b.errorBackoffSeconds),
        operatorSync: b.operatorSync === 'on',
        mailFrom: b.mailFrom,
        ...(connectMode
          ? { tenantScan: b.tenantScan === 'on', tenantScanMinutes: wholeNumber(b.tenantScanMinutes ?? '') }
          : {}),
      };
      const invalid = invalidSettings(change);
      if (invalid.length > 0) {
        // Nothing is saved; the form comes back as typed, each wrong field marked with why.
        const form = {
          ...b,
          operatorSync: change.operatorSync,
          tenantScan: b.tenantScan === 'on',
          tenantScanMinutes: b.tenantScanMinutes ?? '',
        };
        const emailOn = services.mailer !== undefined;
        return sendPage(reply, settingsPage(page, form, { emailOn, connectMode, invalid }), 400);
      }
      await services.settings.update(change, user);
      await setFlash(db, request, reply, '/admin/settings', { name: 'saved' });
      return reply.redirect('/admin/settings', 303);
    },
  );

  await tenantPages(app, services, admin, notice);

  app.get(
    '/admin/audit',
    {
      schema: {
        summary: 'Admin audit log',
        tags,
        querystring: Type.Object({
          before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
        }),
        response: html,
      },
    },
    async (request, reply) => {
      const { page } = await admin(request, reply);
      const { entries, next } = await listAudit(db, { before: request.query.before });
      return sendPage(reply, auditPage(page, entries, next));
    },
  );

  app.get(
    '/admin/photos/:upn/:which',
    {
      schema: {
        summary: "A user's mail photo (master), directory photo or site rendition (S, M, L), for the console",
        tags,
        params: Type.Object({
          upn: Type.String({ maxLength: 300 }),
          which: literals(['mail', 'directory', 'S', 'M', 'L'] as const),
        }),
      },
    },
    async (request, reply) => {
      const user = await findUserByUpn(db, request.params.upn);
      if (!user) throw userNotFound(request.params.upn);
      return readingCurrentMailPhoto(async () => {
        const photo = await consolePhoto(user.id, request.params.which);
        if (!photo) throw notFound('This user has no such photo.', 'photo_not_found');
        const representation = {
          tag: photo.tag,
          cacheControl: CACHE_CONTROL.revalidate,
          vary: 'Authorization, Cookie',
        };
        if (clientHasCurrent(request, reply, representation)) return reply.status(304).send();
        return reply.type('image/jpeg').send(await photo.bytes());
      });
    },
  );
}
