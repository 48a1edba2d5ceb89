import { describe, expect, it } from 'vitest';
import {
  smallPhotoFrom,
  smallPhotoRequest,
  exchangePhotoFromResponse,
  firstUsersPage,
  graphError,
  hasExchangeMailbox,
  USERS_PAGE_REQUEST_ID,
  usersPageFrom,
  usersPageRequest,
} from './graph.js';

// Shapes as Microsoft documents them:
// https://learn.microsoft.com/graph/api/profilephoto-get (metadata, the 1×1 answer, 404 when there is no photo)
// https://learn.microsoft.com/graph/json-batching (sub-responses carry status, headers and body)
describe('exchangePhotoFromResponse', () => {
  it("tells a lasting refusal (an access policy's 403) from a failure that may pass (throttled, a 5xx)", () => {
    const body = (code: string) => ({ error: { code, message: 'x' } });
    expect(exchangePhotoFromResponse({ status: 403, body: body('ErrorAccessDenied') })).toMatchObject({
      kind: 'error',
      lasting: true,
    });
    for (const status of [429, 503, 500, 408]) {
      expect(exchangePhotoFromResponse({ status, body: body('x') })).toMatchObject({ kind: 'error', lasting: false });
    }
  });

  it('reads the ETag and size of a photo', () => {
    const body = {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users(…)/photo/$entity',
      '@odata.mediaContentType': 'image/jpeg',
      '@odata.mediaEtag': '"BA09D118"',
      id: '240x240',
      width: 240,
      height: 240,
    };
    expect(exchangePhotoFromResponse({ status: 200, body })).toEqual({ kind: 'photo', etag: '"BA09D118"', side: 240 });
  });

  it.each([
    [
      '404 ImageNotFound',
      404,
      { error: { code: 'ImageNotFound', message: 'Exception of type …ImageNotFoundException was thrown.' } },
    ],
    ['404 without a code', 404, { error: { code: '', message: '' } }],
    [
      'the 1×1 GIF with an empty ETag',
      200,
      { '@odata.mediaContentType': 'image/gif', '@odata.mediaEtag': '', id: '1x1', width: 1, height: 1 },
    ],
  ])('takes %s as no photo', (_name, status, body) => {
    expect(exchangePhotoFromResponse({ status, body })).toEqual({ kind: 'none' });
  });

  it.each([
    [
      'the code',
      { error: { code: 'MailboxNotEnabledForRESTAPI', message: 'REST API is not yet supported for this mailbox.' } },
    ],
    ['the inner code', { error: { code: '', message: 'x', innerError: { code: 'MailboxNotEnabledForRESTAPI' } } }],
    ['the message', { error: { code: 'ResourceNotFound', message: 'MailboxNotEnabledForRESTAPI: no mailbox' } }],
  ])('takes MailboxNotEnabledForRESTAPI in %s as no mailbox', (_name, body) => {
    expect(exchangePhotoFromResponse({ status: 404, body })).toEqual({ kind: 'no_mailbox' });
  });

  it.each([
    ['ErrorNonExistentMailbox', 404],
    ['MailboxNotHostedInExchangeOnline', 404],
    ['MailboxNotHostedInExchangeOnline', 400],
  ])('takes %s (%i) as no mailbox: a hybrid user’s or a user without one', (code, status) => {
    const body = { error: { code, message: 'Mailbox is hosted by an on-premise or non-Exchange server.' } };
    expect(exchangePhotoFromResponse({ status, body })).toEqual({ kind: 'no_mailbox' });
  });

  it.each(['Request_ResourceNotFound', 'ResourceNotFound', 'ErrorInvalidUser', 'UnknownError'])(
    'takes a 404 %s as an error, never as no photo (a push would hide the SharePoint picture)',
    (code) => {
      const body = { error: { code, message: 'Not found.' } };
      expect(exchangePhotoFromResponse({ status: 404, body })).toMatchObject({ kind: 'error' });
      expect(
        smallPhotoFrom({ kind: 'answered', response: { id: 'u1', status: 404, headers: {}, body } }),
      ).toMatchObject({ kind: 'error' });
    },
  );

  it('reports other answers as errors, with Graph’s code', () => {
    expect(
      exchangePhotoFromResponse({
        status: 403,
        body: { error: { code: 'ErrorAccessDenied', message: 'Access is denied.' } },
      }),
    ).toEqual({
      kind: 'error',
      message: 'Graph answered 403 ErrorAccessDenied: Access is denied.',
      lasting: true,
    });
    expect(
      exchangePhotoFromResponse({
        status: 404,
        body: { error: { code: 'Request_ResourceNotFound', message: 'gone' } },
      }),
    ).toMatchObject({
      kind: 'error',
    });
  });
});

describe('hasExchangeMailbox', () => {
  it('finds an enabled Exchange plan among the provisioned plans', () => {
    const plans = [
      { capabilityStatus: 'Enabled', provisioningStatus: 'Success', service: 'SharePoint' },
      { capabilityStatus: 'Enabled', provisioningStatus: 'Success', service: 'exchange' },
    ];
    expect(hasExchangeMailbox(plans)).toBe(true);
    expect(
      hasExchangeMailbox([{ capabilityStatus: 'Deleted', provisioningStatus: 'Success', service: 'exchange' }]),
    ).toBe(false);
    expect(hasExchangeMailbox([])).toBe(false);
    expect(hasExchangeMailbox(undefined)).toBeNull();
  });
});

