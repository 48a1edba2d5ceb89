import type { ComponentChildren } from 'preact';
import { render } from 'preact-render-to-string';
import type { Locale, Translate } from './i18n.js';

export interface PageContext {
  locale: Locale;
  t: Translate;
  csrfToken: string;
  user?: { displayName: string; upn: string } | undefined;
}

/** The one layout every portal page renders through; preact escapes every value it is given. */
export function renderPage(context: PageContext, title: string, body: ComponentChildren): string {
  const { t, user, csrfToken, locale } = context;
  return `<!doctype html>${render(
    <html lang={locale}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} – ${t('app.name')}`}</title>
        <link rel="stylesheet" href="/assets/portal.css" />
      </head>
      <body>
        <header class="suite-bar">
          <a class="product" href="/">
            {t('app.name')}
          </a>
          {user && (
            <form method="post" action="/signout">
              <input type="hidden" name="_csrf" value={csrfToken} />
              <button type="submit">{t('signout.submit')}</button>
            </form>
          )}
        </header>
        <main>{body}</main>
      </body>
    </html>,
  )}`;
}
