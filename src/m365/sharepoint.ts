import { claimForUpn, libraryFileStem } from '../directory/upn.js';
import { LIBRARY_PATH, pictureTimestampValue, renditionFileName, type RenditionSize } from '../sites/library.js';
import { scrub, tenantError } from './errors.js';
import { lastingRefusal, type ProfilePicture } from './model.js';
import { readBody, type TenantHttp } from './tenant-http.js';
import type { M365Settings } from './settings.js';

// SharePoint Online's REST API as connect mode uses it, with plain fetch and
// `Accept: application/json;odata=nometadata`:
// - PeopleManager GetPropertiesFor on the My Site host reads a profile's picture properties;
// - the My Site host's "User Photos/Profile Pictures" folder holds the S/M/L files;
// - PeopleManager SetSingleValueProfileProperty on the admin site writes another user's profile.
// App-only bearer tokens need no X-RequestDigest (PnPjs adds one only for requests without an
// Authorization header: https://github.com/pnp/pnpjs/blob/version-4/packages/sp/behaviors/request-digest.ts).

const NOMETADATA = 'application/json;odata=nometadata';
/** A profile picture thumbnail is a few KB; refuse anything absurd before buffering it. */
const MAX_THUMBNAIL_BYTES = 1024 * 1024;

/**
 * An OData string literal in a URL: single quotes doubled, the text inside URL-encoded (`#`, `|`,
 * `/` and spaces included), the quotes themselves plain — as PnPjs writes them
 * (https://github.com/pnp/pnpjs/blob/version-4/packages/sp/utils/encode-path-str.ts).
 */
export function odataString(value: string): string {
  return `'${encodeURIComponent(value.replace(/'/g, "''"))}'`;
}

/** SharePoint's error envelopes: nometadata `{"odata.error":…}`, verbose `{"error":…}`, or Entra's text. */
export async function sharePointErrorText(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as {
      'odata.error'?: { message?: { value?: string } };
      error?: { message?: { value?: string } | string } | string;
      error_description?: string;
    };
    const error = body['odata.error'] ?? (typeof body.error === 'object' ? body.error : undefined);
    const message = typeof error?.message === 'object' ? error.message.value : error?.message;
    return scrub(message ?? body.error_description ?? (typeof body.error === 'string' ? body.error : text)).slice(
      0,
      300,
    );
  } catch {
    return scrub(text).slice(0, 300);
  }
}

async function sharePointFailure(what: string, response: Response) {
  const text = await sharePointErrorText(response);
  const detail = `${what}: SharePoint answered ${response.status}${text ? ` (${text})` : ''}.`;
  if (response.status === 401 && /app only token/i.test(text)) {
    return tenantError(
      'certificate',
      detail,
      'SharePoint takes app-only tokens only when they were obtained with a certificate; photosync uses one, so the token came from elsewhere — check PHOTOSYNC_M365_CERTIFICATE.',
    );
  }
  if (response.status === 401 || response.status === 403) {
    return tenantError(
      'permission',
      detail,
      'The app lacks the SharePoint application permission Sites.FullControl.All (with admin consent).',
    );
  }
  if (response.status === 404) {
    return tenantError(
      'wrong_url',
      detail,
      'Check PHOTOSYNC_M365_SHAREPOINT_URL, PHOTOSYNC_M365_MYSITE_URL and PHOTOSYNC_M365_ADMIN_URL.',
    );
  }
  return tenantError('unexpected', detail);
}

const PICTURE_KEYS = [
  'PictureURL',
  'SPS-PicturePlaceholderState',
  'SPS-PictureExchangeSyncState',
  'SPS-PictureTimestamp',
];

