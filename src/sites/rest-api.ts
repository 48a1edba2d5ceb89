import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { claimForUpn, upnFromAccountName } from '../directory/upn.js';
import { findUserByUpn, picturesShown, type DirectoryUser } from '../directory/users.js';
import { forbidden } from '../errors.js';
import type { App } from '../http/types.js';
import { SESSION_COOKIE, mayAccessPhoto, principalOf, type Principal } from '../http/auth.js';
import type { Services } from '../services.js';
import { pictureProperties } from './library.js';
import { fileStemOf, getSiteProfile } from './profiles.js';
import { SITE_PICTURE_MAX_BYTES, uploadSitePicture } from './upload.js';
import { argumentValue, parseCall } from './rest-call.js';
import { sharePointErrors } from './rest-errors.js';
import { formatOData, odataFormatOf, type ODataFormat } from './rest-odata.js';

// SharePoint's REST user-profile API (SP.UserProfiles.PeopleManager) under /_api, in the three
// JSON flavours SharePoint answers by the Accept header: odata=verbose ({"d":{…}}),
// odata=minimalmetadata and odata=nometadata. Errors use SharePoint's error bodies.

const PEOPLE_MANAGER = '/SP.UserProfiles.PeopleManager';
const CallParams = Type.Object({ call: Type.String({ maxLength: 600 }) });
const AnyQuery = Type.Object({}, { additionalProperties: true });
const json = {
  200: {
    description:
      'SP.UserProfiles.PersonProperties (or the value asked for), as JSON in the flavour the Accept header asks for',
    type: 'object',
    additionalProperties: true,
  },
};

/** X-RequestDigest for browser sessions, as /_api/contextinfo gives it: tied to the session, so another site cannot make one. */
const formDigestFor = (session: string) =>
  `0x${createHash('sha256').update(`form-digest:${session}`).digest('hex').toUpperCase()}`;

