import type { ComponentChildren } from 'preact';
import type { PageContext } from './layout.js';
import { renderPage } from './layout.js';

export function signInPage(context: PageContext, form: { upn?: string; error?: string | undefined }): string {
  const { t } = context;
  return renderPage(
    context,
    t('signin.title'),
    <section class="card" aria-labelledby="signin-title">
      <h1 id="signin-title">{t('signin.title')}</h1>
      <p class="muted">{t('signin.intro')}</p>
      {form.error && (
        <p class="alert" role="alert">
          {form.error}
        </p>
      )}
      <form method="post" action="/signin">
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <label for="upn">{t('signin.upn')}</label>
        <input
          id="upn"
          name="upn"
          type="email"
          autocomplete="username"
          required
          value={form.upn ?? ''}
          aria-describedby="upn-hint"
        />
        <p class="hint" id="upn-hint">
          {t('signin.upnHint')}
        </p>
        <label for="password">{t('signin.password')}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <div class="actions">
          <button type="submit">{t('signin.submit')}</button>
        </div>
      </form>
    </section>,
  );
}

export function homePage(
  // `banner`: the admin console's prompt banner (issue 4), or null.
  context: PageContext & { user: { displayName: string; upn: string }; banner?: ComponentChildren },
): string {
  const { t, user } = context;
  const ownPhoto = `/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(user.upn)}`;
  return renderPage(
    context,
    t('home.title'),
    <section class="card">
      {context.banner}
      <h1>{t('home.greeting', { name: user.displayName })}</h1>
      <div class="profile">
        <img src={ownPhoto} alt={t('home.photoAlt', { name: user.displayName })} width={150} height={150} />
        <div>
          <p>{t('home.photoHelp')}</p>
          <p class="muted">{t('home.signedInAs', { upn: user.upn })}</p>
        </div>
      </div>
    </section>,
  );
}
