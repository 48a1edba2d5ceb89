import type { BatchEnvelope, BatchRequest, BatchResponse, BatchResult, SendBatch } from './batch.js';
import { describeError, scrub, tenantError } from './errors.js';
import { lastingRefusal, type ExchangePhoto, type TenantUser } from './model.js';
import { RETRY_LATER, retryAfterMs, TRANSIENT } from './retry.js';
import { readBody, type TenantHttp } from './tenant-http.js';

// Microsoft Graph as connect mode reads it, with plain fetch: the user listing, each user's
// Exchange photo metadata in JSON batches, and the photo's bytes for a push or a comparison.
// Graph's error envelope is {"error":{"code","message",innerError}}; Graph reads photos from
// Exchange Online and, for users without a mailbox, from Entra ID — so a user whose listing says
// "no Exchange" is never asked for a photo: the sites must never take the directory photo.

/** `$top` of the user listing: Graph's largest page for users. https://learn.microsoft.com/graph/api/user-list */
export const USERS_PAGE_SIZE = 999;
const USER_FIELDS = 'id,userPrincipalName,displayName,accountEnabled,provisionedPlans';
/** The largest Exchange photo is 648×648, far below this; anything larger is not a photo. */
export const MAX_PHOTO_BYTES = 4 * 1024 * 1024;

export interface GraphError {
  status: number;
  code: string;
  message: string;
}

/** Graph's error envelope, wherever it is (a response body or a batch sub-response's body). */
export function graphError(status: number, body: unknown): GraphError {
  const error = (body as { error?: { code?: unknown; message?: unknown; innerError?: { code?: unknown } } } | null)
    ?.error;
  const code =
    typeof error?.code === 'string' && error.code !== '' ? error.code : String(error?.innerError?.code ?? '');
  const message = typeof error?.message === 'string' ? error.message : '';
  return { status, code, message: scrub(message) };
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: '', message: text.slice(0, 300) } };
  }
}

export function graphFailure(what: string, error: GraphError) {
  const detail = `${what}: Graph answered ${error.status}${error.code ? ` ${error.code}` : ''}${error.message ? ` (${error.message})` : ''}.`;
  if (error.status === 401) {
    return tenantError(
      'permission',
      detail,
      'The token was refused: check that the app registration and its certificate are in this tenant.',
    );
  }
  if (error.status === 403) {
    return tenantError(
      'permission',
      detail,
      'The app lacks a Graph permission: grant the application permissions User.Read.All and ProfilePhoto.Read.All, with admin consent.',
    );
  }
  if (RETRY_LATER.has(error.status))
    return tenantError('throttled', detail, 'Graph is throttling photosync; try again later.');
  return tenantError('unexpected', detail);
}

export interface UsersPage {
  users: TenantUser[];
  /** The next page's URL, or null after the last page. */
  nextLink: string | null;
  /** `@odata.count`: the tenant's number of users, when the listing asked for it and Graph said. */
  count: number | null;
}

/**
 * The first page's URL; later pages come from `@odata.nextLink`. With `count`, the page also
 * carries the number of users (`$count=true`, an advanced query: it needs `ConsistencyLevel:
 * eventual`, https://learn.microsoft.com/graph/aad-advanced-queries), so no `/users/$count` of its own.
 */
export function firstUsersPage(graphUrl: string, count = true): string {
  return `${graphUrl}/v1.0/users?$select=${USER_FIELDS}&$top=${USERS_PAGE_SIZE}${count ? '&$count=true' : ''}`;
}

/**
 * A listing URL that asks for `$count` (its next links too, which keep the query) is an advanced
 * query and is sent with `ConsistencyLevel: eventual`.
 */
function listingHeaders(url: string): Record<string, string> {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    return {};
  }
  const counted = [...params].some(([key, value]) => key.toLowerCase() === '$count' && value.toLowerCase() === 'true');
  return counted ? { ConsistencyLevel: 'eventual' } : {};
}

export async function listUsersPage(http: TenantHttp, url: string): Promise<UsersPage> {
  const response = await http.request('graph', url, { headers: listingHeaders(url) });
  return usersPageFrom(response.status, await readJson(response));
}

