import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DirectoryUser } from '../directory/users.js';
import type { App } from '../http/types.js';
import { TENANT_STATES } from '../m365/model.js';
import { latestScan } from '../m365/scans.js';
import { countTenantStates, listTenantUsersPage } from '../m365/tenant-view.js';
import type { Services } from '../services.js';
import { setFlash } from '../web/flash.js';
import { sendPage } from '../web/page-context.js';
import type { ConsoleContext, Notice } from './pages/console.js';
import { tenantPage } from './pages/tenant.js';
import { tenantConfirmPage } from './pages/tenant-sync.js';
import { connectedTenant, MAX_TENANT_SYNC, tenantDryRun, tenantSync } from './tenant-actions.js';
import { createTenantScanner } from './tenant-scan.js';
import { SEARCH_MAX_LENGTH } from './pages/filters.js';

// Connect mode's console pages: the tenant view, and the two-step sync (GET shows the dry run,
// POST does it and comes back to the tenant view, which says what was done).

type Admin = (request: FastifyRequest, reply: FastifyReply) => Promise<{ user: DirectoryUser; page: ConsoleContext }>;
type NoticeOf = (page: ConsoleContext) => Promise<Notice | undefined>;

const html = { 200: { type: 'string', description: 'An HTML page' } } as const;
const tags = ['admin'];
const literals = <T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)));

export function tenantPages(app: App, services: Services, admin: Admin, notice: NoticeOf): Promise<void> {
  const { db } = services.database;

  app.get(
    '/admin/tenant',
    {
      schema: {
        summary: 'The Microsoft 365 tenant: last scan, users per state, every user (connect mode)',
        tags,
        querystring: Type.Object({
          state: Type.Optional(Type.Union([literals(TENANT_STATES), Type.Literal('')])),
          search: Type.Optional(Type.String({ maxLength: SEARCH_MAX_LENGTH })),
          after: Type.Optional(Type.String({ maxLength: 300 })),
        }),
        response: html,
      },
    },
    async (request, reply) => {
      connectedTenant(services);
      const { page } = await admin(request, reply);
      const { state, search, after } = request.query;
      const query = { state: state === '' ? undefined : state, search: search?.trim() || undefined, after };
      const settings = await services.settings.refresh();
      const [scan, counts, users] = await Promise.all([
        latestScan(db),
        countTenantStates(db),
        listTenantUsersPage(db, { ...query, limit: 50 }),
      ]);
      const view = {
        scan,
        counts,
        page: users,
        operatorSync: settings.operatorSync,
        scheduleMinutes: settings.tenantScan ? settings.tenantScanMinutes : undefined,
      };
      return sendPage(reply, tenantPage(page, query, view, await notice(page)));
    },
  );

  app.get(
    '/admin/tenant/sync',
    {
      schema: {
        summary: 'What syncing one tenant user, or all out of step, would do (the dry run), to confirm',
        tags,
        querystring: Type.Union([
          Type.Object({ upn: Type.String({ minLength: 1, maxLength: 300 }) }, { additionalProperties: false }),
          Type.Object({ all: Type.Literal('1') }, { additionalProperties: false }),
        ]),
        response: html,
      },
    },
    async (request, reply) => {
      connectedTenant(services);
      const { page } = await admin(request, reply);
      const target = 'upn' in request.query ? { upn: request.query.upn } : { all: true as const };
      const run = await tenantDryRun(services, target);
      return sendPage(reply, tenantConfirmPage(page, target, run));
    },
  );

  app.post(
    '/admin/tenant/sync',
    {
      schema: {
        summary: 'Push the confirmed tenant users’ Exchange photos into SharePoint (form)',
        tags,
        body: Type.Object({
          _csrf: Type.String({ maxLength: 200 }),
          // One upn field or several: the form's values arrive as an array either way.
          upn: Type.Array(Type.String({ maxLength: 300 }), { maxItems: MAX_TENANT_SYNC }),
        }),
      },
      preValidation: app.csrfProtection,
    },
    async (request, reply) => {
      connectedTenant(services);
      const { user } = await admin(request, reply);
      const result = await tenantSync(services, user, request.body.upn);
      // The tenant page says what was done, read back from the audit entry (a flash message).
      await setFlash(db, request, reply, '/admin/tenant', { name: 'tenantSynced', n: result.auditId });
      return reply.redirect('/admin/tenant', 303);
    },
  );

  // Scans this process starts run on after the request; closing the app waits for them.
  const scanner = createTenantScanner(services);
  app.addHook('onClose', () => scanner.settle());
  app.post(
    '/admin/tenant/scan',
    {
      schema: {
        summary: 'Start a scan of the tenant now, in the background (form); none starts while one runs',
        tags,
        body: Type.Object({ _csrf: Type.String({ maxLength: 200 }) }),
      },
      preValidation: app.csrfProtection,
    },
    async (request, reply) => {
      connectedTenant(services);
      const { user } = await admin(request, reply);
      const started = await scanner.start(user);
      // The tenant page shows the scan's progress; the notice says whether this click started it.
      const flash =
        started.kind === 'started' ? { name: 'tenantScanStarted', n: started.auditId } : { name: 'tenantScanBusy' };
      await setFlash(db, request, reply, '/admin/tenant', flash);
      return reply.redirect('/admin/tenant', 303);
    },
  );
  return Promise.resolve();
}
