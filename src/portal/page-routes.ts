import fs from 'node:fs';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DirectoryUser } from '../directory/users.js';
import { notFound } from '../errors.js';
import type { App } from '../http/app.js';
import { errorResponses } from '../http/schemas.js';
import { currentUser } from '../http/auth.js';
import { getMailPhoto, removeMailPhoto, setMailPhoto, type MailStoreDeps } from '../mail/photo-store.js';
import { availableSides } from '../mail/photo-sizes.js';
import type { Services } from '../services.js';
import { contentTag } from '../storage/hash.js';
import type { SyncTrigger } from '../sync/history.js';
import { LANGUAGE_COOKIE, formatDate, localPath, pageContext, sendPage } from './page-context.js';
import { helpPage, outlookPage, profilePhotoPage, type PhotoForm } from './pages.js';
import { UploadBody, uploadRoutes, uploadedBytes } from './uploads.js';
import type { MessageKey } from './messages/en.js';

// The portal's pages beyond sign-in: the app tiles that run a sync, the profile photo page, help,
// the language switcher and the little script the upload form uses.

const SCRIPT = fs.readFileSync(new URL('./assets/portal.js', import.meta.url));
const SCRIPT_ETAG = `"${contentTag(SCRIPT)}"`;
const html = { 200: { type: 'string', description: 'An HTML page' } } as const;
const YEAR_SECONDS = 365 * 24 * 60 * 60;

export const LAUNCH_TARGETS = {
  onedrive: { path: '/_layouts/15/onedrive.aspx', trigger: 'onedrive_tile' },
  sharepoint: { path: '/_layouts/15/sharepoint.aspx', trigger: 'sharepoint_tile' },
} as const satisfies Record<string, { path: string; trigger: SyncTrigger }>;

const LaunchParams = Type.Object({ app: Type.Union([Type.Literal('onedrive'), Type.Literal('sharepoint')]) });
const LaunchBody = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  from: Type.Optional(Type.String({ maxLength: 20, description: '"prompt" when sent from the admin prompt banner' })),
});
const LanguageBody = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  lang: Type.Union([Type.Literal('en'), Type.Literal('et')]),
  // An app's sign-in request comes back with its whole query (MSAL's are several hundred characters).
  back: Type.Optional(Type.String({ maxLength: 4000 })),
});
const CsrfBody = Type.Object({ _csrf: Type.String({ maxLength: 200 }) });
const PhotoQuery = Type.Object({
  size: Type.Optional(Type.Integer({ minimum: 1, maximum: 648 })),
  v: Type.Optional(Type.String({ maxLength: 40 })),
});
const DoneQuery = Type.Object({ done: Type.Optional(Type.Union([Type.Literal('saved'), Type.Literal('removed')])) });

