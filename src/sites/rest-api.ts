import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { claimForUpn, upnFromAccountName } from '../directory/upn.js';
import { findUserByUpn, picturesShown, type DirectoryUser } from '../directory/users.js';
import { forbidden } from '../errors.js';
import type { App } from '../http/types.js';
import { SESSION_COOKIE, mayChangeOwnPictureInSites, mayUseSites, principalOf, type Principal } from '../http/auth.js';
import type { Services } from '../services.js';
import { LIBRARY_PATH, pictureProperties, pictureTimeFrom } from './library.js';
import { findLibraryFile } from './library-files.js';
import {
  fileStemOf,
  getSiteProfile,
  setExchangeSyncState,
  setPictureTimestamp,
  hidePicture,
  showPictureAgain,
  userIdForFileStem,
} from './profiles.js';
import { SITE_PICTURE_MAX_BYTES, sitePictureDeps, uploadSitePicture } from './upload.js';
import { BATCH_MAX_BYTES, MAX_BATCH_PARTS, parseSharePointBatch, runSharePointBatch } from './rest-batch.js';
import { argumentValue, bindArguments, parseCall } from './rest-call.js';
import { selectedProperties } from './rest-select.js';
import { jsonBody, sharePointWebRoutes } from './rest-web.js';
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

/** The batch's answer: its parts are HTTP answers, written out as text (bodies as they are). */
const batchResponse = {
  200: {
    description: 'multipart/mixed; boundary=batchresponse_…: one HTTP answer per request, in order',
    content: { 'multipart/mixed': { schema: { type: 'string', format: 'binary' } } },
  },
};

/** How long a form digest is good for, as SharePoint's contextinfo says (FormDigestTimeoutSeconds). */
const FORM_DIGEST_SECONDS = 1800;

/**
 * X-RequestDigest for browser sessions, as /_api/contextinfo gives it ("0x…,01 Dec 2026 18:00:00 -0000"):
 * a hash tied to the session and to the time it was given, so another site cannot make one and
 * one that leaked stops working after FORM_DIGEST_SECONDS, as in SharePoint.
 */
export function formDigestFor(session: string, at = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const month = at.toUTCString().slice(8, 11);
  const time = `${two(at.getUTCDate())} ${month} ${at.getUTCFullYear()} ${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} -0000`;
  return `${digestHash(session, time)},${time}`;
}

const digestHash = (session: string, time: string) =>
  `0x${createHash('sha256').update(`form-digest:${session}:${time}`).digest('hex').toUpperCase()}`;

/** Whether a form digest is this session's and still current; 'expired' for one that was, too long ago. */
export function checkFormDigest(session: string, digest: string, now = Date.now()): 'ok' | 'invalid' | 'expired' {
  const comma = digest.indexOf(',');
  if (comma < 0) return 'invalid';
  const time = digest.slice(comma + 1).trim();
  if (digest.slice(0, comma) !== digestHash(session, time)) return 'invalid';
  const given = Date.parse(time);
  if (Number.isNaN(given) || given > now + 60_000) return 'invalid';
  return now - given > FORM_DIGEST_SECONDS * 1000 ? 'expired' : 'ok';
}

/**
 * Whether two picture addresses name the same file, however each is written: with or without
 * `?t=`, in any case, and with its spaces as %20 or as spaces (Microsoft's upload sample writes
 * PictureURL unencoded: ".../User Photos/Profile Pictures/jane_contoso_com_MThumb.jpg").
 */
function sameAddress(a: string, b: string): boolean {
  const file = (address: string) => {
    try {
      const url = new URL(address.trim());
      return `${url.origin}${decodeURIComponent(url.pathname)}`.toLowerCase();
    } catch {
      return address.split('?')[0]!.toLowerCase();
    }
  };
  return file(a) === file(b);
}

