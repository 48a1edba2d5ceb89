import cookie from '@fastify/cookie';
import Fastify, { type FastifyError } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSession, createToken } from '../src/directory/credentials.js';
import { AppError } from '../src/errors.js';
import { SESSION_COOKIE, authenticateRequests, type RouteAuth } from '../src/http/auth.js';
import type { App } from '../src/http/types.js';
import type { Services } from '../src/services.js';
import { makeUser } from './support/factories.js';
import { createTestStore, describeEachDialect, openTestServices, type TestStore } from './support/services.js';

// The auth hook: credentials are read once, before the body, only for routes that declare
// `config.auth`; a present Authorization header always decides; whom a route does not admit is
// refused before anything else about the request is looked at.

describeEachDialect('the auth hook', (dialect) => {
  let store: TestStore;
  let services: Services;
  let app: App;
  let databaseTouches = 0;
  let session: string;
  let adminSession: string;
  let token: string;

  beforeAll(async () => {
    store = await createTestStore(dialect);
    services = await openTestServices(store);
    const { db, reads } = services.database;
    // Counts every use of the database handle, to see which requests did database work.
    const counted = new Proxy(db, {
      get(target, property) {
        databaseTouches++;
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const user = await makeUser(services);
    const admin = await makeUser(services, { isAdmin: true });
    session = await createSession(db, user.id, 60_000);
    adminSession = await createSession(db, admin.id, 60_000);
    token = await createToken(db, user.id, 'hook test');

    app = Fastify() as unknown as App;
    await app.register(cookie);
    authenticateRequests(app, { db: counted, publicUrl: services.config.publicUrl, reads });
    app.setErrorHandler((error: FastifyError, _request, reply) =>
      error instanceof AppError
        ? reply.status(error.status).send({ id: error.id, detail: error.detail })
        : reply.status(error.statusCode ?? 500).send({ id: error.code }),
    );
    const route = (path: string, auth: RouteAuth | undefined) =>
      app.post(path, { bodyLimit: 64, config: auth ? { auth } : {} }, (request) => ({
        principal:
          request.principal === undefined
            ? null
            : { kind: request.principal.kind, via: request.principal.kind === 'user' ? request.principal.via : null },
        sameReads: request.reads === request.reads,
      }));
    route('/open', undefined);
    route('/anyone', { credentials: 'session-or-opaque-token', allow: 'anyone' });
    route('/api', { credentials: 'token', allow: 'principal' });
    route('/site', { credentials: 'token-or-session', allow: 'user' });
    route('/admin', { credentials: 'session-or-opaque-token', allow: 'admin' });
    route('/page', { credentials: 'session', allow: 'user' });
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
    await store?.drop();
  });

  const post = (url: string, headers: Record<string, string>, payload = '{}') =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });
  const cookieOf = (id: string) => ({ cookie: `${SESSION_COOKIE}=${id}` });

  it('reads no credentials, and touches no database, for a route that declares none', async () => {
    databaseTouches = 0;
    const response = await post('/open', { authorization: `Bearer ${token}`, ...cookieOf(session) });
    expect(response.statusCode).toBe(200);
    expect(response.json().principal).toBeNull();
    expect(databaseTouches).toBe(0);
  });

  it('reads the principal once, before the handler, and lets anyone through where the route says so', async () => {
    databaseTouches = 0;
    expect((await post('/anyone', cookieOf(session))).json().principal).toEqual({ kind: 'user', via: 'session' });
    expect(databaseTouches).toBeGreaterThan(0);
    expect((await post('/anyone', {})).json().principal).toBeNull();
    expect((await post('/anyone', { authorization: 'Bearer pst_nobody' })).statusCode).toBe(200);
  });

  it('lets a present Authorization header decide: a bad token is never rescued by a good cookie', async () => {
    const refused = await post('/site', { authorization: 'Bearer pst_wrong', ...cookieOf(session) });
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toEqual({ id: 'unauthorized', detail: { credentials: 'invalid' } });
    const malformed = await post('/site', { authorization: 'Basic abc', ...cookieOf(session) });
    expect(malformed.json().detail).toEqual({ credentials: 'malformed' });
    expect((await post('/site', cookieOf(session))).json().principal).toEqual({ kind: 'user', via: 'session' });
    expect((await post('/site', { authorization: `Bearer ${token}` })).json().principal).toEqual({
      kind: 'user',
      via: 'token',
    });
  });

  it('takes bearer tokens only where the credentials say so (Graph ignores the session cookie)', async () => {
    const cookieOnly = await post('/api', cookieOf(session));
    expect(cookieOnly.statusCode).toBe(401);
    expect(cookieOnly.json().detail).toEqual({ credentials: 'missing' });
    expect((await post('/api', { authorization: `Bearer ${token}` })).statusCode).toBe(200);
  });

  it('refuses non-admins before reading the body: 403 for a body over the limit, not 413', async () => {
    const big = JSON.stringify({ x: 'y'.repeat(1000) });
    expect((await post('/admin', cookieOf(session), big)).statusCode).toBe(403);
    expect((await post('/admin', {}, big)).statusCode).toBe(401);
    expect((await post('/admin', cookieOf(adminSession), big)).statusCode).toBe(413);
    expect((await post('/admin', cookieOf(adminSession))).json().principal).toEqual({ kind: 'user', via: 'session' });
  });

  it('takes the session cookie only on pages: a bearer token is not looked at, good or bad', async () => {
    const tokenOnly = await post('/page', { authorization: `Bearer ${token}` });
    expect(tokenOnly.statusCode).toBe(401);
    expect(tokenOnly.json().detail).toEqual({ credentials: 'missing' });
    // A browser behind a proxy with basic auth sends an Authorization header on every request.
    const withBasic = await post('/page', { authorization: 'Basic abc', ...cookieOf(session) });
    expect(withBasic.json().principal).toEqual({ kind: 'user', via: 'session' });
  });
});
