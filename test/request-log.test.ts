import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { makeUser, tokenFor } from './support/factories.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// What the log says about a refused request: its reason and address, not a stack trace of
// photosync's code (a routine 403 was ten frames at info level).

let store: TestStore;
let services: Services;
let app: App;
const lines: string[] = [];

beforeAll(async () => {
  store = await createTestStore('sqlite');
  services = await openTestServices(store, {}, { log: pino({ level: 'info' }, { write: (line) => lines.push(line) }) });
  app = await buildApp(services);
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await services?.close();
  await store?.drop();
});

it('logs a refusal with its reason and no stack trace', async () => {
  const user = await makeUser(services);
  const response = await app.inject({
    url: '/admin/api/overview',
    headers: { authorization: `Bearer ${await tokenFor(services, user)}` },
  });
  expect(response.statusCode).toBe(403);
  const logged = lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((l) => l.msg === 'request failed');
  expect(logged).toHaveLength(1);
  expect(logged[0]).toMatchObject({ id: 'forbidden', url: '/admin/api/overview', reason: expect.any(String) });
  expect(logged[0]).not.toHaveProperty('err');
  expect(JSON.stringify(logged[0])).not.toContain('    at ');
});
