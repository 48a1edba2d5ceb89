import type { ComponentChildren } from 'preact';
import { render } from 'preact-render-to-string';
import type { Flash } from './flash.js';
import { LOCALES, translator, type Locale, type Translate } from './i18n.js';

/** The signed-in user as the suite bar shows them. */
export interface SuiteUser {
  displayName: string;
  upn: string;
  /** Versioned URL of the user's mail photo; initials are shown when there is none. */
  photoUrl?: string | undefined;
}

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
}

/** "Mari Maasikas" → "MM": what the suite bar shows for someone without a photo. */
export function initials(displayName: string): string {
  const words = displayName.split(/\s+/).filter((w) => /\p{L}/u.test(w));
  const first = words[0]?.match(/\p{L}/u)?.[0] ?? '';
  const last = words.length > 1 ? (words[words.length - 1]?.match(/\p{L}/u)?.[0] ?? '') : '';
  return (first + last).toUpperCase() || '?';
}

export function Avatar(props: { user: SuiteUser; alt: string; size: number; class?: string }) {
  const { user, alt, size } = props;
  const cls = `avatar ${props.class ?? ''}`.trim();
  return user.photoUrl ? (
    <img class={cls} src={user.photoUrl} alt={alt} width={size} height={size} />
  ) : (
    <span class={`${cls} initials`} role="img" aria-label={alt} data-initials="">
      {initials(user.displayName)}
    </span>
  );
}

/** The one layout every page renders through; preact escapes every value it is given. */
export function renderPage(context: PageContext, title: string, body: ComponentChildren): string {
  const { t, user, csrfToken, locale } = context;
  const others = LOCALES.filter((l) => l !== locale);
  return `<!doctype html>${render(
    <html lang={locale}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} – ${t('app.name')}`}</title>
        <link rel="stylesheet" href="/assets/portal.css" />
        <link rel="stylesheet" href="/assets/forms.css" />
        <script src="/assets/portal.js" defer />
      </head>
      <body>
        <a class="skip-link" href="#main">
          {t('nav.skip')}
        </a>
        <header class="suite-bar">
          <a class="product" href="/">
            <span class="waffle" aria-hidden="true" />
            {t('app.name')}
          </a>
          {user && (
            <nav aria-label={t('nav.label')} class="suite-nav">
              <a href="/">{t('nav.home')}</a>
              <a href="/profile-photo">{t('nav.profilePhoto')}</a>
              <a href="/help/profile-picture-sync">{t('nav.help')}</a>
              {context.isAdmin && <a href="/admin">{t('nav.admin')}</a>}
            </nav>
          )}
          <div class="suite-end">
            <form method="post" action="/language" class="lang-switch">
              <input type="hidden" name="_csrf" value={csrfToken} />
              <input type="hidden" name="back" value={context.path ?? '/'} />
              {others.map((other) => (
                <button
                  type="submit"
                  name="lang"
                  value={other}
                  lang={other}
                  class="link-button"
                  aria-label={`${t('lang.switchLabel')}: ${translator(other)('lang.name')}`}
                >
                  {translator(other)('lang.name')}
                </button>
              ))}
            </form>
            {user && (
              <>
                <span class="me" title={user.upn}>
                  <Avatar user={user} alt={t('suite.me', { name: user.displayName })} size={32} />
                </span>
                <form method="post" action="/signout">
                  <input type="hidden" name="_csrf" value={csrfToken} />
                  <button type="submit" class="link-button">
                    {t('signout.submit')}
                  </button>
                </form>
              </>
            )}
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
