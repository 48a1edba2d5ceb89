import { createHash, randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { claimForUpn, libraryFileStem, upnFromAccountName } from '../directory/upn.js';
import { findUserById, findUserByUpn, listUsers, picturesShown, type DirectoryUser } from '../directory/users.js';
import { forbidden, notFound } from '../errors.js';
import type { App } from '../http/types.js';
import { checkPictureAccess, mayUseSites, principalOf, type Principal } from '../http/auth.js';
import type { Services } from '../services.js';
import { LIBRARY_PATH, parseRenditionFileName, renditionFileName, type RenditionSize } from './library.js';
import { getRendition, userIdForFileStem } from './profiles.js';
import { addLibraryFile, findLibraryFile, listLibraryFiles, recycleLibraryFile } from './library-files.js';
import { argumentValue, bindArguments, booleanArgument, parseCall, splitPath, type Call } from './rest-call.js';
import { sharePointErrors } from './rest-errors.js';
import { formatOData, formatODataCollection, odataFormatOf } from './rest-odata.js';
import { selectedProperties } from './rest-select.js';
import { applyListQuery, FILE_FIELDS, listCount, SITE_USER_FIELDS, siteUserFilter } from './list-query.js';
import { SITE_PICTURE_MAX_BYTES, sitePictureDeps, uploadSitePicture } from './upload.js';

// SharePoint's web under /_api/web: the site's users (currentuser, siteusers, ensureuser) and the
// "User Photos/Profile Pictures" library of the My Site host, as files (GetFolderByServerRelativeUrl
// …/Files, Files/add, GetFileByServerRelativeUrl…/$value). Addresses are matched without regard to
// case; what the web does not have is SharePoint's error, in its envelope.

/** SharePoint lists at most this many items in one answer without paging (its list view threshold). */
const MAX_LISTED_FILES = 5000;
const SITE_USERS_LIMIT = 5000;
const AnyQuery = Type.Object({}, { additionalProperties: true });
const json = {
  200: {
    description: 'The value, as JSON in the flavour the Accept header asks for',
    type: 'object',
    additionalProperties: true,
  },
};

/**
 * A site user's Id. SharePoint numbers users per site as they first appear; photosync derives a
 * stable number from the directory id instead (the same on every call and server).
 */
export function siteUserId(userId: string): number {
  return createHash('sha256').update(userId).digest().readUInt32BE(0) & 0x3fffffff;
}

/** The site's Id: a GUID derived from its address, the same on every call and server. */
export function webId(publicUrl: string): string {
  const hex = createHash('sha256').update(`web:${publicUrl}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export async function sharePointWebRoutes(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const { publicUrl } = services.config;
  const libraryUrl = (name: string) => `${LIBRARY_PATH}/${name}`;

  function siteUser(user: DirectoryUser) {
    const claim = claimForUpn(user.upn);
    return {
      Id: siteUserId(user.id),
      IsHiddenInUI: false,
      LoginName: claim,
      Title: user.displayName,
      PrincipalType: 1,
      Email: user.hasMailbox ? user.upn : '',
      Expiration: '',
      IsEmailAuthenticationGuestUser: false,
      IsShareByEmailGuestUser: false,
      IsSiteAdmin: user.isAdmin,
      UserId: { NameId: user.id.replace(/-/g, '').slice(0, 16), NameIdIssuer: 'urn:federation:microsoftonline' },
      UserPrincipalName: user.upn,
    };
  }

  function send(request: FastifyRequest, reply: FastifyReply, path: string, type: string, value: unknown) {
    const format = odataFormatOf(request.headers.accept);
    return reply
      .type(`application/json;odata=${format};charset=utf-8`)
      .header('cache-control', 'private, max-age=0')
      .send(formatOData(format, { publicUrl, method: path, type, value: selectedProperties(request, value, type) }));
  }

  function sendList(request: FastifyRequest, reply: FastifyReply, type: string, values: unknown[]) {
    const format = odataFormatOf(request.headers.accept);
    return reply
      .type(`application/json;odata=${format};charset=utf-8`)
      .header('cache-control', 'private, max-age=0')
      .send(
        formatODataCollection(format, {
          publicUrl,
          type,
          values: values.map((value) => selectedProperties(request, value, type)),
        }),
      );
  }

  /** The site's users (SP.User) that pass `test`, in userPrincipalName order, at most `limit`. */
  async function siteUsersWhere(test: (user: Record<string, unknown>) => boolean, limit: number) {
    const found: Array<ReturnType<typeof siteUser>> = [];
    let afterUpn: string | undefined;
    while (found.length < limit) {
      const page = await listUsers(db, { afterUpn, limit: 1000 });
      for (const user of page.map(siteUser)) if (found.length < limit && test(user)) found.push(user);
      if (page.length < 1000) break;
      afterUpn = page[page.length - 1]!.upn;
    }
    return found;
  }

  /**
   * One site user as PnPjs's lookups address it: siteusers/getbyemail('…'), siteusers/getbyid(n),
   * siteusers/getbyloginname(@v) or siteusers(@v) (the login name, a claim), getuserbyid(n).
   * Null when nobody matches; undefined when the address is none of these.
   */
  async function siteUserLookup(
    first: Call,
    rest: Call[],
    query: Record<string, unknown>,
  ): Promise<ReturnType<typeof siteUser> | null | undefined> {
    const byId = async (call: Call) => {
      const raw = bindArguments(call, ['id']).get('id');
      if (raw === undefined || !/^\d{1,10}$/.test(raw)) throw sharePointErrors.badQuery(`${call.name} takes a number.`);
      const id = Number(raw);
      return (await siteUsersWhere((user) => user.Id === id, 1))[0] ?? null;
    };
    const byLoginName = async (call: Call) => {
      const raw = bindArguments(call, ['loginname']).get('loginname');
      if (raw === undefined) throw sharePointErrors.badQuery(`The parameter loginName of ${call.name} is missing.`);
      const upn = upnFromAccountName(argumentValue(raw, query));
      const user = upn ? await findUserByUpn(db, upn) : undefined;
      return user ? siteUser(user) : null;
    };
    if (first.name.toLowerCase() === 'getuserbyid') return rest.length === 0 ? byId(first) : undefined;
    if (!bare(first)) return rest.length === 0 ? byLoginName(first) : undefined;
    const [method, ...more] = rest;
    if (!method || more.length > 0) return undefined;
    switch (method.name.toLowerCase()) {
      case 'getbyid':
        return byId(method);
      case 'getbyloginname':
        return byLoginName(method);
      case 'getbyemail': {
        const raw = bindArguments(method, ['emailaddress']).get('emailaddress');
        if (raw === undefined) throw sharePointErrors.badQuery('The parameter emailAddress is missing.');
        // A site user's Email is the UPN of a user with a mailbox.
        const user = await findUserByUpn(db, argumentValue(raw, query).toLowerCase());
        return user?.hasMailbox ? siteUser(user) : null;
      }
      default:
        return undefined;
    }
  }

  /**
   * Who may see the site's users and the library's file list (everyone's e-mail address and file
   * names): apps with a read permission, and users whose token reads anyone's profile, as Graph's
   * /users asks. A token for one's own profile alone (User.Read, User.ReadWrite) sees only oneself.
   */
  function mayListUsers(principal: Principal): boolean {
    return mayUseSites(principal, 'read');
  }

  /** The site itself (its title and address): any user of it, and apps with a read permission. */
  function mayReadWeb(principal: Principal): boolean {
    return principal.kind === 'user' || mayUseSites(principal, 'read');
  }

  /** Whether `user` (an SP.User) is the principal's own user, whom any user token may look up. */
  const isSelf = (principal: Principal, user: { UserPrincipalName: string } | null) =>
    principal.kind === 'user' && user !== null && user.UserPrincipalName.toLowerCase() === principal.user.upn;

  app.get(
    '/web',
    {
      schema: {
        summary: 'The site (SP.Web): the My Site host that holds "User Photos", at this server’s address',
        tags: ['sharepoint'],
        response: json,
      },
    },
    async (request, reply) => {
      if (!mayReadWeb(principalOf(request))) throw forbidden('This token may not read the site.');
      return send(request, reply, 'Web', 'SP.Web', {
        Id: webId(publicUrl),
        Title: 'photosync',
        Description: '',
        Language: 1033,
        ServerRelativeUrl: '/',
        Url: publicUrl,
        WebTemplate: 'SPSMSITEHOST',
        Configuration: 0,
      });
    },
  );

  app.get(
    '/web/currentuser',
    { schema: { summary: 'The signed-in user as a site user (SP.User)', tags: ['sharepoint'], response: json } },
    async (request, reply) => {
      const principal = principalOf(request);
      if (principal.kind !== 'user') throw forbidden('An app token has no current user; use /_api/web/siteusers.');
      return send(request, reply, 'Web/CurrentUser', 'SP.User', siteUser(principal.user));
    },
  );

  app.get(
    '/web/siteusers',
    {
      schema: {
        summary: "The site's users (SP.User), in userPrincipalName order, at most 5000",
        tags: ['sharepoint'],
        response: json,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (!mayListUsers(principal)) {
        throw forbidden(
          'This token may not list the site’s users: it needs ProfilePhoto.Read.All or User.ReadBasic.All (an app, Sites.FullControl.All).',
        );
      }
      const options = listOptions(request.query as Record<string, unknown>);
      const filter = options.filter !== undefined && options.filter.trim() !== '' ? options.filter : undefined;
      if (options.orderby !== undefined || options.skip !== undefined) {
        // Sorted or skipped: every match first (at most the list's limit), then the query.
        const test = filter === undefined ? () => true : siteUserFilter(filter);
        const all = await siteUsersWhere(test, SITE_USERS_LIMIT);
        return sendList(
          request,
          reply,
          'SP.User',
          applyListQuery({ ...options, filter: undefined }, all, SITE_USER_FIELDS, SITE_USERS_LIMIT),
        );
      }
      const limit = options.top === undefined ? SITE_USERS_LIMIT : listCount('$top', options.top, SITE_USERS_LIMIT);
      const users =
        filter !== undefined
          ? await siteUsersWhere(siteUserFilter(filter), limit)
          : (await listUsers(db, { limit })).map(siteUser);
      return sendList(request, reply, 'SP.User', users);
    },
  );

  app.post(
    '/web/ensureuser',
    {
      schema: {
        summary: 'The site user for a login name: body {"logonName":"i:0#.f|membership|jane@contoso.com"}',
        tags: ['sharepoint'],
        body: { description: 'JSON: {"logonName": "…"}' },
        response: json,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (!mayReadWeb(principal)) throw forbidden('This token may not add users to the site.');
      const body = jsonBody(request.body);
      const logonName = Object.entries(body).find(([k]) => k.toLowerCase() === 'logonname')?.[1];
      if (typeof logonName !== 'string') throw sharePointErrors.badQuery('The parameter logonName is missing.');
      const upn = upnFromAccountName(logonName);
      const self = principal.kind === 'user' && upn === principal.user.upn;
      if (!self && !mayListUsers(principal))
        throw forbidden(
          'This token may ensure only its own user; others need ProfilePhoto.Read.All or User.ReadBasic.All.',
        );
      const user = upn && (await findUserByUpn(db, upn));
      if (!user) throw sharePointErrors.userNotFound(logonName);
      return send(request, reply, 'Web/EnsureUser', 'SP.User', siteUser(user));
    },
  );

  /**
   * The library's files as SP.File, as GetFileByServerRelativeUrl serves them: each shown user's
   * renditions (a disabled account's are not served, so not listed) and every other file added
   * to it, by name.
   */
  async function libraryFiles(): Promise<Array<Record<string, unknown>>> {
    const rows = await db
      .selectFrom('site_renditions as r')
      .innerJoin('site_profiles as p', 'p.user_id', 'r.user_id')
      .innerJoin('directory_users as u', 'u.id', 'r.user_id')
      .where('u.enabled', '=', 1)
      .select(['p.file_stem', 'r.size', 'r.etag', 'r.byte_size', 'p.picture_timestamp'])
      .orderBy('p.file_stem')
      .orderBy('r.size')
      .limit(MAX_LISTED_FILES)
      .execute();
    // A file named like a picture is served only while that name is nobody's (the GET below):
    // one added before its user's account was made is the user's picture's name now.
    const others = [];
    for (const file of await listLibraryFiles(db, MAX_LISTED_FILES)) {
      if (!parseRenditionFileName(file.name) || !(await fileOwner(file.name))) others.push(file);
    }
    const files = [
      ...rows.map((row) => spFile(renditionFileName(row.file_stem, row.size), row)),
      ...others.map((file) =>
        spFile(file.name, { etag: file.etag, byte_size: file.byteSize, picture_timestamp: file.modifiedAt }),
      ),
    ];
    const key = (file: Record<string, unknown>) => String(file.Name).toLowerCase();
    return files.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).slice(0, MAX_LISTED_FILES);
  }

  function spFile(name: string, row: { etag: string; byte_size: number; picture_timestamp: number | null }) {
    const time = new Date(row.picture_timestamp ?? 0).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      CheckInComment: '',
      CheckOutType: 2,
      ETag: `"{${row.etag.slice(0, 8)}},1"`,
      Exists: true,
      Length: String(row.byte_size),
      Level: 1,
      Name: name,
      ServerRelativeUrl: libraryUrl(name),
      TimeCreated: time,
      TimeLastModified: time,
      Title: null,
      UIVersion: 512,
      UIVersionLabel: '1.0',
    };
  }

  /** The user and size behind a library file name (case-insensitive), or undefined. */
  async function fileOwner(name: string): Promise<{ user: DirectoryUser; size: RenditionSize } | undefined> {
    const parsed = parseRenditionFileName(name);
    if (!parsed) return undefined;
    const userId = await userIdForFileStem(db, parsed.stem);
    const user = userId ? await findUserById(db, userId) : await userWithoutProfile(parsed.stem);
    return user ? { user, size: parsed.size } : undefined;
  }

  /**
   * A user who has no profile in the sites yet, whose files would be named `stem`: the name is
   * the UPN with `@`, `.` and the like as `_`, which LIKE's `_` (any one character) matches.
   */
  async function userWithoutProfile(stem: string): Promise<DirectoryUser | undefined> {
    if (!/^[a-z0-9_-]+$/.test(stem)) return undefined;
    const candidates = await listUsers(db, {
      limit: 20,
      where: (query) =>
        query
          .where('upn', 'like', stem)
          .where((eb) =>
            eb.not(
              eb.exists(
                eb.selectFrom('site_profiles').select('user_id').whereRef('user_id', '=', 'directory_users.id'),
              ),
            ),
          ),
    });
    return candidates.find((user) => libraryFileStem(user.upn) === stem);
  }

  /** `/User Photos/Profile Pictures/x.jpg` (any case, with or without the leading slash) → `x.jpg`. */
  function fileNameIn(path: string): string | undefined {
    const normalized = `/${path.replace(/^\/+/, '')}`;
    const prefix = `${LIBRARY_PATH}/`.toLowerCase();
    if (!normalized.toLowerCase().startsWith(prefix)) return undefined;
    const name = normalized.slice(prefix.length);
    return name !== '' && !name.includes('/') ? name : undefined;
  }

  const PATH_METHODS: Readonly<Record<string, { name: string; url: string }>> = {
    getfolderbyserverrelativepath: { name: 'GetFolderByServerRelativeUrl', url: 'serverrelativeurl' },
    getfilebyserverrelativepath: { name: 'GetFileByServerRelativeUrl', url: 'serverrelativeurl' },
    addusingpath: { name: 'add', url: 'url' },
  };

  const isLibrary = (path: string) =>
    `/${path.replace(/^\/+/, '').replace(/\/+$/, '')}`.toLowerCase() === LIBRARY_PATH.toLowerCase();

  /**
   * The path-based methods as their URL-based twins, which take the same values: PnPjs v4 sends
   * only getFolderByServerRelativePath(decodedUrl='…'), getFileByServerRelativePath(…) and
   * Files/AddUsingPath(decodedurl='…',Overwrite=true). A name with % or # (what the path methods
   * add) is refused later like any other such name.
   */
  function byUrl(call: Call): Call {
    const renamed = PATH_METHODS[call.name.toLowerCase()];
    if (!renamed) return call;
    const args = new Map<string, string>();
    for (const [name, value] of call.args) {
      if (name === 'decodedurl') args.set(renamed.url, value);
      else if (name === 'overwrite' && renamed.name === 'add') args.set(name, value);
      else if (name === 'ensureuniquefilename' && /^'?false'?$/i.test(value)) continue;
      else if (name === 'autocheckoutoninvaliddata') continue;
      else throw sharePointErrors.badQuery(`The parameter ${name} of ${call.name} is not supported here.`);
    }
    return { name: renamed.name, args, positional: call.positional };
  }

  /** A segment without arguments: `Files`, `Files()`, `$value`. */
  const bare = (call: Call) => call.args.size === 0 && call.positional.length === 0;

  /** The single string argument of GetFolderByServerRelativeUrl('…') and the like. */
  function pathArgument(call: Call, query: Record<string, unknown>, parameter: string): string {
    const raw = bindArguments(call, [parameter]).get(parameter);
    if (raw === undefined) throw sharePointErrors.badQuery(`The parameter ${parameter} is missing.`);
    return argumentValue(raw, query);
  }

  const SEGMENTS = Type.Object({ '*': Type.String({ maxLength: 2000 }) });

  app.get(
    '/web/*',
    {
      schema: {
        summary:
          "GetFolderByServerRelativeUrl('/User Photos/Profile Pictures')/Files, GetFileByServerRelativeUrl('…') and …/$value",
        description: 'Other addresses under /_api/web are answered with SharePoint’s error.',
        tags: ['sharepoint'],
        params: SEGMENTS,
        querystring: AnyQuery,
        response: { ...json, 200: { ...json[200], description: 'SP.File(s) as JSON, or the file’s bytes' } },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const query = request.query as Record<string, unknown>;
      const [first, ...rest] = splitPath(request.params['*']).map(parseCall).map(byUrl);
      // A segment given arguments (Files('x.jpg'), PnPjs's files.getByUrl) is not the bare one.
      const tail = rest.map((c) => (bare(c) ? c.name.toLowerCase() : `${c.name}(…)`)).join('/');
      switch (first?.name.toLowerCase() ?? '') {
        case 'siteusers':
        case 'getuserbyid': {
          const user = await siteUserLookup(first!, rest, query);
          if (user === undefined) break;
          if (!mayListUsers(principal) && !isSelf(principal, user))
            throw forbidden(
              'This token may read only its own user; reading others needs ProfilePhoto.Read.All or User.ReadBasic.All.',
            );
          if (!user) throw notFound('User cannot be found.', 'user_not_found');
          return send(request, reply, 'Web/SiteUsers', 'SP.User', user);
        }
        case 'getfolderbyserverrelativeurl': {
          const path = pathArgument(first!, query, 'serverrelativeurl');
          if (!isLibrary(path)) throw sharePointErrors.fileNotFound(path);
          if (tail === 'files') {
            if (!mayListUsers(principal)) {
              throw forbidden(
                'This token may not list the library’s files: it needs ProfilePhoto.Read.All or User.ReadBasic.All (an app, Sites.FullControl.All).',
              );
            }
            const options = listOptions(request.query as Record<string, unknown>);
            const files = applyListQuery(options, await libraryFiles(), FILE_FIELDS, MAX_LISTED_FILES);
            return sendList(request, reply, 'SP.File', files);
          }
          break;
        }
        case 'getfilebyserverrelativeurl': {
          const path = pathArgument(first!, query, 'serverrelativeurl');
          const name = fileNameIn(path);
          const owner = name && (await fileOwner(name));
          // Refused alike whether or not the file exists: a token without the scope learns nothing.
          if (principal.kind === 'app' && !mayUseSites(principal, 'read'))
            throw forbidden('This token may not read the library.');
          // A file named like a picture that is nobody's (jane_contoso_com_1a2b3c4d_LThumb.jpg) is any other file.
          const other = name && !owner ? await findLibraryFile(db, name) : undefined;
          if (other && tail === '$value') {
            return reply
              .type('application/octet-stream')
              .header('cache-control', 'private, max-age=0')
              .send(other.bytes);
          }
          if (other && tail === '') {
            const file = spFile(other.name, {
              etag: other.etag,
              byte_size: other.bytes.length,
              picture_timestamp: other.modifiedAt,
            });
            return send(request, reply, 'Web/File', 'SP.File', { ...file, ServerRelativeUrl: path });
          }
          // A user's picture is shown here to whom its library address shows it: a user's token
          // that may see only its own picture sees no one else's, and a disabled account's none.
          if (owner && principal.kind === 'user') checkPictureAccess(principal, owner.user);
          const rendition = owner && picturesShown(owner.user) && (await getRendition(db, owner.user.id, owner.size));
          if (!name || !owner || !rendition) throw sharePointErrors.fileNotFound(path);
          if (tail === '$value') {
            // A sync may replace the picture between the row and its file (the old file goes right
            // after the switch): then the row is read again and names the new file.
            let current: typeof rendition | undefined = rendition;
            for (let attempt = 0; current && attempt < 3; attempt++) {
              const bytes = await services.blobs.get(current.blobKey);
              if (bytes) return reply.type('image/jpeg').header('cache-control', 'private, max-age=0').send(bytes);
              current = await getRendition(db, owner.user.id, owner.size);
            }
            throw sharePointErrors.fileNotFound(path);
          }
          if (tail === '') {
            const file = spFile(renditionFileName(name.replace(/_[SML]Thumb\.jpg$/i, '').toLowerCase(), owner.size), {
              etag: rendition.etag,
              byte_size: rendition.byteSize,
              picture_timestamp: rendition.pictureTimestamp,
            });
            return send(request, reply, 'Web/File', 'SP.File', { ...file, Name: name, ServerRelativeUrl: path });
          }
          break;
        }
        default:
          break;
      }
      throw sharePointErrors.badQuery(`The expression "web/${request.params['*']}" is not valid.`);
    },
  );

  app.post(
    '/web/*',
    {
      bodyLimit: SITE_PICTURE_MAX_BYTES,
      schema: {
        summary:
          "GetFolderByServerRelativeUrl('/User Photos/Profile Pictures')/Files/add(url='jane_contoso_com_LThumb.jpg',overwrite=true)",
        description:
          "Apps with ProfilePhoto.ReadWrite.All (and administrators' tokens with it): the body becomes that user's " +
          'site picture, exactly as "Upload picture" makes it (all three sizes from these bytes).',
        tags: ['sharepoint'],
        params: SEGMENTS,
        querystring: AnyQuery,
        body: { description: 'The image bytes (JPEG, PNG, GIF or WebP)' },
        response: json,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const query = request.query as Record<string, unknown>;
      const segments = splitPath(request.params['*']).map(parseCall).map(byUrl);
      const [folder, files, add] = segments;
      /** A file added to the library goes (recycle(), or PnPjs's delete(): X-HTTP-Method DELETE); a user's picture stays. */
      const removeFile = async () => {
        const path = pathArgument(folder!, query, 'serverrelativeurl');
        if (!mayUseSites(principal, 'write') || (principal.kind === 'user' && principal.via !== 'token'))
          throw forbidden('This token may not write the library (it needs Sites.FullControl.All).');
        const name = fileNameIn(path);
        if (name && parseRenditionFileName(name) && (await fileOwner(name))) {
          throw sharePointErrors.badQuery(
            `${path} is a user's picture: set their profile's placeholder (SPS-PicturePlaceholderState 1) instead.`,
          );
        }
        if (!name || !(await recycleLibraryFile(db, name))) throw sharePointErrors.fileNotFound(path);
      };
      const isFile = folder?.name.toLowerCase() === 'getfilebyserverrelativeurl';
      if (segments.length === 2 && isFile && files!.name.toLowerCase() === 'recycle' && bare(files!)) {
        await removeFile();
        // SharePoint answers with the recycle bin item's id.
        return send(request, reply, 'Web/File/Recycle', 'Edm.Guid', randomUUID());
      }
      const method = request.headers['x-http-method'];
      if (segments.length === 1 && isFile && typeof method === 'string' && method.toUpperCase() === 'DELETE') {
        await removeFile();
        // SharePoint answers a delete with 200 and no body.
        return reply.status(200).header('cache-control', 'private, max-age=0').send('');
      }
      if (
        segments.length === 3 &&
        folder!.name.toLowerCase() === 'getfolderbyserverrelativeurl' &&
        files!.name.toLowerCase() === 'files' &&
        bare(files!) &&
        add!.name.toLowerCase() === 'add'
      ) {
        const path = pathArgument(folder!, query, 'serverrelativeurl');
        if (!isLibrary(path)) throw sharePointErrors.fileNotFound(path);
        const args = bindArguments(add!, ['url', 'overwrite']);
        const rawUrl = args.get('url');
        if (rawUrl === undefined) throw sharePointErrors.badQuery('The parameter url is missing.');
        const name = argumentValue(rawUrl, query);
        const overwrite = booleanArgument(args.get('overwrite'), false);
        // Only a writer learns whether the name belongs to someone.
        if (!mayUseSites(principal, 'write') || (principal.kind === 'user' && principal.via !== 'token'))
          throw forbidden('This token may not write the library (it needs Sites.FullControl.All).');
        const body = request.body;
        if (!Buffer.isBuffer(body) || body.length === 0)
          throw sharePointErrors.badQuery('The request has no file in its body.');
        // The new file's name, or its address in this library (as SharePoint also takes it); a path
        // anywhere else would be read by its last part alone, the name of someone's picture perhaps.
        const fileName = name.includes('/') ? fileNameIn(name) : name;
        if (fileName === undefined) {
          throw sharePointErrors.badQuery(
            `"${name}" is not a file of ${LIBRARY_PATH}: give the new file's name, or its address in this folder.`,
          );
        }
        const owner = parseRenditionFileName(fileName) ? await fileOwner(fileName) : undefined;
        if (!owner && /^[^/\\:*?"<>|#%\p{Cc}]{1,128}$/u.test(fileName) && !/^\.+$/.test(fileName)) {
          // Any other file, as a library takes any, also one named like a picture that is nobody's:
          // it is nobody's picture until a profile's PictureURL points at it.
          const added = await addLibraryFile(db, fileName, body, overwrite);
          if (!added) throw sharePointErrors.badQuery(`A file with the name ${libraryUrl(fileName)} already exists.`);
          const file = spFile(fileName, {
            etag: added.etag,
            byte_size: body.length,
            picture_timestamp: added.modifiedAt,
          });
          return send(request, reply, 'Web/Folder/Files/Add', 'SP.File', file);
        }
        if (!owner) {
          throw sharePointErrors.badQuery(
            `"${fileName}" cannot be a file name: at most 128 characters, none of / \\ : * ? " < > | # %, and not dots alone.`,
          );
        }
        const existing = await getRendition(db, owner.user.id, owner.size);
        if (existing && !overwrite) {
          throw sharePointErrors.badQuery(`A file with the name ${libraryUrl(fileName)} already exists.`);
        }
        await uploadSitePicture(sitePictureDeps(services), owner.user, body);
        const rendition = await getRendition(db, owner.user.id, owner.size);
        const file = spFile(fileName, {
          etag: rendition?.etag ?? '',
          byte_size: rendition?.byteSize ?? 0,
          picture_timestamp: rendition?.pictureTimestamp ?? null,
        });
        return send(request, reply, 'Web/Folder/Files/Add', 'SP.File', file);
      }
      throw sharePointErrors.badQuery(`The expression "web/${request.params['*']}" is not valid.`);
    },
  );
}

/** A query option by its name in any case (`$filter`, `$Filter`), as SharePoint reads them. */
/** A list's query options: $filter, $orderby, $skip and $top. */
function listOptions(query: Record<string, unknown>) {
  return {
    filter: queryOption(query, '$filter'),
    orderby: queryOption(query, '$orderby'),
    skip: queryOption(query, '$skip'),
    top: queryOption(query, '$top'),
  };
}

function queryOption(query: Record<string, unknown>, name: string): string | undefined {
  const key = Object.keys(query).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : query[key];
  if (Array.isArray(value)) throw sharePointErrors.badQuery(`The query option ${name} is given more than once.`);
  return typeof value === 'string' ? value : undefined;
}

/** A JSON request body (the /_api parser keeps bodies as bytes), as an object. */
export function jsonBody(body: unknown): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
  } catch {
    throw sharePointErrors.badQuery('The body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw sharePointErrors.badQuery('The body must be a JSON object.');
  return value as Record<string, unknown>;
}
