import { describe, expect, it } from 'vitest';
import { translator } from '../web/i18n.js';
import { initials, type PageContext } from '../web/layout.js';
import { homePage } from './pages.js';

const context = (locale: 'en' | 'et'): PageContext & { user: { displayName: string; upn: string } } => ({
  locale,
  t: translator(locale),
  csrfToken: 'token',
  user: { displayName: 'Mari Maasikas', upn: 'mari@contoso.com' },
});

describe('portal home page', () => {
  it('renders the banner it is given first in <main>, and nothing there otherwise', () => {
    const page = homePage(context('en'), { banner: <p class="prompt">Sync it now</p> });
    expect(page).toContain('<main id="main"><div class="banner-slot"><p class="prompt">Sync it now</p></div><h1>');
    expect(homePage(context('en'))).not.toContain('banner-slot');
  });

  it('shows initials without a photo and the Admin link only to administrators', () => {
    expect(homePage(context('et'))).toMatch(/aria-label="Sinu konto: Mari Maasikas"[^>]*>MM</);
    expect(homePage(context('en'))).not.toContain('href="/admin"');
    expect(homePage({ ...context('et'), isAdmin: true })).toContain('<a href="/admin">Haldus</a>');
  });

  it('makes initials from the first and last name, in any script', () => {
    expect(initials('Mari Maasikas')).toBe('MM');
    expect(initials('Jüri  Õun-Ääremaa')).toBe('JÕ');
    expect(initials('madonna')).toBe('M');
    expect(initials('Ivan (IT) Petrov')).toBe('IP');
    expect(initials('  ')).toBe('?');
  });
});
