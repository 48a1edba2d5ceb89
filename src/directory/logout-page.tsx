import { renderPage, type PageContext } from '../web/layout.js';

// The pages of Entra's end-session endpoint (./authorize-routes.ts): "signed out", and the question
// asked before signing someone out at another site's request.

/** Signed out (or nobody was signed in), and nowhere registered to go back to. */
export function signedOutPage(context: PageContext): string {
  const { t } = context;
  return renderPage(
    context,
    t('logout.title'),
    <section class="card narrow">
      <h1>{t('logout.title')}</h1>
      <p>{t('logout.body')}</p>
      <p>
        <a href="/signin">{t('logout.signInAgain')}</a>
      </p>
    </section>,
  );
}

/** An app asks to sign this person out: a form (with its token), so another site cannot do it unseen. */
export function confirmSignOutPage(context: PageContext, action: string, upn: string): string {
  const { t } = context;
  return renderPage(
    context,
    t('logout.confirmTitle'),
    <section class="card narrow">
      <h1>{t('logout.confirmTitle')}</h1>
      <p>{t('logout.confirmBody', { upn })}</p>
      <form method="post" action={action}>
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <button type="submit">{t('logout.confirm')}</button>
      </form>
      <p>
        <a href="/">{t('logout.stay')}</a>
      </p>
    </section>,
  );
}
