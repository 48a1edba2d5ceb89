import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalidInput, notFound, type AppError, type ErrorId } from '../errors.js';
import { odataFormatOf } from './rest-odata.js';

// SharePoint's error envelope, in the JSON flavour the Accept header asks for:
// verbose {"error":{"code":"-1, Microsoft.SharePoint.Client.InvalidClientQueryException","message":{"lang":"en-US","value":"…"}}},
// the other flavours {"odata.error":{…}}. SharePoint's code (and status, where SharePoint's differs)
// for each error id of the catalogue is here.

const INVALID_QUERY = '-1, Microsoft.SharePoint.Client.InvalidClientQueryException';
const UNAUTHORIZED_ACCESS = '-2147024891, System.UnauthorizedAccessException';

/** SharePoint's codes for the catalogue's ids; `-1, <id>` for the others. */
const SHAREPOINT_CODES: Partial<Record<ErrorId, { code: string; status?: number }>> = {
  invalid_request: { code: INVALID_QUERY },
  unauthorized: { code: UNAUTHORIZED_ACCESS },
  forbidden: { code: UNAUTHORIZED_ACCESS },
  profile_forbidden: { code: UNAUTHORIZED_ACCESS },
  // What SharePoint answers a missing, foreign or timed-out form digest with, which clients that
  // get a new digest and try again look for.
  digest_invalid: { code: '-2130575251, Microsoft.SharePoint.SPException' },
  // SharePoint answers an address it does not have with 400.
  not_found: { code: INVALID_QUERY, status: 400 },
  user_not_found: { code: '-2146232832, Microsoft.SharePoint.SPException' },
  file_not_found: { code: '-2147024894, System.IO.FileNotFoundException' },
  too_large: { code: '-2130575275, Microsoft.SharePoint.SPException' },
  upload_too_many_parts: { code: '-2130575275, Microsoft.SharePoint.SPException' },
  unsupported_type: { code: '-1, unsupported_type', status: 400 },
  internal_error: { code: '-1, System.Exception' },
};

const ACCESS_DENIED = 'Access denied. You do not have permission to perform this action or access this resource.';

/** The errors SharePoint's REST routes throw, in SharePoint's words. */
export const sharePointErrors = {
  badQuery: (message: string) => invalidInput(message, 'invalid_request'),
  userNotFound: (account: string) => notFound(`User not found: ${account}.`, 'user_not_found'),
  fileNotFound: (path: string) => notFound(`File Not Found: ${path}`, 'file_not_found'),
};

function sharePointMessage(request: FastifyRequest, error: AppError): string {
  if (error.id === 'unauthorized') {
    return error.detail.credentials === 'expired' ? 'The access token has expired.' : ACCESS_DENIED;
  }
  if (error.id === 'not_found') return `The expression "${request.url.split('?')[0] ?? ''}" is not valid.`;
  return error.message;
}

/** SharePoint Online's own client id, which its 401s name with the tenant as the token's realm. */
const SHAREPOINT_APP_ID = '00000003-0000-0ff1-ce00-000000000000';

/**
 * What SharePoint Online's 401s say (and RFC 6750 asks): that a bearer token is wanted and for
 * which realm: the tenant id, which tools such as PnP's TokenHelper.GetRealmFromTargetUrl read
 * from it. On the REST API's answers and the pictures' alike.
 */
export function sharePointChallenge(realm: () => Promise<string>, authorizeUrl: (tenant: string) => string) {
  return async function challenge(reply: FastifyReply, error: AppError): Promise<void> {
    if (error.status !== 401) return;
    // The tenant id is a setting read once; a database that cannot say leaves the realm empty.
    const tenant = await realm().catch(() => '');
    const invalid = error.detail.credentials !== undefined && error.detail.credentials !== 'missing';
    void reply.header(
      'www-authenticate',
      `Bearer realm="${tenant}",client_id="${SHAREPOINT_APP_ID}",authorization_uri="${authorizeUrl(tenant)}"` +
        (invalid ? ',error="invalid_token"' : ''),
    );
  };
}

/** SharePoint's errors, in its envelope, a 401 with its challenge. */
export function createSharePointErrorRenderer(challenge: ReturnType<typeof sharePointChallenge>) {
  return async function renderSharePointError(request: FastifyRequest, reply: FastifyReply, error: AppError) {
    await challenge(reply, error);
    return sendSharePointError(request, reply, error);
  };
}

function sendSharePointError(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  const sharepoint = SHAREPOINT_CODES[error.id];
  const format = odataFormatOf(request.headers.accept);
  const body = {
    code: sharepoint?.code ?? `-1, ${error.id}`,
    message: { lang: 'en-US', value: sharePointMessage(request, error) },
  };
  return reply
    .status(sharepoint?.status ?? error.status)
    .type(`application/json;odata=${format};charset=utf-8`)
    .send(format === 'verbose' ? { error: body } : { 'odata.error': body });
}
