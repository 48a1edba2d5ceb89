import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DirectoryUser } from '../directory/users.js';
import { notFound, unauthorized } from '../errors.js';
import type { App } from '../http/types.js';
import { errorResponses } from '../http/schemas.js';
import { signedInUser, userOf } from '../http/auth.js';
import { CACHE_CONTROL, clientHasCurrent } from '../http/conditional.js';
import { getMailPhoto, readingCurrentMailPhoto, removeMailPhoto, setMailPhoto } from '../mail/photo-store.js';
import { availableSides, sizeEtag } from '../mail/photo-sizes.js';
import type { Services } from '../services.js';
import type { SyncNoticeName } from '../sites/pages.js';
import type { SyncTrigger } from '../sync/history.js';
import { setFlash } from '../web/flash.js';
import { LANGUAGE_COOKIE, SIGNED_IN, formatDate, localPath, pageContext, sendPage } from '../web/page-context.js';
import { sitesLagOf } from './sites-lag.js';
import { helpPage, outlookPage, profilePhotoPage, type PhotoForm } from './pages.js';
import type { FormPage } from '../web/error-page.js';
import { UPLOAD_MESSAGES, UploadBody, uploadRoutes, uploadedBytes } from '../web/uploads.js';

// The portal's pages beyond sign-in: the app tiles that run a sync, the profile photo page, help,
// the language switcher and the little script the upload form uses.

/** What the profile photo page says once after its forms: the photo was saved, removed, or there was none to remove. */
const PHOTO_DONE = ['saved', 'removed', 'nothing_removed'] as const;
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
const PhotoPageQuery = Type.Object({
  remove: Type.Optional(Type.Literal('confirm', { description: 'Ask to confirm removing the photo' })),
});

export async function portalPageRoutes(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const mail = services.mailStore;
  const secure = services.config.publicUrl.startsWith('https:');
  const lagOf = sitesLagOf(services);

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
    extra: { error?: string; confirmRemove?: boolean },
    status = 200,
  ) {
    const context = await pageContext(db, request, reply, user);
    const form = await photoForm(user, context.locale);
    const sitesLag = await lagOf(user);
    const done = PHOTO_DONE.find((name) => name === context.flash?.name);
    const page = profilePhotoPage({ ...context, user: context.user! }, { ...form, ...extra, done, sitesLag });
    return sendPage(reply, page, status);
  }

  /** The profile photo page again with a refused upload's message; the signed-out sign in first. */
  const photoFormPage: FormPage = {
    messages: UPLOAD_MESSAGES,
    show: async (request, reply, message, status) => {
      const user = userOf(request);
      if (!user) return reply.redirect('/signin', 303);
      return showPhotoPage(request, reply, user, { error: message }, status);
    },
  };

  app.get(
    '/portal/photo',
    {
      // No envelope of its own: a refusal is a page for a browser that opens the address, JSON for an <img>.
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
    (request, reply) =>
      readingCurrentMailPhoto(async () => {
        const user = userOf(request);
        // Signed out, it is nobody's photo: a sign-in is what is missing, not the photo.
        if (!user) throw unauthorized('Sign in to see your photo.');
        const photo = user.hasMailbox ? await getMailPhoto(db, user.id) : undefined;
        if (!photo) throw notFound('There is no mail photo for you to see here.');
        const sides = availableSides(photo);
        const wanted = request.query.size ?? 96;
        const side = sides.find((s) => s >= wanted) ?? sides[sides.length - 1] ?? photo.side;
        // The suite bar's URL carries the photo's ETag (`?v=`): that URL never shows another photo.
        const current = request.query.v === photo.etag;
        const cacheControl = current ? CACHE_CONTROL.immutable : CACHE_CONTROL.revalidate;
        const representation = { tag: sizeEtag(photo, side), cacheControl, vary: 'Authorization, Cookie' };
        if (clientHasCurrent(request, reply, representation)) return reply.status(304).send(null);
        const bytes = await services.mailSizes.read(photo, side);
        if (!bytes) throw notFound('There is no mail photo for you to see here.');
        return reply.type('image/jpeg').send(bytes);
      }),
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
      const user = signedInUser(request);
      const target = LAUNCH_TARGETS[request.params.app];
      const trigger: SyncTrigger = request.body.from === 'prompt' ? 'prompt' : target.trigger;
      const result = await services.sync.sync(user, trigger);
      // Every outcome of a sync has a notice on the page it lands on.
      const notice: SyncNoticeName = result.outcome;
      await setFlash(db, request, reply, target.path, { name: notice });
      // Scripts read the outcome here, as on userphoto.aspx; people read it on the app's page.
      return reply.header('x-photosync-sync', notice).redirect(target.path, 303);
    },
  );

  app.get(
    '/outlook',
    {
      config: { auth: SIGNED_IN },
      schema: { summary: 'Outlook (mail placeholder)', tags: ['portal'], response: html },
    },
    async (request, reply) => {
      const user = signedInUser(request);
      const context = await pageContext(db, request, reply, user);
      return sendPage(reply, outlookPage({ ...context, user: context.user! }, user.hasMailbox));
    },
  );

  app.get(
    '/help/profile-picture-sync',
    { schema: { summary: 'Help: profile picture synchronization', tags: ['portal'], response: html } },
    async (request, reply) => {
      const user = userOf(request);
      return sendPage(reply, helpPage(await pageContext(db, request, reply, user)));
    },
  );

  app.get(
    '/profile-photo',
    {
      config: { auth: SIGNED_IN },
      schema: { summary: 'Add your profile photo', tags: ['portal'], querystring: PhotoPageQuery, response: html },
    },
    async (request, reply) => {
      const user = signedInUser(request);
      if (!user.hasMailbox) return reply.redirect('/_layouts/15/editprofile.aspx', 303);
      return showPhotoPage(request, reply, user, { confirmRemove: request.query.remove === 'confirm' });
    },
  );

  app.post(
    '/profile-photo/remove',
    {
      schema: { summary: 'Remove your profile photo', tags: ['portal'], body: CsrfBody },
      preValidation: app.csrfProtection,
    },
    async (request, reply) => {
      const user = signedInUser(request);
      if (!user.hasMailbox) return reply.redirect('/_layouts/15/editprofile.aspx', 303);
      // Removed already (in another tab, say): nothing changed, and the page says so.
      const removed = await removeMailPhoto(mail, user);
      await setFlash(db, request, reply, '/profile-photo', { name: removed ? 'removed' : 'nothing_removed' });
      return reply.redirect('/profile-photo', 303);
    },
  );

  await uploadRoutes(app, (uploads) => {
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
        config: { auth: SIGNED_IN, formPage: photoFormPage },
      },
      async (request, reply) => {
        const user = signedInUser(request);
        if (!user.hasMailbox) return reply.redirect('/_layouts/15/editprofile.aspx', 303);
        await setMailPhoto(mail, user, uploadedBytes(request));
        await setFlash(db, request, reply, '/profile-photo', { name: 'saved' });
        return reply.redirect('/profile-photo', 303);
      },
    );
  });
}
