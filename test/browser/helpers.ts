import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import sharp from 'sharp';
import { en } from '../../src/web/messages/en.js';
import { et } from '../../src/web/messages/et.js';
import { meanColour } from '../support/factories.js';

// Steps a person takes in the browser, and what they see, for the browser tests.

export const PASSWORD = 'correct horse battery';

export async function signIn(page: Page, baseUrl: string, upn: string): Promise<void> {
  await page.goto(`${baseUrl}/signin`);
  await page.fill('#upn', upn);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${baseUrl}/`), page.click('form[action="/signin"] button[type=submit]')]);
}

/** A private window: a context of its own, with no cookies from any other. */
export function privateWindow(
  browser: { newContext(options: object): Promise<BrowserContext> },
  locale = 'en-GB',
  viewport = { width: 1280, height: 900 },
): Promise<BrowserContext> {
  return browser.newContext({ locale, viewport });
}

/**
 * Runs an action that loads a new document, possibly at the same address, and waits until that new
 * document has loaded (waiting for the address alone would be satisfied by the old page at once).
 */
export async function loadsNewPage(page: Page, action: () => Promise<unknown>): Promise<void> {
  await page.evaluate(() => {
    (window as { photosyncOldPage?: boolean }).photosyncOldPage = true;
  });
  await action();
  await page.waitForFunction(
    () => !(window as { photosyncOldPage?: boolean }).photosyncOldPage && document.readyState === 'complete',
  );
}

/** The language switch: in the account menu for someone signed in, in the suite bar otherwise. */
export async function switchLanguage(page: Page): Promise<void> {
  const accountMenu = page.locator('.suite-bar .account > button');
  if ((await accountMenu.count()) > 0) await accountMenu.click();
  await loadsNewPage(page, () => page.click('.suite-bar .lang-switch button'));
}

export async function uploadPhoto(page: Page, file: { name: string; mimeType: string; buffer: Buffer }) {
  await page.setInputFiles('#photo', file);
  await loadsNewPage(page, () => page.click('form.upload button[type=submit]'));
}

/** The average colour the browser actually paints in the middle of an image. */
export async function shownColour(image: Locator): Promise<[number, number, number]> {
  // Waits for the image's own load event (or fails on its error) rather than asking again and again.
  await image.evaluate((img: HTMLImageElement) =>
    img.complete
      ? img.naturalWidth > 0 || Promise.reject(new Error(`${img.currentSrc} did not load`))
      : new Promise<boolean>((resolve, reject) => {
          img.addEventListener('load', () => resolve(true), { once: true });
          img.addEventListener('error', () => reject(new Error(`${img.currentSrc} did not load`)), { once: true });
        }),
  );
  const png = await image.screenshot();
  const { width = 0, height = 0 } = await sharp(png).metadata();
  const middle = await sharp(png)
    .extract({
      left: Math.floor(width / 3),
      top: Math.floor(height / 3),
      width: Math.max(1, Math.floor(width / 3)),
      height: Math.max(1, Math.floor(height / 3)),
    })
    .toBuffer();
  return meanColour(middle);
}

/** Every English catalog string (templates as patterns), except those spelled the same in Estonian. */
const ENGLISH = Object.entries(en)
  .filter(([key, value]) => key !== 'lang.name' && et[key as keyof typeof et] !== value)
  .map(([key, value]) => ({
    key,
    pattern: new RegExp(`^${value.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '.+')}$`, 's'),
  }));

/** Visible text and the alt/aria-label/placeholder/title attributes of the page, one string each. */
export async function pageStrings(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [document.title];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest('script, style, [hidden]')) continue;
      const text = node.textContent?.trim();
      if (text) found.push(text);
    }
    for (const element of Array.from(document.querySelectorAll('*'))) {
      for (const name of [
        'alt',
        'aria-label',
        'placeholder',
        'title',
        'data-too-large',
        'data-not-picture',
        'data-corrupt',
        'data-unusable',
        'data-svg',
      ]) {
        const value = element.getAttribute(name)?.trim();
        if (value) found.push(value);
      }
    }
    return found;
  });
}

/** The strings of the page that are English catalog text: none may be left on an Estonian page. */
export async function englishOn(page: Page): Promise<string[]> {
  const strings = await pageStrings(page);
  return strings.filter((s) => ENGLISH.some(({ pattern }) => pattern.test(s))).map((s) => `${page.url()}: ${s}`);
}

type DroppedFile = { name: string; mimeType: string; buffer: Buffer };

/** Drops files on the upload form's drop zone, as dragging them from the desktop does. */
export async function dropPhoto(page: Page, dropped: DroppedFile | DroppedFile[]) {
  const files = (Array.isArray(dropped) ? dropped : [dropped]).map(({ name, mimeType, buffer }) => ({
    name,
    mimeType,
    bytes: [...buffer],
  }));
  await page.evaluate((files) => {
    const transfer = new DataTransfer();
    for (const { name, mimeType, bytes } of files) {
      transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mimeType }));
    }
    const zone = document.querySelector('[data-drop-zone]');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      zone?.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
  }, files);
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface AxeResult {
  violations: Array<{ id: string; nodes: Array<{ target: unknown }> }>;
}

/**
 * axe-core served over HTTP with a long cache lifetime, for tests that run it on many pages: a page
 * that keeps its renderer loads it from the browser's cache, compiled once (about 0.05 s a page
 * instead of 0.7 s for the same 650 KB injected inline).
 */
export async function serveAxe(): Promise<{ url: string; close(): Promise<void> }> {
  const script = fs.readFileSync(AXE);
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'public, max-age=3600' });
    response.end(script);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/axe.min.js`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * axe-core's violations on the page as it stands, one line each (rule and elements). The page's
 * context needs `bypassCSP: true`: the pages allow no inline script, the injected axe is let through.
 * `axeUrl` (serveAxe's) loads axe from there instead of injecting its text.
 */
export async function axeViolations(page: Page, axeUrl?: string): Promise<string[]> {
  await page.addScriptTag(axeUrl ? { url: axeUrl } : { path: AXE });
  const result = await page.evaluate(
    // Violations only: axe skips collecting the passes and incomplete results nobody reads here.
    () =>
      (window as unknown as { axe: { run(context: Document, options: object): Promise<AxeResult> } }).axe.run(
        document,
        { resultTypes: ['violations'] },
      ),
  );
  return result.violations.map((v) => `${page.url()}: ${v.id} ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}
