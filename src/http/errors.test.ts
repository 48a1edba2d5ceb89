import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEntraError } from '../directory/entra-error-renderer.js';
import { AppError, notFound, unauthorized } from '../errors.js';
import { renderGraphError } from '../graph/errors.js';
import { createSharePointErrorRenderer, sharePointChallenge } from '../sites/rest-errors.js';
import { installErrorHandler, installNotFoundHandler, renderJsonError, type ErrorHandling } from './errors.js';
import { routeDefaults, type App, type Envelope } from './types.js';

// One handler, one renderer per envelope: the same thrown error in each envelope's shape, the
// envelope chosen by what the route (or the API mounted at an address) declares.

const ENVELOPES = ['graph', 'sharepoint', 'entra', 'json'] as const;
const TENANT = '5f1d2c3b-0000-4000-8000-00000000abcd';
const THROWN: Record<string, () => unknown> = {
  unauthenticated: () => unauthorized(undefined, 'expired'),
  userNotFound: () => notFound('There is no user x.', 'user_not_found'),
  invalidImage: () => new AppError('image_corrupt', 'The picture is damaged.'),
  tokenGrant: () => new AppError('invalid_grant', 'Error validating credentials.', { aadsts: 50053 }),
  bug: () => new Error('secret internals'),
  forbiddenDigest: () => new AppError('digest_invalid', 'The security validation for this page is invalid.'),
};

let app: App;

beforeAll(async () => {
  const handling: ErrorHandling = {
    renderers: {
      graph: renderGraphError,
      sharepoint: createSharePointErrorRenderer(
        sharePointChallenge(
          async () => TENANT,
          (tenant) => `https://photosync.example/${tenant}/oauth2/v2.0/authorize`,
        ),
      ),
      entra: renderEntraError,
      json: renderJsonError,
      page: () => {
        throw new Error('no pages here');
      },
    },
    envelopeOfAddress: (request) => (request.url.startsWith('/graph/') ? 'graph' : 'json'),
    logs: () => false,
  };
  app = Fastify() as unknown as App;
  installErrorHandler(app, handling);
  installNotFoundHandler(app, handling);
  for (const envelope of ENVELOPES) {
    await app.register(
      async (api) => {
        routeDefaults(api as App, { envelope });
        for (const [name, thrown] of Object.entries(THROWN)) {
          api.get(`/${name}`, () => {
            throw thrown();
          });
        }
        // A route may answer in another envelope than its API's.
        api.get('/own', { config: { envelope: 'json' } }, () => {
          throw notFound('Nothing.');
        });
      },
      { prefix: `/${envelope}` },
    );
  }
});
afterAll(() => app.close());

const get = (envelope: Envelope, name: string, accept?: string) =>
  app.inject({ url: `/${envelope}/${name}`, headers: accept ? { accept } : {} });

