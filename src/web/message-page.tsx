import { translator, type Locale } from './i18n.js';
import { Notice, renderPage, type PageContext } from './layout.js';

/** A plain page with one message and the way back, for forms that cannot be shown again. */
export function messagePage(context: PageContext, title: string, message: string): string {
  return renderPage(
    context,
    title,
    <section class="card narrow">
      <h1>{title}</h1>
      <Notice kind="error">{message}</Notice>
      <p>
        <a href="/">{context.t('error.back')}</a>
      </p>
    </section>,
  );
}

/**
 * The page for a form whose request did not arrive within its deadline. Node answers it on the
 * connection itself, outside any route: no session is read, so the page shows no one signed in.
 */
export function requestTimeoutPage(locale: Locale, seconds: number): string {
  const t = translator(locale);
  return messagePage(
    { locale, t, csrfToken: '' },
    t('error.requestTimeout.title'),
    t('error.requestTimeout', { seconds }),
  );
}
