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
