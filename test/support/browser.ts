import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import type { Services } from '../../src/services.js';
import { launchChromium } from './chromium.js';

export { CHROMIUM_PATH, chromiumMissing, launchChromium } from './chromium.js';

/**
 * One browser for a test file, closed after it. Read `.browser` inside tests; use
 * `describe.skipIf(chromiumMissing())` around the tests so a laptop without Chromium skips them.
 */
export function useBrowser(): { browser: Browser } {
  const holder = {} as { browser: Browser };
  beforeAll(async () => {
    holder.browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await holder.browser?.close();
  });
  return holder;
}

/** The real app listening on a real port (0: the OS picks one). Returns its base URL. */
export async function listen(services: Services): Promise<{ app: App; baseUrl: string }> {
  const app = await buildApp(services);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('The server has no TCP address.');
  return { app, baseUrl: `http://127.0.0.1:${address.port}` };
}

/** useTestServices-style: the real server on port 0 for the whole file, closed after it. */
export function useServer(services: () => Services): { app: App; baseUrl: string } {
  const holder = {} as { app: App; baseUrl: string };
  beforeAll(async () => {
    Object.assign(holder, await listen(services()));
  });
  afterAll(async () => {
    await holder.app?.close();
  });
  return holder;
}
