import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { listPeople } from '../directory/people.js';
import { findUserByUpn, type DirectoryUser } from '../directory/users.js';
import { upnFromAccountName } from '../directory/upn.js';
import type { App } from '../http/types.js';
import { signedInUser, userOf } from '../http/auth.js';
import { SIGNED_IN, formatDate, pageContext, sendPage } from '../web/page-context.js';
import { messagePage } from '../web/message-page.js';
import type { FormPage } from '../web/error-page.js';
import { UPLOAD_MESSAGES, UploadBody, uploadRoutes, uploadedBytes } from '../web/uploads.js';
import type { Services } from '../services.js';
import type { SitesLag } from '../web/sites-lag.js';
import { setFlash } from '../web/flash.js';
import { oneDrivePage, personPage, siteHomePage, syncNotice, uploadPicturePage, userPhotoUrl } from './pages.js';
import { getSiteProfile } from './profiles.js';
import { sitePictureDeps, uploadSitePicture } from './upload.js';

// The sites' pages. The portal's tiles land on the SharePoint and OneDrive pages with the outcome
// of the sync they ran, left for them as a flash message and shown once at the top.

const html = { 200: { type: 'string', description: 'An HTML page' } } as const;
const PEOPLE_SHOWN = 48;
const PersonQuery = Type.Object({ accountname: Type.Optional(Type.String({ maxLength: 300 })) });

export interface SitePageOptions {
  /** Whether the user's pictures here lag their mail photo (the sync's decision, passed in by the app). */
  sitesLag?: (user: DirectoryUser) => Promise<SitesLag | undefined>;
}