/** PeopleManager GetPropertiesFor, read for the picture's four properties. */
export async function readProfilePicture(
  http: TenantHttp,
  settings: M365Settings,
  upn: string,
): Promise<ProfilePicture> {
  const url =
    `${settings.mySiteUrl}/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)` +
    `?@v=${odataString(claimForUpn(upn))}`;
  const response = await http.request('mysite', url, { headers: { accept: NOMETADATA } });
  if (!response.ok) {
    const failure = await sharePointFailure(`Reading the profile of ${upn} failed`, response);
    return { kind: 'error', message: failure.message, lasting: lastingRefusal(response.status) };
  }
  const body: unknown = await response.json().catch(() => undefined);
  // No profile is a JSON object without the properties; anything else (a proxy's or a sign-in
  // page in the way) says nothing about the profile.
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const type = response.headers.get('content-type') ?? 'no content type';
    return {
      kind: 'error',
      message: `Reading the profile of ${upn} failed: SharePoint answered 200 with something other than a JSON object (${type}); is a proxy or a sign-in page in the way?`,
    };
  }
  return profilePictureFrom(body);
}

/**
 * The picture properties from GetPropertiesFor's nometadata answer, whose UserProfileProperties is
 * a list of {Key, Value, ValueType}. A user without a profile comes back without that list.
 */
export function profilePictureFrom(body: unknown): ProfilePicture {
  const list = (body as { UserProfileProperties?: unknown } | null)?.UserProfileProperties;
  const pairs = Array.isArray(list)
    ? list
    : // odata=verbose nests the list in `results`; accepted in case a proxy rewrites Accept.
      ((list as { results?: unknown } | undefined)?.results as unknown[] | undefined);
  if (!Array.isArray(pairs) || pairs.length === 0) return { kind: 'none' };
  const values = new Map<string, string>();
  for (const pair of pairs as { Key?: unknown; Value?: unknown }[]) {
    if (typeof pair?.Key === 'string' && PICTURE_KEYS.includes(pair.Key))
      values.set(pair.Key, typeof pair.Value === 'string' ? pair.Value : '');
  }
  const flag = (key: string): 0 | 1 | null => {
    const value = values.get(key)?.trim();
    return value === '0' ? 0 : value === '1' ? 1 : null;
  };
  return {
    kind: 'profile',
    pictureUrl: values.get('PictureURL') ?? '',
    placeholderState: flag('SPS-PicturePlaceholderState'),
    exchangeSyncState: flag('SPS-PictureExchangeSyncState'),
    timestamp: values.get('SPS-PictureTimestamp') ?? '',
  };
}

/** `jane_contoso_com`: SharePoint names a user's picture files after the UPN with `@` and `.` made `_`. */
export function accountFileStem(upn: string): string {
  return libraryFileStem(upn.toLowerCase());
}

/** Server-relative path of a rendition, `/User Photos/Profile Pictures/jane_contoso_com_MThumb.jpg`. */
export function renditionPath(stem: string, size: RenditionSize): string {
  return `${LIBRARY_PATH}/${renditionFileName(stem, size)}`;
}

/** The absolute URL PictureURL is set to: the M file on the My Site host. */
export function renditionUrl(settings: M365Settings, stem: string, size: RenditionSize): string {
  return `${settings.mySiteUrl}${encodeURI(renditionPath(stem, size))}`;
}

/** `jane_contoso_com` when a PictureURL names an M file of "User Photos/Profile Pictures" (on any host); null otherwise. */
export function pictureFileStem(pictureUrl: string | null | undefined): string | null {
  if (!pictureUrl) return null;
  try {
    const path = decodeURIComponent(new URL(pictureUrl).pathname);
    const match = /^(.*)\/([^/]+)_MThumb\.jpg$/i.exec(path);
    return match && match[1]!.toLowerCase() === LIBRARY_PATH.toLowerCase() ? match[2]!.toLowerCase() : null;
  } catch {
    return null;
  }
}

/** The stem of the file a profile shows when that file is in the tenant's own library (the My Site host). */
export function shownFileStem(settings: M365Settings, pictureUrl: string): string | null {
  try {
    return new URL(pictureUrl).origin === settings.mySiteUrl ? pictureFileStem(pictureUrl) : null;
  } catch {
    return null;
  }
}