export async function sharePointRestRoutes(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const { publicUrl } = services.config;

  // SetMyProfilePicture takes the raw bytes, whatever Content-Type the client declares.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  /**
   * What a PictureURL names, for a user whose profile is pointed at it: the bytes of an M file of
   * the library which is nobody's picture (as a push names one when two UPNs give the same file
   * name), its L file when there is one; or why it cannot be shown.
   */
  async function libraryPicture(
    user: DirectoryUser,
    pictureUrl: string,
  ): Promise<
    { kind: 'file'; bytes: Buffer } | { kind: 'elsewhere' | 'not_m' | 'missing' | 'someone_else'; name: string }
  > {
    let path: string;
    try {
      const url = new URL(pictureUrl);
      if (url.origin !== new URL(publicUrl).origin) return { kind: 'elsewhere', name: pictureUrl };
      path = decodeURIComponent(url.pathname);
    } catch {
      return { kind: 'elsewhere', name: pictureUrl };
    }
    const match = /^(.*)\/([^/]+)_MThumb\.jpg$/i.exec(path);
    if (!match || match[1]!.toLowerCase() !== LIBRARY_PATH.toLowerCase()) {
      const name = path.slice(LIBRARY_PATH.length + 1);
      const inLibrary = path.toLowerCase().startsWith(`${LIBRARY_PATH.toLowerCase()}/`) && !name.includes('/');
      return inLibrary ? { kind: 'not_m', name } : { kind: 'elsewhere', name: pictureUrl };
    }
    const name = `${match[2]}_MThumb.jpg`;
    const owner = await userIdForFileStem(db, match[2]!.toLowerCase());
    if (owner !== undefined && owner !== user.id) return { kind: 'someone_else', name };
    const file = (await findLibraryFile(db, `${match[2]}_LThumb.jpg`)) ?? (await findLibraryFile(db, name));
    return file ? { kind: 'file', bytes: file.bytes } : { kind: 'missing', name };
  }

  /** Whether a PictureURL names the M file of this user's own picture (by its file name). */
  async function namesOwnPicture(user: DirectoryUser, pictureUrl: string): Promise<boolean> {
    let path: string;
    try {
      const url = new URL(pictureUrl);
      if (url.origin !== new URL(publicUrl).origin) return false;
      path = decodeURIComponent(url.pathname);
    } catch {
      return false;
    }
    const match = /^(.*)\/([^/]+)_MThumb\.jpg$/i.exec(path);
    if (!match || match[1]!.toLowerCase() !== LIBRARY_PATH.toLowerCase()) return false;
    return (await userIdForFileStem(db, match[2]!.toLowerCase())) === user.id;
  }

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
    return accountUserNamed(principal, argumentValue(raw, query));
  }

  async function accountUserNamed(principal: Principal, account: string) {
    const upn = upnFromAccountName(account);
    if (!upn)
      throw sharePointErrors.badQuery(`"${account}" is not an account name (like i:0#.f|membership|jane@contoso.com).`);
    const self = principal.kind === 'user' && principal.user.upn === upn;
    if (!self && !mayUseSites(principal, 'read')) throw forbidden("This token may not read other people's profiles.");
    const user = await findUserByUpn(db, upn);
    if (!user) throw sharePointErrors.userNotFound(account);
    return user;
  }

  /** The user setting their own picture: a user, with the form digest when by session, allowed to write. */
  function uploaderOf(request: FastifyRequest): DirectoryUser {
    const principal = principalOf(request);
    if (principal.kind !== 'user')
      throw forbidden('SetMyProfilePicture needs a user; an app has no picture of its own.');
    if (principal.via === 'session') {
      const session = request.cookies[SESSION_COOKIE] ?? '';
      const digest = request.headers['x-requestdigest'];
      const check = typeof digest === 'string' ? checkFormDigest(session, digest) : 'invalid';
      if (check === 'expired') {
        throw forbidden(
          'The security validation for this page has timed out. Get a new X-RequestDigest from POST /_api/contextinfo.',
          'digest_invalid',
        );
      }
      if (check !== 'ok') {
        throw forbidden(
          'The security validation for this page is invalid. Send X-RequestDigest from POST /_api/contextinfo.',
          'digest_invalid',
        );
      }
    }
    // A token that writes one's own profile, as Graph's photo writes ask (User.Read is read only),
    // or SharePoint's AllSites.Write and up.
    if (!mayChangeOwnPictureInSites(principal)) {
      throw forbidden(
        'This token may not change your picture: it needs User.ReadWrite, or SharePoint’s AllSites.Write (User.Read and AllSites.Read only read it).',
      );
    }
    return principal.user;
  }

  /** A call's answer, `method` named under its resource (PeopleManager's unless told). */
  function send(
    request: FastifyRequest,
    reply: FastifyReply,
    method: string,
    value: unknown,
    type: string,
    resource = PEOPLE_MANAGER,
  ) {
    const format = odataFormatOf(request.headers.accept);
    return reply
      .type(`application/json;odata=${format};charset=utf-8`)
      .header('cache-control', 'private, max-age=0')
      .send(
        formatOData(format, {
          publicUrl,
          method: `${resource.slice(1)}/${method}`,
          type,
          value: selectedProperties(request, value, type),
        }),
      );
  }

  // SharePoint takes these calls by POST too (PnPjs sends some so, with no body).
  app.route({
    method: ['GET', 'POST'],
    url: `${PEOPLE_MANAGER}/:call`,
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
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const call = parseCall(request.params.call);
      const { name } = call;
      const query = request.query as Record<string, unknown>;
      switch (name.toLowerCase()) {
        case 'getmyproperties': {
          bindArguments(call, []);
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
          const user = await accountUser(principal, bindArguments(call, ['accountname']), query);
          return send(
            request,
            reply,
            'GetPropertiesFor',
            await personProperties(user),
            'SP.UserProfiles.PersonProperties',
          );
        }
        case 'getuserprofilepropertyfor': {
          const args = bindArguments(call, ['accountname', 'propertyname']);
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
  });

  /**
   * The signed-in user's SP.UserProfiles.UserProfile, as SharePoint's ProfileLoader gives it (PnPjs:
   * `sp.profiles.userProfile`). `PictureImportEnabled` says whether the sites take the picture from
   * the mail service: for everyone with a mailbox, on their action; never from the directory.
   */
  async function userProfile(user: DirectoryUser) {
    const person = await personProperties(user);
    return {
      AccountName: person.AccountName,
      DisplayName: user.displayName,
      FollowPersonalSiteUrl: null,
      IsPeopleListPublic: false,
      IsPrivacySettingOn: false,
      IsSelf: true,
      JobTitle: null,
      MySiteFirstRunExperience: 0,
      MySiteHostUrl: person.PersonalSiteHostUrl,
      O15FirstRunExperience: 0,
      // No personal site is made here: OneDrive's tile is the action that syncs the picture.
      PersonalSiteCapabilities: 0,
      PersonalSiteFirstCreationError: null,
      PersonalSiteFirstCreationTime: null,
      PersonalSiteInstantiationState: 0,
      PersonalSiteLastCreationTime: null,
      PersonalSiteNumberOfRetries: 0,
      PictureImportEnabled: user.hasMailbox,
      PictureUrl: person.PictureUrl,
      PublicUrl: person.UserUrl,
      UrlToCreatePersonalSite: null,
    };
  }

  // SP.UserProfiles.ProfileLoader: SharePoint takes its calls by POST only.
  const PROFILE_LOADER = '/SP.UserProfiles.ProfileLoader.GetProfileLoader';
  const profileOwner = (request: FastifyRequest, call: string): DirectoryUser => {
    const principal = principalOf(request);
    if (principal.kind !== 'user') throw forbidden(`${call} needs a user; an app token has no profile of its own.`);
    return principal.user;
  };
  app.post(
    `${PROFILE_LOADER}/GetUserProfile`,
    {
      schema: {
        summary:
          'ProfileLoader: the signed-in user’s SP.UserProfiles.UserProfile (PictureImportEnabled, PictureUrl, PublicUrl)',
        description:
          'POST, no body. PictureImportEnabled is true for a user with a mailbox: the sites take the picture from the mail service.',
        tags: ['sharepoint'],
        response: json,
      },
    },
    async (request, reply) => {
      const user = profileOwner(request, 'GetUserProfile');
      // No body, or an empty object (clients send either); anything else is a call this is not.
      const sent = request.body;
      if (Buffer.isBuffer(sent) && sent.length > 0 && Object.keys(jsonBody(sent)).length > 0)
        throw sharePointErrors.badQuery('GetUserProfile takes no parameters.');
      return send(
        request,
        reply,
        'GetUserProfile',
        await userProfile(user),
        'SP.UserProfiles.UserProfile',
        PROFILE_LOADER,
      );
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
      // Everything that decides whether the picture may be set is known before its body is read.
      preParsing: async (request) => {
        uploaderOf(request);
      },
    },
    async (request, reply) => {
      const user = uploaderOf(request);
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0)
        throw sharePointErrors.badQuery('The request has no picture in its body.');
      await uploadSitePicture(sitePictureDeps(services), user, body);
      return send(request, reply, 'SetMyProfilePicture', null, 'Edm.Null');
    },
  );

  app.post(
    `${PEOPLE_MANAGER}/SetSingleValueProfileProperty`,
    {
      schema: {
        summary:
          "Set a picture property of someone's profile (administrators and apps with ProfilePhoto.ReadWrite.All)",
        description:
          'Body: {"accountName":"i:0#.f|membership|jane@contoso.com","propertyName":"…","propertyValue":"…"}. ' +
          'photosync keeps the picture properties only: PictureURL ("" or SPS-PicturePlaceholderState "1" shows the placeholder; ' +
          'the user\'s own files stay in User Photos, and SPS-PicturePlaceholderState "0" or PictureURL naming their M file shows them again), SPS-PictureExchangeSyncState (0 or 1) and ' +
          "SPS-PictureTimestamp (taken when later than the picture's own time, which also versions PictureURL; an earlier or equal one is accepted and the later time kept).",
        tags: ['sharepoint'],
        body: { description: 'JSON: accountName, propertyName, propertyValue' },
        response: json,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (!mayUseSites(principal, 'write') || (principal.kind === 'user' && principal.via !== 'token'))
        throw forbidden(
          'Only apps and administrators’ tokens with ProfilePhoto.ReadWrite.All may set profile properties; ' +
            'to change your own picture, use SetMyProfilePicture.',
        );
      const body = jsonBody(request.body);
      const field = (name: string) => {
        const value = Object.entries(body).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
        if (typeof value !== 'string') throw sharePointErrors.badQuery(`The parameter ${name} is missing.`);
        return value;
      };
      const user = await accountUserNamed(principal, field('accountName'));
      const propertyName = field('propertyName');
      const value = field('propertyValue').trim();
      switch (propertyName.toLowerCase()) {
        case 'pictureurl':
        case 'sps-pictureplaceholderstate': {
          const placeholder = propertyName.toLowerCase() === 'pictureurl' ? value === '' : value === '1';
          if (placeholder) {
            await services.lock.run(user.id, () => hidePicture(db, user, Date.now()));
            break;
          }
          const properties = (await personProperties(user)).UserProfileProperties;
          const current = (key: string) => properties.find((p) => p.Key === key)?.Value ?? '';
          const keeps =
            propertyName.toLowerCase() === 'pictureurl'
              ? current('PictureURL') !== '' && sameAddress(value, current('PictureURL'))
              : value === '0' && current('SPS-PicturePlaceholderState') === '0';
          if (keeps) break;
          // A picture hidden behind the placeholder is shown again: its files stayed in the library.
          const showsOwn =
            propertyName.toLowerCase() === 'pictureurl' ? await namesOwnPicture(user, value) : value === '0';
          if (showsOwn && (await services.lock.run(user.id, () => showPictureAgain(db, user, Date.now())))) break;
          const pointedAt =
            propertyName.toLowerCase() === 'pictureurl'
              ? await libraryPicture(user, value)
              : ({ kind: 'no_picture', name: '' } as const);
          if (pointedAt.kind === 'file') {
            await uploadSitePicture(sitePictureDeps(services), user, pointedAt.bytes);
            break;
          }
          throw sharePointErrors.badQuery(
            pointedAt.kind === 'no_picture'
              ? `${user.upn} has no picture to show: upload one (Files/add or SetMyProfilePicture) before ` +
                  'setting SPS-PicturePlaceholderState to 0.'
              : pointedAt.kind === 'not_m'
                ? `PictureURL names the M file of a picture (…_MThumb.jpg), not ${pointedAt.name}.`
                : pointedAt.kind === 'missing'
                  ? `There is no file ${pointedAt.name} in ${LIBRARY_PATH}: upload the picture there (Files/add) first.`
                  : pointedAt.kind === 'someone_else'
                    ? `${pointedAt.name} in ${LIBRARY_PATH} is another person's picture: upload this person's ` +
                      'picture under a name of its own (Files/add) and point the profile at that.'
                    : `photosync shows only files of ${LIBRARY_PATH} as pictures: upload the picture there ` +
                      '(Files/add) rather than pointing the profile elsewhere.',
          );
        }
        case 'sps-picturetimestamp': {
          const at = pictureTimeFrom(value);
          if (at === undefined) {
            throw sharePointErrors.badQuery(
              'SPS-PictureTimestamp is a time in whole seconds since 0001-01-01 (like 63783110969), as SharePoint writes it.',
            );
          }
          await services.lock.run(user.id, () => setPictureTimestamp(db, user, at));
          break;
        }
        case 'sps-pictureexchangesyncstate':
          if (value !== '0' && value !== '1')
            throw sharePointErrors.badQuery('SPS-PictureExchangeSyncState is 0 or 1.');
          await setExchangeSyncState(db, user, value === '1' ? 1 : 0);
          break;
        default:
          throw sharePointErrors.badQuery(
            `photosync keeps only the picture properties of a profile (PictureURL, SPS-PicturePlaceholderState, SPS-PictureTimestamp, ` +
              `SPS-PictureExchangeSyncState); ${propertyName} cannot be set here.`,
          );
      }
      return send(request, reply, 'SetSingleValueProfileProperty', null, 'Edm.Null');
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
        FormDigestTimeoutSeconds: FORM_DIGEST_SECONDS,
        FormDigestValue: formDigestFor(session),
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

  app.post(
    '/$batch',
    {
      bodyLimit: BATCH_MAX_BYTES,
      schema: {
        summary: `OData batch: up to ${MAX_BATCH_PARTS} GET and POST requests to /_api/ in one multipart/mixed body`,
        description:
          'Content-Type: multipart/mixed; boundary=batch_…, as PnPjs’s batched() sends it; a boundary (of the batch or a ' +
          'changeset) has at most 70 characters (RFC 2046). Each top-level part is ' +
          'either one request (Content-Type application/http, Content-Transfer-Encoding binary when given) or a ' +
          'changeset (Content-Type multipart/mixed with its own boundary) whose parts are requests; a changeset holds ' +
          'no changeset and no GET (send GETs on their own). Every header line, of a part or of a request, is ' +
          '`Name: value`: a token name directly followed by its colon, no control characters in the value; the ' +
          'header lines of a part or a request take at most 16 KB, as those of a request sent alone. Each request ' +
          'is a GET or POST (X-HTTP-Method counts as its method) to this site’s /_api/: an address on another host, ' +
          `outside /_api/ or naming $batch is refused. At most ${MAX_BATCH_PARTS} requests and ${BATCH_MAX_BYTES} bytes ` +
          `(${BATCH_MAX_BYTES / 1024 / 1024} MiB): a larger body is refused with 413, a batch breaking any other rule whole with 400 ` +
          '(-1, Microsoft.SharePoint.Client.InvalidClientQueryException), running nothing. Each request runs as if sent ' +
          'alone with the batch’s Authorization (or session and X-RequestDigest); a changeset is not a transaction. The ' +
          'answer is multipart/mixed, one application/http part per request in order, changesets flattened. A request ' +
          'that fails unexpectedly is answered 500 with SharePoint’s error body (-1, System.Exception) and logged; ' +
          'the batch’s other requests still run.',
        tags: ['sharepoint'],
        body: { description: `multipart/mixed, at most ${BATCH_MAX_BYTES} bytes` },
        response: batchResponse,
      },
    },
    async (request, reply) => {
      const site = new URL(publicUrl).origin.toLowerCase();
      // The address the batch came to (requests without a scheme or host resolve against it).
      let own = site;
      try {
        // As URL writes an origin (no default port), so that addresses on it compare equal.
        if (request.headers.host) own = new URL(`${request.protocol}://${request.headers.host}`).origin.toLowerCase();
      } catch {
        // A Host header that is no host: relative addresses resolve against the site's own.
      }
      const origins = [site, own];
      const parts = parseSharePointBatch(request.body, request.headers['content-type'], origins, own);
      const { boundary, body } = runSharePointBatch(app, request, parts);
      return reply
        .type(`multipart/mixed; boundary=${boundary}`)
        .header('cache-control', 'private, max-age=0')
        .send(body);
    },
  );

  await sharePointWebRoutes(app, services);
}

export type { ODataFormat };