export async function sitePageRoutes(app: App, services: Services, options: SitePageOptions = {}): Promise<void> {
  const { db } = services.database;
  const lagOf = async (user: DirectoryUser) => options.sitesLag?.(user);
  // Pages that show the user's own L picture sync as it loads (the photo request), so there the
  // notice would be out of date at once, except while syncing fails (views do not retry then).
  const lagShowingOwnPicture = async (user: DirectoryUser) => {
    const lag = await lagOf(user);
    return lag?.failing ? lag : undefined;
  };

  const timestamp = async (user: DirectoryUser) => (await getSiteProfile(db, user.id))?.pictureTimestamp ?? null;

  app.get(
    '/_layouts/15/sharepoint.aspx',
    {
      config: { auth: SIGNED_IN },
      schema: {
        summary: 'SharePoint: the site home and its People',
        tags: ['sites'],
        response: html,
      },
    },
    async (request, reply) => {
      const user = signedInUser(request);
      const people = await Promise.all(
        (await listPeople(db, PEOPLE_SHOWN)).map(async (person) => ({
          displayName: person.displayName,
          upn: person.upn,
          photoUrl: userPhotoUrl(person.upn, 'M', await timestamp(person)),
        })),
      );
      const context = await pageContext(db, request, reply, user);
      const notice = syncNotice(context.flash, 'SharePoint');
      const lag = await lagOf(user);
      return sendPage(reply, siteHomePage({ ...context, user: context.user!, lag }, people, notice));
    },
  );

  app.get(
    '/_layouts/15/onedrive.aspx',
    {
      config: { auth: SIGNED_IN },
      schema: { summary: 'OneDrive: your landing page', tags: ['sites'], response: html },
    },
    async (request, reply) => {
      const user = signedInUser(request);
      const context = await pageContext(db, request, reply, user);
      const photo = userPhotoUrl(user.upn, 'L', await timestamp(user));
      const notice = syncNotice(context.flash, 'OneDrive');
      const lag = await lagShowingOwnPicture(user);
      return sendPage(reply, oneDrivePage({ ...context, user: context.user!, lag }, photo, notice));
    },
  );

  app.get(
    '/_layouts/15/person.aspx',
    {
      config: { auth: SIGNED_IN },
      schema: {
        summary: "A person's profile; your own shows your L picture, which checks your mail photo",
        tags: ['sites'],
        querystring: PersonQuery,
        response: html,
      },
    },
    async (request, reply) => {
      const viewer = signedInUser(request);
      const account = request.query.accountname;
      const upn = account === undefined ? viewer.upn : upnFromAccountName(account);
      const person = upn ? await findUserByUpn(db, upn) : undefined;
      const context = await pageContext(db, request, reply, viewer);
      if (!person || !person.enabled) {
        return sendPage(reply, messagePage(context, context.t('sites.title'), context.t('sites.notFound')), 404);
      }
      const own = person.id === viewer.id;
      // Your own profile shows your L picture, whose request syncs first: the page runs that sync
      // before it says where the picture comes from, so the words agree with the picture. The
      // picture's own request then finds the sites in step.
      if (own) {
        await services.sync.sync(person, 'photo_request').catch((error: unknown) => {
          request.log.error({ err: error }, 'sync before the profile page failed');
        });
      }
      const profile = await getSiteProfile(db, person.id);
      const shown = profile?.placeholderState === 0;
      const view = {
        person: {
          displayName: person.displayName,
          upn: person.upn,
          hasMailbox: person.hasMailbox,
          photoUrl: userPhotoUrl(person.upn, 'L', profile?.pictureTimestamp ?? null),
        },
        own,
        source: shown ? (profile.pictureSource ?? null) : null,
        pictureDate:
          shown && profile.pictureTimestamp !== null ? formatDate(context.locale, profile.pictureTimestamp) : undefined,
      };
      const lag = view.own ? await lagShowingOwnPicture(person) : undefined;
      return sendPage(reply, personPage({ ...context, user: context.user!, lag }, view));
    },
  );

  async function showUploadPage(
    request: FastifyRequest,
    reply: FastifyReply,
    user: DirectoryUser,
    extra: { error?: string },
    status = 200,
  ) {
    const context = await pageContext(db, request, reply, user);
    const view = {
      photoUrl: userPhotoUrl(user.upn, 'L', await timestamp(user)),
      hasMailbox: user.hasMailbox,
      error: extra.error,
      done: context.flash?.name === 'uploaded',
    };
    return sendPage(reply, uploadPicturePage({ ...context, user: context.user! }, view), status);
  }

  /** "Upload picture" again with a refused upload's message; the signed-out sign in first. */
  const uploadFormPage: FormPage = {
    messages: UPLOAD_MESSAGES,
    show: async (request, reply, message, status) => {
      const user = userOf(request);
      if (!user) return reply.redirect('/signin', 303);
      return showUploadPage(request, reply, user, { error: message }, status);
    },
  };

  app.get(
    '/_layouts/15/editprofile.aspx',
    {
      config: { auth: SIGNED_IN },
      schema: {
        summary: 'Upload picture (people without a mailbox)',
        tags: ['sites'],
        response: html,
      },
    },
    async (request, reply) => {
      const user = signedInUser(request);
      return showUploadPage(request, reply, user, {});
    },
  );

  await uploadRoutes(app, (uploads) => {
    uploads.post(
      '/_layouts/15/editprofile.aspx',
      {
        schema: {
          summary: 'Upload a picture in the sites (people without a mailbox)',
          tags: ['sites'],
          consumes: ['multipart/form-data'],
          body: UploadBody,
        },
        preValidation: uploads.csrfProtection,
        config: { auth: SIGNED_IN, formPage: uploadFormPage },
      },
      async (request, reply) => {
        const user = signedInUser(request);
        // People with a mailbox change their photo in the portal; the sites take it from mail.
        if (user.hasMailbox) return reply.redirect('/profile-photo', 303);
        await uploadSitePicture(sitePictureDeps(services), user, uploadedBytes(request));
        await setFlash(db, request, reply, '/_layouts/15/editprofile.aspx', { name: 'uploaded' });
        return reply.redirect('/_layouts/15/editprofile.aspx', 303);
      },
    );
  });
}