/** A listing answer (a response of its own or a batch sub-response) as a page; throws Graph's error. */
export function usersPageFrom(status: number, body: unknown): UsersPage {
  if (status < 200 || status >= 300) throw graphFailure('Listing users failed', graphError(status, body));
  const page = body as { value?: unknown; '@odata.nextLink'?: unknown; '@odata.count'?: unknown } | null;
  if (!Array.isArray(page?.value))
    throw tenantError('unexpected', 'Graph answered the user listing without a "value" list.');
  const nextLink = typeof page['@odata.nextLink'] === 'string' ? page['@odata.nextLink'] : null;
  const count = page['@odata.count'];
  return {
    users: page.value.flatMap(toTenantUser),
    nextLink,
    count: typeof count === 'number' && Number.isInteger(count) && count >= 0 ? count : null,
  };
}

/** The id of the listing's next page when it travels in a batch (user ids are GUIDs, never this). */
export const USERS_PAGE_REQUEST_ID = 'users-next-page';

/**
 * A page of the listing as a batch sub-request: its URL relative to the version root, as every
 * request in a batch is (https://learn.microsoft.com/graph/json-batching). Undefined when the link
 * is not on this Graph's v1.0 root, which a batch sent there could not reach.
 */
export function usersPageRequest(graphUrl: string, link: string): BatchRequest | undefined {
  let url: URL;
  let root: URL;
  try {
    url = new URL(link);
    root = new URL(graphUrl);
  } catch {
    return undefined;
  }
  if (url.origin !== root.origin || !url.pathname.startsWith('/v1.0/')) return undefined;
  const headers = listingHeaders(link);
  return {
    id: USERS_PAGE_REQUEST_ID,
    method: 'GET',
    url: `${url.pathname.slice('/v1.0'.length)}${url.search}`,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
}

function toTenantUser(raw: unknown): TenantUser[] {
  const user = raw as {
    id?: unknown;
    userPrincipalName?: unknown;
    displayName?: unknown;
    accountEnabled?: unknown;
    provisionedPlans?: unknown;
  };
  if (typeof user.id !== 'string' || typeof user.userPrincipalName !== 'string') return [];
  return [
    {
      id: user.id.toLowerCase(),
      upn: user.userPrincipalName.toLowerCase(),
      displayName: typeof user.displayName === 'string' ? user.displayName : user.userPrincipalName,
      accountEnabled: user.accountEnabled !== false,
      hasMailbox: hasExchangeMailbox(user.provisionedPlans),
    },
  ];
}

/**
 * Whether Exchange Online is provisioned for the user: a provisionedPlan with service "exchange"
 * and capabilityStatus "Enabled". Null when the listing did not include the plans at all.
 * https://learn.microsoft.com/graph/api/resources/provisionedplan
 */
export function hasExchangeMailbox(plans: unknown): boolean | null {
  if (!Array.isArray(plans)) return null;
  return plans.some((plan: { service?: unknown; capabilityStatus?: unknown }) => {
    return (
      typeof plan?.service === 'string' &&
      plan.service.toLowerCase() === 'exchange' &&
      typeof plan.capabilityStatus === 'string' &&
      plan.capabilityStatus.toLowerCase() === 'enabled'
    );
  });
}

/** A user for whom Graph did not say whether they have a mailbox (no `provisionedPlans` in its answer). */
export const MAILBOX_NOT_SAID = 'not said';

/**
 * Such a user's photo is not asked for: for a user without a mailbox Graph answers with the Entra
 * ID photo, which the sites must never take. They stay unknown until Graph says.
 */
export const mailboxNotSaid: ExchangePhoto = {
  kind: 'error',
  lasting: true,
  message:
    'Graph did not say whether this user has an Exchange Online mailbox (no provisionedPlans in its answer), so their photo was not read: for a user without one it would be the Entra ID photo.',
};

/** The batch sub-request for a user's photo metadata. */
export function photoMetadataRequest(userId: string): BatchRequest {
  return { id: userId, method: 'GET', url: `/users/${encodeURIComponent(userId)}/photo` };
}

/**
 * Codes Graph uses for "this user has no mailbox Graph can read": REST not enabled, no mailbox at
 * all, or a mailbox hosted on premises (hybrid), which SharePoint Online does not take photos from.
 */
const NO_MAILBOX_CODES = new Set([
  'MailboxNotEnabledForRESTAPI',
  'MailboxNotSupportedForRESTAPI',
  'ErrorMailboxNotEnabledForRESTAPI',
  'ErrorNonExistentMailbox',
  'MailboxNotHostedInExchangeOnline',
]);
const NO_MAILBOX_MESSAGE = /MailboxNotEnabledForRESTAPI|ErrorNonExistentMailbox|MailboxNotHostedInExchangeOnline/i;
/**
 * The codes of Graph's 404 for "this user has no photo" ("If no photo exists, the operation returns
 * 404 Not Found": ImageNotFound, ErrorItemNotFound from older Exchange, or no code at all). Any other
 * 404 (no such user, a mailbox still being provisioned, a path Graph does not know) says nothing
 * about the photo: taken as "no photo", it would have a push hide the user's SharePoint picture.
 */
const NO_PHOTO_CODES = new Set(['ImageNotFound', 'ErrorItemNotFound', '']);

/** What an answer other than 200 says of the photo: none, no mailbox, or nothing (an error). */
function photoAbsence(error: GraphError): 'none' | 'no_mailbox' | undefined {
  if (NO_MAILBOX_CODES.has(error.code) || NO_MAILBOX_MESSAGE.test(error.message)) return 'no_mailbox';
  if (error.status === 404 && NO_PHOTO_CODES.has(error.code)) return 'none';
  return undefined;
}

/** A photo-metadata answer as what it says about the Exchange photo. */
export function exchangePhotoFrom(result: BatchResult | undefined): ExchangePhoto {
  if (!result) return { kind: 'error', message: 'no answer' };
  if (result.kind === 'failed') return { kind: 'error', message: result.message };
  return exchangePhotoFromResponse(result.response);
}

export function exchangePhotoFromResponse(response: Pick<BatchResponse, 'status' | 'body'>): ExchangePhoto {
  if (response.status === 200) {
    const body = response.body as { '@odata.mediaEtag'?: unknown; width?: unknown; id?: unknown } | null;
    const etag = body?.['@odata.mediaEtag'];
    // Graph once answered a user without a photo with a 1×1 GIF and an empty ETag; it is no photo.
    if (typeof etag !== 'string' || etag === '' || body?.id === '1x1') return { kind: 'none' };
    return { kind: 'photo', etag, side: typeof body?.width === 'number' ? body.width : 0 };
  }
  const error = graphError(response.status, response.body);
  const absence = photoAbsence(error);
  if (absence) return { kind: absence };
  return {
    kind: 'error',
    message: `Graph answered ${error.status}${error.code ? ` ${error.code}` : ''}${error.message ? `: ${error.message}` : ''}`,
    lasting: lastingRefusal(error.status),
  };
}

/** One size of a user's Exchange photo (`/photos/64x64/$value`), as a request inside a batch. */
export function smallPhotoRequest(userId: string, size: string): BatchRequest {
  return { id: userId, method: 'GET', url: `/users/${encodeURIComponent(userId)}/photos/${size}/$value` };
}

/** One size of an Exchange photo as a batch answered it: its bytes, none of that size, or why not. */
export type SmallPhoto = { kind: 'photo'; bytes: Buffer } | { kind: 'none' } | { kind: 'error'; message: string };

/** The largest small photo taken from a batch (Graph's 64 px JPEG is a few kilobytes). */
const MAX_SMALL_PHOTO_BYTES = 256 * 1024;

/**
 * A batched photo answer. Inside a batch Graph sends a body that is not JSON (the photo's bytes)
 * as a base64 string (<https://learn.microsoft.com/graph/json-batching>).
 */
export function smallPhotoFrom(result: BatchResult | undefined): SmallPhoto {
  if (!result) return { kind: 'error', message: 'no answer' };
  if (result.kind === 'failed') return { kind: 'error', message: result.message };
  const { status, body } = result.response;
  if (status !== 200) {
    const error = graphError(status, body);
    if (photoAbsence(error) === 'none') return { kind: 'none' };
    return { kind: 'error', message: graphFailure('Reading the Exchange photo failed', error).message };
  }
  if (typeof body !== 'string')
    return { kind: 'error', message: 'Graph answered the photo without its bytes (base64).' };
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length === 0) return { kind: 'error', message: 'Graph answered the photo with no bytes.' };
  if (bytes.length > MAX_SMALL_PHOTO_BYTES)
    return { kind: 'error', message: `Graph answered a small photo larger than ${MAX_SMALL_PHOTO_BYTES} bytes.` };
  return { kind: 'photo', bytes };
}