describe('graph requests', () => {
  it('lists users with only the properties connect mode needs, in Graph’s largest pages, counted', () => {
    expect(firstUsersPage('https://graph.microsoft.com')).toBe(
      'https://graph.microsoft.com/v1.0/users?$select=id,userPrincipalName,displayName,accountEnabled,provisionedPlans&$top=999&$count=true',
    );
    expect(firstUsersPage('https://graph.microsoft.com', false)).not.toMatch(/\$count/);
  });

  it('sends a next page inside a batch, relative to the version root, still as an advanced query', () => {
    const link =
      'https://graph.microsoft.com/v1.0/users?%24select=id%2CuserPrincipalName&%24top=999&%24count=true&%24skiptoken=X1';
    expect(usersPageRequest('https://graph.microsoft.com', link)).toEqual({
      id: USERS_PAGE_REQUEST_ID,
      method: 'GET',
      url: '/users?%24select=id%2CuserPrincipalName&%24top=999&%24count=true&%24skiptoken=X1',
      headers: { ConsistencyLevel: 'eventual' },
    });
    expect(
      usersPageRequest('https://graph.microsoft.com', 'https://graph.microsoft.com/v1.0/users?$skiptoken=X1'),
    ).toEqual({
      id: USERS_PAGE_REQUEST_ID,
      method: 'GET',
      url: '/users?$skiptoken=X1',
    });
    // A link on another host or version is asked for on its own, never through this Graph's batch.
    expect(usersPageRequest('https://graph.microsoft.com', 'https://graph.microsoft.us/v1.0/users?$skiptoken=X1')).toBe(
      undefined,
    );
    expect(usersPageRequest('https://graph.microsoft.com', 'https://graph.microsoft.com/beta/users')).toBe(undefined);
  });

  it('reads a page of the listing with its count, from a response or a batch answer', () => {
    const page = usersPageFrom(200, {
      '@odata.count': 1200,
      '@odata.nextLink': 'https://graph.microsoft.com/v1.0/users?$skiptoken=X1',
      value: [{ id: 'ABC', userPrincipalName: 'Jane@Contoso.com', displayName: 'Jane', accountEnabled: true }],
    });
    expect(page).toEqual({
      users: [{ id: 'abc', upn: 'jane@contoso.com', displayName: 'Jane', accountEnabled: true, hasMailbox: null }],
      nextLink: 'https://graph.microsoft.com/v1.0/users?$skiptoken=X1',
      count: 1200,
    });
    expect(usersPageFrom(200, { value: [] })).toEqual({ users: [], nextLink: null, count: null });
    expect(() => usersPageFrom(400, { error: { code: 'Request_BadRequest', message: 'no' } })).toThrow(/400/);
  });

  it('reads Graph’s error envelope and drops credentials from its text', () => {
    expect(
      graphError(401, {
        error: { code: 'InvalidAuthenticationToken', message: 'Bad token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln' },
      }),
    ).toEqual({
      status: 401,
      code: 'InvalidAuthenticationToken',
      message: 'Bad token [removed]',
    });
  });
});

describe('small photos inside a batch', () => {
  const answered = (status: number, body: unknown) =>
    ({ kind: 'answered', response: { id: 'u1', status, headers: {}, body } }) as const;

  it('asks for one size by the user id, relative to the version root', () => {
    expect(smallPhotoRequest('a b', '64x64')).toEqual({
      id: 'a b',
      method: 'GET',
      url: '/users/a%20b/photos/64x64/$value',
    });
  });

  it('reads the bytes Graph sends as base64, and says none, or why not, otherwise', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    expect(smallPhotoFrom(answered(200, jpeg.toString('base64')))).toEqual({ kind: 'photo', bytes: jpeg });
    expect(
      smallPhotoFrom(answered(404, { error: { code: 'ImageNotFound', message: 'The photo wasn’t found.' } })),
    ).toEqual({
      kind: 'none',
    });
    expect(
      smallPhotoFrom(answered(403, { error: { code: 'ErrorAccessDenied', message: 'Access is denied.' } })),
    ).toMatchObject({
      kind: 'error',
      message: expect.stringMatching(/403.*ErrorAccessDenied/),
    });
    expect(smallPhotoFrom(answered(200, { id: '64X64' }))).toMatchObject({ kind: 'error', message: /base64/ });
    expect(smallPhotoFrom(answered(200, ''))).toMatchObject({ kind: 'error' });
    expect(smallPhotoFrom(answered(200, Buffer.alloc(300 * 1024).toString('base64')))).toMatchObject({
      kind: 'error',
      message: /larger than/,
    });
    expect(smallPhotoFrom({ kind: 'failed', message: 'throttled 8 times' })).toEqual({
      kind: 'error',
      message: 'throttled 8 times',
    });
    expect(smallPhotoFrom(undefined)).toMatchObject({ kind: 'error' });
  });
});
