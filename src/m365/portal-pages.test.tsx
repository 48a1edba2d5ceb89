import { describe, expect, it } from 'vitest';
import { translator } from '../web/i18n.js';
import type { PageContext } from '../web/layout.js';
import { homePage } from '../portal/pages.js';
import { tenantHomePage } from './portal-pages.js';

const context: PageContext & { user: { displayName: string; upn: string } } = {
  locale: 'en',
  t: translator('en'),
  csrfToken: 'token',
  user: { displayName: 'Mari Maasikas', upn: 'mari@contoso.com' },
};

/** The contents of the `tile-icon` span of the tile whose class is `tile-<app>`. */
function tileIcon(page: string, app: string): string | undefined {
  return new RegExp(`class="tile tile-${app}"><span class="tile-icon">(.*?)</span>`).exec(page)?.[1];
}

describe('connect-mode home page', () => {
  it('draws the OneDrive and SharePoint icons in the tiles, as the portal home page does', () => {
    const page = tenantHomePage(context, { state: null });
    for (const app of ['onedrive', 'sharepoint']) {
      const icon = tileIcon(page, app);
      expect(icon, app).toMatch(/^<svg class="app-icon"/);
      expect(icon).toBe(tileIcon(homePage(context), app));
    }
  });
});
