import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

// Debian's Chromium driven through playwright-core: no browser is ever downloaded. Without
// /usr/bin/chromium the browser tests are skipped with a reason, unless
// PHOTOSYNC_REQUIRE_CHROMIUM=1 (CI), where a missing browser fails the run.

export const CHROMIUM_PATH = process.env.PHOTOSYNC_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** Why the browser tests cannot run here, or undefined when they can. Throws when CI requires them. */
export function chromiumMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM_PATH)) return undefined;
  const reason = `Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium)`;
  if (process.env.PHOTOSYNC_REQUIRE_CHROMIUM === '1') {
    throw new Error(`${reason}; PHOTOSYNC_REQUIRE_CHROMIUM=1 requires it.`);
  }
  console.warn(`\n${reason}: skipping the browser tests.\n`);
  return reason;
}

/** `extraArgs`: e.g. the key of a test server's certificate to trust (--ignore-certificate-errors-spki-list). */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...FLAGS, ...extraArgs], headless: true });
}
