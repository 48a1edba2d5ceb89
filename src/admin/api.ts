import type { FastifyRequest } from 'fastify';
import { forbidden, invalidInput } from '../errors.js';
import { signedInUser } from '../http/auth.js';
import { jsonTypeProblem } from '../http/json-types.js';
import { routeDefaults, type App } from '../http/types.js';
import type { Services } from '../services.js';
import { ADMINS } from './access.js';
import { askToSync, operatorSync, userDetail } from './actions.js';
import { API_SCHEMAS } from './api-schemas.js';
import { listAudit } from './audit.js';
import { answeredSettings } from './settings.js';
import { countByState, listUsersPage } from './users-query.js';

// The console's JSON API for scripts: a bearer token or a session of an admin.

export function adminApiRoutes(app: App, services: Services): void {
  const { db } = services.database;
  routeDefaults(app, { auth: ADMINS });
  /** A session cookie alone must not let another site's form post here: writes take JSON. */
  const requireJson = (request: FastifyRequest) => {
    if (!request.headers.authorization && !request.headers['content-type']?.startsWith('application/json')) {
      throw forbidden('Send the request body as JSON (Content-Type: application/json).');
    }
  };
  /** Before the schema (which coerces): a JSON body's values must be of their own types. */
  const jsonTypesAsSent = (schema: object) => async (request: FastifyRequest) => {
    if (!request.headers['content-type']?.startsWith('application/json')) return;
    const problem = jsonTypeProblem(schema, request.body);
    // The same error as the schema's own (an unknown field, a value out of range).
    if (problem) throw invalidInput(`The request is not valid: ${problem}.`, 'invalid_request');
  };

  app.get(
    '/admin/api/overview',
    {
      schema: API_SCHEMAS.overview,
    },
    async () => ({ states: await countByState(db) }),
  );

  app.get(
    '/admin/api/users',
    {
      schema: API_SCHEMAS.users,
    },
    async (request) => {
      return listUsersPage(db, request.query);
    },
  );

  app.get(
    '/admin/api/users/:upn',
    {
      schema: API_SCHEMAS.user,
    },
    async (request) => {
      return userDetail(services, request.params.upn);
    },
  );

  app.post(
    '/admin/api/prompts',
    {
      schema: API_SCHEMAS.prompt,
      preValidation: jsonTypesAsSent(API_SCHEMAS.prompt.body),
    },
    async (request) => {
      const actor = signedInUser(request);
      requireJson(request);
      const { upns, allOutOfStep } = request.body;
      if ((upns === undefined) === (allOutOfStep !== true)) {
        throw invalidInput('Give either "upns" (a list of users) or "allOutOfStep": true.');
      }
      return askToSync(services, actor, allOutOfStep ? { allOutOfStep: true } : { upns: upns ?? [] });
    },
  );

  app.post(
    '/admin/api/sync',
    {
      schema: API_SCHEMAS.sync,
      preValidation: jsonTypesAsSent(API_SCHEMAS.sync.body),
    },
    async (request) => {
      const actor = signedInUser(request);
      requireJson(request);
      return { results: (await operatorSync(services, actor, request.body.upns)).results };
    },
  );

  app.get('/admin/api/settings', { schema: API_SCHEMAS.settings }, async () =>
    answeredSettings(services.config, await services.settings.refresh()),
  );

  app.patch(
    '/admin/api/settings',
    {
      schema: API_SCHEMAS.changeSettings,
      preValidation: jsonTypesAsSent(API_SCHEMAS.changeSettings.body),
    },
    async (request) => {
      const actor = signedInUser(request);
      requireJson(request);
      const changed = Object.keys(await services.settings.update(request.body, actor));
      return { settings: answeredSettings(services.config, services.settings.current()), changed };
    },
  );

  app.get(
    '/admin/api/audit',
    {
      schema: API_SCHEMAS.audit,
    },
    async (request) => {
      return listAudit(db, request.query);
    },
  );
}