export async function portalPageRoutes(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const mail: MailStoreDeps = { db, dialect: services.database.dialect, blobs: services.blobs };
  const secure = services.config.publicUrl.startsWith('https:');

  /** The signed-in user, or undefined after answering with a redirect to the sign-in page. */
  async function signedIn(request: FastifyRequest, reply: FastifyReply): Promise<DirectoryUser | undefined> {
    const user = await currentUser(request, db);
    if (!user) void reply.redirect('/signin', 303);
    return user;
  }

  async function photoForm(user: DirectoryUser, locale: 'en' | 'et'): Promise<Omit<PhotoForm, 'error' | 'done'>> {
    const photo = await getMailPhoto(db, user.id);
    return {
      currentUrl: photo ? `/portal/photo?size=240&v=${photo.etag}` : undefined,
      changedAt: photo ? formatDate(locale, photo.changedAt) : undefined,
    };
  }

  async function showPhotoPage(
    request: FastifyRequest,
    reply: FastifyReply,
    user: DirectoryUser,
    extra: { error?: MessageKey; done?: 'saved' | 'removed' | undefined },
    status = 200,
  ) {
    const context = await pageContext(db, request, reply, user);
    const form = await photoForm(user, context.locale);
    const page = profilePhotoPage(
      { ...context, user: context.user! },
      { ...form, error: extra.error && context.t(extra.error), done: extra.done },
    );
    return sendPage(reply, page, status);
  }

  app.get('/assets/portal.js', { schema: { summary: 'Portal script', tags: ['portal'] } }, (request, reply) => {
    reply.header('etag', SCRIPT_ETAG).header('cache-control', 'public, max-age=300');
    if (request.headers['if-none-match'] === SCRIPT_ETAG) return reply.status(304).send();
    return reply.type('text/javascript; charset=utf-8').send(SCRIPT);
  });

  app.get(
    '/portal/photo',
    {
      schema: {
        summary: "The signed-in user's mail photo, as the suite bar shows it",
        tags: ['portal'],
        querystring: PhotoQuery,
        response: {
          200: {
            description: 'The JPEG photo',
            content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } },
          },
          304: { description: 'Not modified', type: 'null' },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const user = await currentUser(request, db);
      const photo = user?.hasMailbox ? await getMailPhoto(db, user.id) : undefined;
      if (!photo) throw notFound('There is no mail photo for you to see here.');
      const sides = availableSides(photo);
      const wanted = request.query.size ?? 96;
      const side = sides.find((s) => s >= wanted) ?? sides[sides.length - 1] ?? photo.side;
      const etag = `"${photo.etag}-${side}"`;
      const current = request.query.v === photo.etag;
      reply
        .header('etag', etag)
        .header('cache-control', current ? 'private, max-age=31536000, immutable' : 'private, no-cache')
        .header('vary', 'Cookie');
      if (request.headers['if-none-match'] === etag) return reply.status(304).send(null);
      const bytes = await services.mailSizes.read(photo, side);
      return reply.type('image/jpeg').send(bytes ?? (await services.blobs.get(photo.blobKey)));
    },
  );

  app.post(
    '/language',
    {
      schema: { summary: 'Choose the page language (remembered in a cookie)', tags: ['portal'], body: LanguageBody },
      preValidation: app.csrfProtection,
    },
    (request, reply) => {
      reply.setCookie(LANGUAGE_COOKIE, request.body.lang, {
        path: '/',
        sameSite: 'lax',
        httpOnly: true,
        secure,
        maxAge: YEAR_SECONDS,
      });
      return reply.redirect(localPath(request.body.back), 303);
    },
  );

  app.post(
    '/launch/:app',
    {
      schema: {
        summary: 'Open OneDrive or SharePoint: syncs your profile picture, then opens the app',
        tags: ['portal'],
        params: LaunchParams,
        body: LaunchBody,
      },
      preValidation: app.csrfProtection,
    },
    async (request, reply) => {
      const user = await signedIn(request, reply);
      if (!user) return reply;
      const target = LAUNCH_TARGETS[request.params.app];
      const trigger: SyncTrigger = request.body.from === 'prompt' ? 'prompt' : target.trigger;
      const result = await services.sync.sync(user, trigger);
      return reply.redirect(`${target.path}?sync=${result.outcome}`, 303);
    },
  );

  app.get(
    '/outlook',
    { schema: { summary: 'Outlook (mail placeholder)', tags: ['portal'], response: html } },
    async (request, reply) => {
      const user = await signedIn(request, reply);
      if (!user) return reply;
      const context = await pageContext(db, request, reply, user);
      return sendPage(reply, outlookPage({ ...context, user: context.user! }, user.hasMailbox));
    },
  );

  app.get(
    '/help/profile-picture-sync',
    { schema: { summary: 'Help: profile picture synchronization', tags: ['portal'], response: html } },
    async (request, reply) => {
      const user = await currentUser(request, db);
      return sendPage(reply, helpPage(await pageContext(db, request, reply, user)));
    },
  );

  app.get(
    '/profile-photo',
    { schema: { summary: 'Add your profile photo', tags: ['portal'], querystring: DoneQuery, response: html } },
    async (request, reply) => {
      const user = await signedIn(request, reply);
      if (!user) return reply;
      if (!user.hasMailbox) return reply.redirect('/_layouts/15/editprofile.aspx', 303);
      return showPhotoPage(request, reply, user, { done: request.query.done });
    },
  );

  app.post(
    '/profile-photo/remove',
    {
      schema: { summary: 'Remove your profile photo', tags: ['portal'], body: CsrfBody },
      preValidation: app.csrfProtection,
    },
    async (request, reply) => {
      const user = await signedIn(request, reply);
      if (!user) return reply;
      if (!user.hasMailbox) return reply.redirect('/_layouts/15/editprofile.aspx', 303);
      await removeMailPhoto(mail, user);
      return reply.redirect('/profile-photo?done=removed', 303);
    },
  );

  await uploadRoutes(
    app,
    (uploads) => {
      uploads.post(
        '/profile-photo',
        {
          schema: {
            summary: 'Save a new profile photo',
            tags: ['portal'],
            consumes: ['multipart/form-data'],
            body: UploadBody,
          },
          preValidation: uploads.csrfProtection,
        },
        async (request, reply) => {
          const user = await signedIn(request, reply);
          if (!user) return reply;
          if (!user.hasMailbox) return reply.redirect('/_layouts/15/editprofile.aspx', 303);
          await setMailPhoto(mail, user, uploadedBytes(request.body));
          return reply.redirect('/profile-photo?done=saved', 303);
        },
      );
    },
    async (request, reply, key, status) => {
      const user = await currentUser(request, db);
      if (!user) return reply.redirect('/signin', 303);
      return showPhotoPage(request, reply, user, { error: key }, status);
    },
  );
}
