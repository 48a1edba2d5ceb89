import type { ComponentChildren } from 'preact';
import { render } from 'preact-render-to-string';
import type { SuiteUser } from './avatar.js';
import type { Flash } from './flash.js';
import type { Locale, Translate } from './i18n.js';
import { AccountMenu, AppLauncher, LanguageSwitch } from './suite-menus.js';

export { Avatar, initials, type SuiteUser } from './avatar.js';

export interface PageContext {
  locale: Locale;
  t: Translate;
  csrfToken: string;
  user?: SuiteUser | undefined;
  /** Shows the "Admin" link to /admin in the suite bar. */
  isAdmin?: boolean;
  /** The path of this page, where the language switcher comes back to. */
  path?: string;
  /** What the form that sent the person here says, once (see flash.ts). */
  flash?: Flash | undefined;
  /** A Microsoft 365 tenant's user (connect mode): no photosync photo page to link to. */
  tenantUser?: boolean;
}

/** The one layout every page renders through; preact escapes every value it is given. */
export function renderPage(context: PageContext, title: string, body: ComponentChildren): string {
  const { t, user, locale } = context;
  return `<!doctype html>${render(
    <html lang={locale}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} – ${t('app.name')}`}</title>
        <link rel="icon" href="/assets/icon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/assets/portal.css" />
        <link rel="stylesheet" href="/assets/forms.css" />
        <script src="/assets/portal.js" defer />
      </head>
      <body>
        <a class="skip-link" href="#main">
          {t('nav.skip')}
        </a>
        <header class="suite-bar">
          {user && <AppLauncher context={context} />}
          <a class="product" href="/">
            {t('app.name')}
          </a>
          {user && (
            <nav aria-label={t('nav.label')} class="suite-nav">
              <a href="/">{t('nav.home')}</a>
              {!context.tenantUser && <a href="/profile-photo">{t('nav.profilePhoto')}</a>}
              <a href="/help/profile-picture-sync">{t('nav.help')}</a>
              {context.isAdmin && <a href="/admin">{t('nav.admin')}</a>}
            </nav>
          )}
          <div class="suite-end">
            {user ? <AccountMenu context={context} user={user} /> : <LanguageSwitch context={context} />}
          </div>
        </header>
        <main id="main">{body}</main>
      </body>
    </html>,
  )}`;
}

/** A notice at the top of a page: role=status for good news, role=alert for errors. */
export function Notice(props: { kind: 'ok' | 'info' | 'error'; children: ComponentChildren }) {
  return (
    <p class={`notice notice-${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </p>
  );
}