/**
 * The S thumbnail that goes with the profile's PictureURL: the same name with `_SThumb`, when the
 * PictureURL is a file on the My Site host; otherwise the file named after the UPN.
 */
export function smallThumbnailPath(settings: M365Settings, upn: string, pictureUrl: string): string {
  return renditionPath(shownFileStem(settings, pictureUrl) ?? accountFileStem(upn), 'S');
}

/** A library file's bytes (GetFileByServerRelativeUrl…/$value); `none` when there is no such file. */
export async function readLibraryFile(
  http: TenantHttp,
  settings: M365Settings,
  serverRelativePath: string,
): Promise<{ kind: 'file'; bytes: Buffer } | { kind: 'none' }> {
  const url = `${settings.mySiteUrl}/_api/web/GetFileByServerRelativeUrl(${odataString(serverRelativePath)})/$value`;
  const response = await http.request('mysite', url);
  if (response.status === 404) {
    await response.body?.cancel();
    return { kind: 'none' };
  }
  if (!response.ok) throw await sharePointFailure(`Reading ${serverRelativePath} failed`, response);
  const bytes = await readBody(response, MAX_THUMBNAIL_BYTES);
  if (!bytes) throw tenantError('unexpected', `${serverRelativePath} is larger than ${MAX_THUMBNAIL_BYTES} bytes.`);
  return { kind: 'file', bytes };
}

/** Whether the library has this file (GetFileByServerRelativeUrl, its properties only: no bytes are read). */
export async function libraryFileExists(
  http: TenantHttp,
  settings: M365Settings,
  serverRelativePath: string,
): Promise<boolean> {
  const url = `${settings.mySiteUrl}/_api/web/GetFileByServerRelativeUrl(${odataString(serverRelativePath)})`;
  const response = await http.request('mysite', url, { headers: { accept: NOMETADATA } });
  if (response.status !== 404 && !response.ok)
    throw await sharePointFailure(`Looking for ${serverRelativePath} failed`, response);
  await response.body?.cancel();
  return response.ok;
}

/** Files/add(url='…',overwrite=true) into "User Photos/Profile Pictures" on the My Site host. */
export async function uploadRendition(
  http: TenantHttp,
  settings: M365Settings,
  stem: string,
  size: RenditionSize,
  jpeg: Buffer,
): Promise<void> {
  const name = renditionFileName(stem, size);
  const url =
    `${settings.mySiteUrl}/_api/web/GetFolderByServerRelativeUrl(${odataString(LIBRARY_PATH)})` +
    `/Files/add(url=${odataString(name)},overwrite=true)`;
  const response = await http.request('mysite', url, {
    method: 'POST',
    headers: { accept: NOMETADATA, 'content-type': 'image/jpeg' },
    body: new Uint8Array(jpeg),
  });
  if (!response.ok) throw await sharePointFailure(`Uploading ${name} failed`, response);
  await response.body?.cancel();
}

/** PeopleManager SetSingleValueProfileProperty on the admin site (the only place one may write others' profiles). */
export async function setProfileProperty(
  http: TenantHttp,
  settings: M365Settings,
  upn: string,
  propertyName: string,
  propertyValue: string,
): Promise<void> {
  const response = await http.request(
    'admin',
    `${settings.adminUrl}/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty`,
    {
      method: 'POST',
      headers: { accept: NOMETADATA, 'content-type': 'application/json;odata=verbose' },
      body: JSON.stringify({ accountName: claimForUpn(upn), propertyName, propertyValue }),
    },
  );
  if (!response.ok) throw await sharePointFailure(`Setting ${propertyName} for ${upn} failed`, response);
  await response.body?.cancel();
}

/** SPS-PictureTimestamp as SharePoint writes it: seconds since 0001-01-01 UTC, e.g. "63783110969". */
export const pictureTimestamp = pictureTimestampValue;