describe('the one error handler', () => {
  it('answers each error in every envelope with the status that envelope uses', async () => {
    const expected: Record<string, Record<(typeof ENVELOPES)[number], number>> = {
      unauthenticated: { graph: 401, sharepoint: 401, entra: 401, json: 401 },
      userNotFound: { graph: 404, sharepoint: 404, entra: 404, json: 404 },
      invalidImage: { graph: 400, sharepoint: 400, entra: 400, json: 400 },
      tokenGrant: { graph: 400, sharepoint: 400, entra: 400, json: 400 },
      bug: { graph: 500, sharepoint: 500, entra: 500, json: 500 },
      forbiddenDigest: { graph: 403, sharepoint: 403, entra: 403, json: 403 },
    };
    for (const [name, statuses] of Object.entries(expected)) {
      for (const envelope of ENVELOPES) {
        const response = await get(envelope, name);
        expect(response.statusCode, `${name} in ${envelope}`).toBe(statuses[envelope]);
        expect(response.body, `${name} in ${envelope}`).not.toContain('secret internals');
      }
    }
  });

  it("Graph: {error:{code,message,innerError}} with Graph's codes and words, and the request-id", async () => {
    const response = await get('graph', 'unauthenticated');
    expect(response.json()).toEqual({
      error: {
        code: 'InvalidAuthenticationToken',
        message: 'Lifetime validation failed, the token is expired.',
        innerError: {
          date: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
          'request-id': response.headers['request-id'],
          'client-request-id': response.headers['request-id'],
        },
      },
    });
    expect((await get('graph', 'userNotFound')).json().error.code).toBe('Request_ResourceNotFound');
    expect((await get('graph', 'invalidImage')).json().error.code).toBe('ErrorInvalidImage');
    expect((await get('graph', 'bug')).json().error.code).toBe('generalException');
  });

  it('SharePoint: odata.error, or error in odata=verbose, with "HRESULT, exception" codes', async () => {
    const verbose = await get('sharepoint', 'unauthenticated', 'application/json;odata=verbose');
    expect(verbose.headers['content-type']).toBe('application/json;odata=verbose;charset=utf-8');
    // As SharePoint Online's 401: the realm (the tenant id) and SharePoint's own client id.
    expect(verbose.headers['www-authenticate']).toBe(
      `Bearer realm="${TENANT}",client_id="00000003-0000-0ff1-ce00-000000000000",` +
        `authorization_uri="https://photosync.example/${TENANT}/oauth2/v2.0/authorize",error="invalid_token"`,
    );
    expect((await get('sharepoint', 'forbiddenDigest', 'application/json;odata=verbose')).json().error.code).toBe(
      '-2130575251, Microsoft.SharePoint.SPException',
    );
    expect(verbose.json()).toEqual({
      error: {
        code: '-2147024891, System.UnauthorizedAccessException',
        message: { lang: 'en-US', value: 'The access token has expired.' },
      },
    });
    const plain = await get('sharepoint', 'userNotFound', 'application/json;odata=nometadata');
    expect(plain.json()).toEqual({
      'odata.error': {
        code: '-2146232832, Microsoft.SharePoint.SPException',
        message: { lang: 'en-US', value: 'There is no user x.' },
      },
    });
    expect((await get('sharepoint', 'invalidImage')).json().error.code).toBe('-1, image_corrupt');
  });

  it("Entra: OAuth's error and error_description with the AADSTS number, never cached", async () => {
    const response = await get('entra', 'tokenGrant');
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(
      ['correlation_id', 'error', 'error_codes', 'error_description', 'timestamp', 'trace_id'].sort(),
    );
    expect(body.error).toBe('invalid_grant');
    expect(body.error_codes).toEqual([50053]);
    expect(body.error_description).toMatch(
      /^AADSTS50053: Error validating credentials\.\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
    );
    expect((await get('entra', 'bug')).json().error).toBe('server_error');
  });

  it("photosync's JSON: {error:{code:<id>,message}}", async () => {
    expect((await get('json', 'userNotFound')).json()).toEqual({
      error: { code: 'user_not_found', message: 'There is no user x.' },
    });
    expect((await get('json', 'bug')).json()).toEqual({
      error: { code: 'internal_error', message: 'Something went wrong on our side. Please try again.' },
    });
  });

  it("uses a route's own envelope over its API's", async () => {
    expect((await get('graph', 'own')).json()).toEqual({ error: { code: 'not_found', message: 'Nothing.' } });
  });

  it('answers an address no route has in the envelope of the API mounted there', async () => {
    const graph = await app.inject({ url: '/graph/nothing/here' });
    expect(graph.statusCode).toBe(400);
    expect(graph.json().error).toMatchObject({
      code: 'BadRequest',
      message: 'Resource not found for the segment in /graph/nothing/here.',
    });
    const elsewhere = await app.inject({ url: '/nothing' });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.json()).toEqual({ error: { code: 'not_found', message: 'There is nothing at /nothing.' } });
  });
});