export async function sharePointRestRoutes(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const { publicUrl } = services.config;

  // SetMyProfilePicture takes the raw bytes, whatever Content-Type the client declares.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  async function personProperties(user: DirectoryUser) {
    const profile = await getSiteProfile(db, user.id);
    const stem = await fileStemOf(db, user);
    const picture = pictureProperties(publicUrl, stem, picturesShown(user) ? profile : undefined, user.hasMailbox);
    const claim = claimForUpn(user.upn);
    const properties: Array<[string, string]> = [
      ['UserProfile_GUID', user.id],
      ['AccountName', claim],
      ['PreferredName', user.displayName],
      ['WorkEmail', user.hasMailbox ? user.upn : ''],
      ['PictureURL', picture.PictureURL],
      ['SPS-PicturePlaceholderState', picture['SPS-PicturePlaceholderState']],
      ['SPS-PictureExchangeSyncState', picture['SPS-PictureExchangeSyncState']],
      ['SPS-PictureTimestamp', picture['SPS-PictureTimestamp']],
      ['SPS-UserPrincipalName', user.upn],
    ];
    return {
      AccountName: claim,
      DirectReports: [] as string[],
      DisplayName: user.displayName,
      Email: user.hasMailbox ? user.upn : null,
      ExtendedManagers: [] as string[],
      ExtendedReports: [claim],
      IsFollowed: false,
      LatestPost: null,
      Peers: [] as string[],
      PersonalSiteHostUrl: `${publicUrl}/`,
      PersonalUrl: `${publicUrl}/personal/${stem}/`,
      PictureUrl: picture.PictureURL === '' ? null : picture.PictureURL,
      Title: null,
      UserProfileProperties: properties.map(([Key, Value]) => ({ Key, Value, ValueType: 'Edm.String' })),
      UserUrl: `${publicUrl}/_layouts/15/person.aspx?accountname=${encodeURIComponent(claim)}`,
    };
  }

  /** The account a call names, inline ('i:0#.f|membership|…') or through an @alias in the query. */
  async function accountUser(principal: Principal, args: Map<string, string>, query: Record<string, unknown>) {
    const raw = args.get('accountname');
    if (raw === undefined) throw sharePointErrors.badQuery('The parameter accountName is missing.');
    const account = argumentValue(raw, query);
    const upn = upnFromAccountName(account);
    if (!upn)
      throw sharePointErrors.badQuery(`"${account}" is not an account name (like i:0#.f|membership|jane@contoso.com).`);
    const self = principal.kind === 'user' && principal.user.upn === upn;
    if (!self && !mayAccessPhoto(principal, { id: '' }, 'read'))
      throw forbidden("This token may not read other people's profiles.");
    const user = await findUserByUpn(db, upn);
    if (!user) throw sharePointErrors.userNotFound(account);
    return user;
  }

  function send(request: FastifyRequest, reply: FastifyReply, method: string, value: unknown, type: string) {
    const format = odataFormatOf(request.headers.accept);
    return reply
      .type(`application/json;odata=${format};charset=utf-8`)
      .header('cache-control', 'private, max-age=0')
      .send(formatOData(format, { publicUrl, method: `${PEOPLE_MANAGER.slice(1)}/${method}`, type, value }));
  }

  app.get(
    `${PEOPLE_MANAGER}/:call`,
    {
      schema: {
        summary:
          'PeopleManager: GetMyProperties, GetPropertiesFor(accountName=@v), GetUserProfilePropertyFor(accountName=@v,propertyName=…)',
        description:
          "GetPropertiesFor(accountName=@v)?@v='i:0%23.f|membership|jane@contoso.com'. Accept: application/json;odata=verbose, " +
          'odata=minimalmetadata or odata=nometadata.',
        tags: ['sharepoint'],
        params: CallParams,
        querystring: AnyQuery,
        response: json,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { name, args } = parseCall(request.params.call);
      const query = request.query as Record<string, unknown>;
      switch (name.toLowerCase()) {
        case 'getmyproperties': {
          if (principal.kind !== 'user')
            throw forbidden('GetMyProperties needs a user; an app token has no profile of its own.');
          return send(
            request,
            reply,
            'GetMyProperties',
            await personProperties(principal.user),
            'SP.UserProfiles.PersonProperties',
          );
        }
        case 'getpropertiesfor': {
          const user = await accountUser(principal, args, query);
          return send(
            request,
            reply,
            'GetPropertiesFor',
            await personProperties(user),
            'SP.UserProfiles.PersonProperties',
          );
        }
        case 'getuserprofilepropertyfor': {
          const user = await accountUser(principal, args, query);
          const rawName = args.get('propertyname');
          if (rawName === undefined) throw sharePointErrors.badQuery('The parameter propertyName is missing.');
          const wanted = argumentValue(rawName, query).toLowerCase();
          const property = (await personProperties(user)).UserProfileProperties.find(
            (p) => p.Key.toLowerCase() === wanted,
          );
          return send(request, reply, 'GetUserProfilePropertyFor', property?.Value ?? '', 'Edm.String');
        }
        default:
          throw sharePointErrors.badQuery(`The method ${name} does not exist on SP.UserProfiles.PeopleManager.`);
      }
    },
  );

  app.post(
    `${PEOPLE_MANAGER}/SetMyProfilePicture`,
    {
      bodyLimit: SITE_PICTURE_MAX_BYTES,
      schema: {
        summary: 'Upload your own picture in the sites (5,000,000 bytes at most)',
        description:
          'The body is the image bytes. For a user without a mailbox this is their picture; for a user with one, ' +
          'the next sync replaces it with the mail photo, as in SharePoint. A browser session must send X-RequestDigest from POST /_api/contextinfo.',
        tags: ['sharepoint'],
        body: { description: 'The image bytes (JPEG, PNG, GIF or WebP), at most 5,000,000 bytes' },
        response: json,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (principal.kind !== 'user')
        throw forbidden('SetMyProfilePicture needs a user; an app has no picture of its own.');
      if (principal.via === 'session') {
        const session = request.cookies[SESSION_COOKIE] ?? '';
        const digest = request.headers['x-requestdigest'];
        if (typeof digest !== 'string' || digest.split(',')[0] !== formDigestFor(session)) {
          throw forbidden(
            'The security validation for this page is invalid. Send X-RequestDigest from POST /_api/contextinfo.',
          );
        }
      }
      if (!mayAccessPhoto(principal, principal.user, 'write'))
        throw forbidden('This token may not change your picture.');
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0)
        throw sharePointErrors.badQuery('The request has no picture in its body.');
      await uploadSitePicture(
        { db, blobs: services.blobs, lock: services.lock, sizes: services.syncSettings().renditionSizes },
        principal.user,
        body,
      );
      return send(request, reply, 'SetMyProfilePicture', null, 'Edm.Null');
    },
  );

  app.post(
    '/contextinfo',
    {
      schema: {
        summary: 'The form digest (X-RequestDigest) a browser session sends with POST requests',
        tags: ['sharepoint'],
        response: json,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const session =
        principal.kind === 'user' && principal.via === 'session' ? (request.cookies[SESSION_COOKIE] ?? '') : '';
      const value = {
        FormDigestTimeoutSeconds: 1800,
        FormDigestValue: `${formDigestFor(session)},${new Date().toUTCString()}`,
        LibraryVersion: '16.0.0.0',
        SiteFullUrl: publicUrl,
        SupportedSchemaVersions: ['14.0.0.0', '15.0.0.0'],
        WebFullUrl: publicUrl,
      };
      const format = odataFormatOf(request.headers.accept);
      return reply.type(`application/json;odata=${format};charset=utf-8`).send(
        formatOData(format, {
          publicUrl,
          method: 'contextinfo',
          type: 'SP.ContextWebInformation',
          value,
          verboseName: 'GetContextWebInformation',
        }),
      );
    },
  );
}

export type { ODataFormat };