/** POST /v1.0/$batch, read as the batch scheduler needs it. */
export function graphBatchSender(http: TenantHttp, graphUrl: string, now: () => number): SendBatch {
  return async (requests): Promise<BatchEnvelope> => {
    let response: Response;
    try {
      response = await http.request('graph', `${graphUrl}/v1.0/$batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ requests }),
        // Sent once: runBatched retries a throttled batch, pausing every batch, not this one alone.
        attempts: 1,
      });
    } catch (error) {
      return { kind: 'retry', status: 0, message: describeError(error) };
    }
    const body = await readJson(response);
    if (response.ok) {
      const responses = (body as { responses?: unknown }).responses;
      if (!Array.isArray(responses))
        return { kind: 'retry', status: response.status, message: 'Graph answered the batch without "responses".' };
      return { kind: 'answered', responses: responses.flatMap(toBatchResponse) };
    }
    const error = graphError(response.status, body);
    const message = graphFailure('The batch failed', error).message;
    if (RETRY_LATER.has(response.status) || TRANSIENT.has(response.status)) {
      const wait = retryAfterMs(response.headers.get('retry-after'), now());
      return { kind: 'retry', status: response.status, message, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
    }
    return { kind: 'refused', status: response.status, message };
  };
}

function toBatchResponse(raw: unknown): BatchResponse[] {
  const item = raw as { id?: unknown; status?: unknown; headers?: unknown; body?: unknown };
  if (typeof item?.id !== 'string' || typeof item.status !== 'number') return [];
  const headers = item.headers && typeof item.headers === 'object' ? (item.headers as Record<string, string>) : {};
  return [{ id: item.id, status: item.status, headers, body: item.body ?? null }];
}

/**
 * A user's Exchange photo bytes: the largest (`/photo/$value`) for a push, or one size
 * (`/photos/64x64/$value`) for a comparison. `none` when Graph has no photo (of that size).
 */
export async function downloadPhoto(
  http: TenantHttp,
  graphUrl: string,
  userId: string,
  size?: string,
): Promise<{ kind: 'photo'; bytes: Buffer } | { kind: 'none' }> {
  const id = encodeURIComponent(userId);
  const url = size ? `${graphUrl}/v1.0/users/${id}/photos/${size}/$value` : `${graphUrl}/v1.0/users/${id}/photo/$value`;
  const response = await http.request('graph', url, { headers: { accept: 'image/*' } });
  if (!response.ok) {
    const error = graphError(response.status, await readJson(response));
    if (photoAbsence(error) === 'none') return { kind: 'none' };
    throw graphFailure('Reading the Exchange photo failed', error);
  }
  const bytes = await readBody(response, MAX_PHOTO_BYTES);
  if (!bytes) throw tenantError('unexpected', `Graph answered a photo larger than ${MAX_PHOTO_BYTES} bytes.`);
  return { kind: 'photo', bytes };
}

/** The metadata of one user's photo, outside a batch (a push reads it fresh). */
export async function readPhotoMetadata(http: TenantHttp, graphUrl: string, userId: string): Promise<ExchangePhoto> {
  const response = await http.request('graph', `${graphUrl}/v1.0/users/${encodeURIComponent(userId)}/photo`);
  return exchangePhotoFromResponse({ status: response.status, body: await readJson(response) });
}

/**
 * Graph's code for "no such user" (Request_ResourceNotFound, "Resource '…' does not exist"): any
 * other 404 (a wrong Graph URL, a path it does not know) says nothing about the user.
 */
const NO_SUCH_USER_CODES = new Set(['Request_ResourceNotFound', 'ResourceNotFound']);

/** One user by UPN or object id; undefined when the tenant has no such user. */
export async function lookupUser(http: TenantHttp, graphUrl: string, upnOrId: string): Promise<TenantUser | undefined> {
  const response = await http.request(
    'graph',
    `${graphUrl}/v1.0/users/${encodeURIComponent(upnOrId)}?$select=${USER_FIELDS}`,
  );
  const body = await readJson(response);
  const error = graphError(response.status, body);
  if (response.status === 404 && NO_SUCH_USER_CODES.has(error.code)) return undefined;
  if (!response.ok) throw graphFailure(`Looking up ${upnOrId} failed`, error);
  const user = toTenantUser(body)[0];
  if (!user) throw tenantError('unexpected', `Graph answered the user ${upnOrId} without an id or userPrincipalName.`);
  return user;
}
