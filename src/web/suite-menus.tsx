import { AppIcon, WaffleIcon } from './app-icons.js';
import { Avatar, type SuiteUser } from './avatar.js';
import { LOCALES, translator } from './i18n.js';
import type { PageContext } from './layout.js';

// The suite bar's two menus, as on Office.com: the waffle opens the app launcher, the avatar the
// account menu. Each is a <details> that opens and closes without any script; portal.js turns it
// into a button with aria-expanded that Escape, a click outside and leaving it by Tab all close.

/** The language switch: a form, so it works without script; it comes back to the same address. */
export function LanguageSwitch(props: { context: PageContext }) {
  const { context } = props;
  const { t, locale } = context;
  return (
    <form method="post" action="/language" class="lang-switch">
      <input type="hidden" name="_csrf" value={context.csrfToken} />
      <input type="hidden" name="back" value={context.path ?? '/'} />
      {LOCALES.filter((l) => l !== locale).map((other) => (
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
  );
}

/**
 * The launcher's apps. OneDrive and SharePoint are buttons of one form, since opening them runs the
 * user's sync (the same POST as the home page's tiles); Outlook and the portal home are links.
 */
export function AppLauncher(props: { context: PageContext }) {
  const { t, csrfToken, tenantUser } = props.context;
  // A Microsoft 365 tenant's user (connect mode) opens the real sites through connect mode's
  // tiles, which push their Exchange photo first; their mail is Microsoft's Outlook, not this one.
  const launch = tenantUser ? '/m365/launch' : '/launch';
  return (
    <details class="menu launcher" data-menu="">
      <summary class="menu-button waffle-button" aria-label={t('suite.launcher')} title={t('suite.launcher')}>
        <WaffleIcon />
      </summary>
      <div class="menu-panel launcher-panel" id="app-launcher" data-menu-panel="">
        <h2 class="menu-title">{t('apps.title')}</h2>
        <form method="post" class="launcher-form">
          <input type="hidden" name="_csrf" value={csrfToken} />
          <ul class="launcher-apps">
            {!tenantUser && (
              <li>
                <a class="launcher-app app-outlook" href="/outlook">
                  <AppIcon app="outlook" />
                  <span>Outlook</span>
                </a>
              </li>
            )}
            <li>
              <button type="submit" formaction={`${launch}/onedrive`} class="launcher-app app-onedrive">
                <AppIcon app="onedrive" />
                <span>OneDrive</span>
              </button>
            </li>
            <li>
              <button type="submit" formaction={`${launch}/sharepoint`} class="launcher-app app-sharepoint">
                <AppIcon app="sharepoint" />
                <span>SharePoint</span>
              </button>
            </li>
            <li>
              <a class="launcher-app app-home" href="/">
                <AppIcon app="home" />
                <span>{t('suite.portalHome')}</span>
              </a>
            </li>
          </ul>
        </form>
      </div>
    </details>
  );
}

/** Where the person changes their picture: the mail photo, or the sites' upload without a mailbox. */
function changePhotoLink(context: PageContext, user: SuiteUser): { href: string; text: string } | undefined {
  const { t } = context;
  // A Microsoft 365 tenant's user changes the photo in Microsoft 365, not here.
  if (context.tenantUser) return undefined;
  if (user.hasMailbox === false) return { href: '/_layouts/15/editprofile.aspx', text: t('home.uploadInSites') };
  return { href: '/profile-photo', text: user.photoUrl ? t('home.changePhoto') : t('home.addPhoto') };
}

/** The account menu: the person's photo and name, changing the photo, the language, signing out. */
export function AccountMenu(props: { context: PageContext; user: SuiteUser }) {
  const { context, user } = props;
  const { t } = context;
  const change = changePhotoLink(context, user);
  return (
    <details class="menu account" data-menu="">
      <summary class="menu-button me" title={user.upn}>
        <Avatar user={user} alt={t('suite.me', { name: user.displayName })} size={32} />
      </summary>
      <div class="menu-panel account-panel" id="account-menu" data-menu-panel="">
        <div class="account-head">
          <Avatar user={user} alt={t('suite.photoAlt')} size={72} class="account-photo" />
          <div>
            <p class="account-name">{user.displayName}</p>
            <p class="account-upn">{user.upn}</p>
            {change && (
              <a href={change.href} class="account-change">
                {change.text}
              </a>
            )}
          </div>
        </div>
        <div class="account-row">
          <span class="account-label">{t('lang.switchLabel')}</span>
          <LanguageSwitch context={context} />
        </div>
        <form method="post" action="/signout" class="account-signout">
          <input type="hidden" name="_csrf" value={context.csrfToken} />
          <button type="submit" class="menu-item">
            {t('signout.submit')}
          </button>
        </form>
      </div>
    </details>
  );
}
