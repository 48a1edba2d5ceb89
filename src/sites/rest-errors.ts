import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorKind, invalidInput, notFound, type AppError } from '../errors.js';
import { odataFormatOf } from './rest-odata.js';

// SharePoint's error envelope, in the JSON flavour the Accept header asks for:
// verbose {"error":{"code":"-1, Microsoft.SharePoint.Client.InvalidClientQueryException","message":{"lang":"en-US","value":"…"}}},
// the other flavours {"odata.error":{…}}. SharePoint's code for each error id is in the catalogue
// (src/errors.ts); its sentences are here.

const ACCESS_DENIED = 'Access denied. You do not have permission to perform this action or access this resource.';

/** The errors SharePoint's REST routes throw, in SharePoint's words. */
export const sharePointErrors = {
  badQuery: (message: string) => invalidInput(message, 'invalid_request'),
  userNotFound: (account: string) => notFound(`User not found: ${account}.`, 'user_not_found'),
};

function sharePointMessage(request: FastifyRequest, error: AppError): string {
  if (error.id === 'unauthorized') {
    return error.detail.credentials === 'expired' ? 'The access token has expired.' : ACCESS_DENIED;
  }
  if (error.id === 'not_found') return `The expression "${request.url.split('?')[0] ?? ''}" is not valid.`;
  return error.message;
}

export function renderSharePointError(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  const kind = errorKind(error.id);
  const format = odataFormatOf(request.headers.accept);
  const body = {
    code: kind.sharepoint?.code ?? `-1, ${error.id}`,
    message: { lang: 'en-US', value: sharePointMessage(request, error) },
  };
  return reply
    .status(kind.sharepoint?.status ?? error.status)
    .type(`application/json;odata=${format};charset=utf-8`)
    .send(format === 'verbose' ? { error: body } : { 'odata.error': body });
}
