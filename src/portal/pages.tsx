import type { ComponentChildren } from 'preact';
import type { PageContext, SuiteUser } from '../web/layout.js';
import { AppIcon } from '../web/app-icons.js';
import { Avatar, Notice, renderPage } from '../web/layout.js';
import { SitesLagNotice, type SitesLag } from '../web/sites-lag.js';
import { UploadForm } from '../web/upload-form.js';

export interface SignInForm {
  upn?: string | undefined;
  error?: string | undefined;
  /** A same-site address to continue to after signing in (an app's sign-in request). */
  next?: string | undefined;
  /** The app the user is signing in to, when one sent them. */
  app?: string | undefined;
  /** Why the person is asked to sign in again ("Your session has ended"). */
  notice?: string | undefined;
  /**
   * Connect mode: where signing in with a Microsoft 365 account starts. The form below it stays,
   * for photosync's own accounts (its administrators).
   */
  microsoftUrl?: string | undefined;
}

/** The line above the form: for administrators in connect mode, for the app that sent the person, or plain. */
function signInIntro({ t }: PageContext, form: SignInForm): string {
  if (form.microsoftUrl) return t('signin.adminIntro');
  if (form.app) return t('signin.forApp', { app: form.app });
  return t('signin.intro');
}

export function signInPage(context: PageContext, form: SignInForm): string {
  const { t } = context;
  return renderPage(
    context,
    t('signin.title'),
    <section class="card narrow" aria-labelledby="signin-title">
      <h1 id="signin-title">{t('signin.title')}</h1>
      {form.microsoftUrl && (
        <>
          <p class="muted">{t('signin.microsoftIntro')}</p>
          {form.notice && <Notice kind="info">{form.notice}</Notice>}
          <p class="actions">
            <a class="button" href={form.microsoftUrl} data-microsoft-sign-in="">
              {t('signin.microsoft')}
            </a>
          </p>
          <h2>{t('signin.adminTitle')}</h2>
        </>
      )}
      <p class="muted">{signInIntro(context, form)}</p>
      {!form.microsoftUrl && form.notice && <Notice kind="info">{form.notice}</Notice>}
      {form.error && <Notice kind="error">{form.error}</Notice>}
      <form method="post" action="/signin">
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        {form.next && <input type="hidden" name="next" value={form.next} />}
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

export interface HomePageProps {
  /** The admin console's prompt banner ("An administrator asks you to update…", "Update now"); empty by default. */
  banner?: ComponentChildren;
  hasMailbox?: boolean;
  /** The sites wait for the user's action: they show an older picture, or none. */
  sitesLag?: SitesLag | undefined;
  /** The directory holds a photo, but there is no mail photo (the sites never take the directory's). */
  directoryPhotoOnly?: boolean;
  /** For someone without a mailbox: their picture in the sites (userphoto.aspx), shown instead of initials. */
  sitesPictureUrl?: string | undefined;
}

/** A tile of the app launcher: OneDrive and SharePoint are forms, since opening them runs a sync. */
function LaunchTile(props: { app: 'onedrive' | 'sharepoint'; name: string; hint: string; csrfToken: string }) {
  return (
    <li>
      <form method="post" action={`/launch/${props.app}`}>
        <input type="hidden" name="_csrf" value={props.csrfToken} />
        <button type="submit" class={`tile tile-${props.app}`}>
          <span class="tile-icon">
            <AppIcon app={props.app} />
          </span>
          <span class="tile-name">{props.name}</span>
          <span class="tile-hint">{props.hint}</span>
        </button>
      </form>
    </li>
  );
}

export function homePage(context: PageContext & { user: SuiteUser }, props: HomePageProps = {}): string {
  const { t, user } = context;
  const hasMailbox = props.hasMailbox ?? true;
  return renderPage(
    context,
    t('home.title'),
    <>
      {/* The admin console's prompt banner goes here, at the top of <main>. */}
      {props.banner !== undefined && <div class="banner-slot">{props.banner}</div>}
      <h1>{t('home.greeting', { name: user.displayName })}</h1>
      <section aria-labelledby="apps-title">
        <h2 id="apps-title">{t('apps.title')}</h2>
        <ul class="tiles">
          <li>
            <a class="tile tile-outlook" href="/outlook">
              <span class="tile-icon">
                <AppIcon app="outlook" />
              </span>
              <span class="tile-name">Outlook</span>
              <span class="tile-hint">{hasMailbox ? t('apps.outlook.hint') : t('apps.outlook.noMailbox')}</span>
            </a>
          </li>
          <LaunchTile app="onedrive" name="OneDrive" hint={t('apps.onedrive.hint')} csrfToken={context.csrfToken} />
          <LaunchTile
            app="sharepoint"
            name="SharePoint"
            hint={t('apps.sharepoint.hint')}
            csrfToken={context.csrfToken}
          />
        </ul>
        {/* Without a mailbox there is no mail photo for the sites to take: the picture is uploaded there. */}
        {hasMailbox && <p class="hint">{t('apps.syncNote')}</p>}
      </section>
      <section class="card" aria-labelledby="photo-title">
        <h2 id="photo-title">{t('home.photoTitle')}</h2>
        <div class="profile">
          <Avatar
            user={{ ...user, photoUrl: user.photoUrl?.replace(/size=\d+/, 'size=240') ?? props.sitesPictureUrl }}
            alt={t('home.photoAlt', { name: user.displayName })}
            size={120}
            class="large"
          />
          <div>
            {props.sitesLag && props.banner === undefined ? (
              <SitesLagNotice context={context} lag={props.sitesLag} />
            ) : props.sitesLag ? (
              // The prompt banner above has the button: here only what the sites show.
              <p data-sites-lag-text={props.sitesLag.shows}>{t(`lag.${props.sitesLag.shows}`)}</p>
            ) : (
              <p>
                {!hasMailbox ? t('home.noMailbox') : user.photoUrl ? t('home.photoSource') : t('home.photoMissing')}
              </p>
            )}
            {props.directoryPhotoOnly && <p data-directory-only="">{t('home.directoryOnly')}</p>}
            <p class="muted">{t('home.signedInAs', { upn: user.upn })}</p>
            <p class="links">
              {hasMailbox ? (
                <a class="button" href="/profile-photo">
                  {user.photoUrl ? t('home.changePhoto') : t('home.addPhoto')}
                </a>
              ) : (
                <a class="button" href="/_layouts/15/editprofile.aspx">
                  {t('home.uploadInSites')}
                </a>
              )}
              <a href="/help/profile-picture-sync">{t('home.helpLink')}</a>
            </p>
          </div>
        </div>
      </section>
    </>,
  );
}

export interface PhotoForm {
  /** Versioned URL of the current mail photo at 240 px. */
  currentUrl: string | undefined;
  changedAt: string | undefined;
  error?: string | undefined;
  done?: 'saved' | 'removed' | 'nothing_removed' | undefined;
  sitesLag?: SitesLag | undefined;
  /** The person asked to remove their photo: ask them to confirm. */
  confirmRemove?: boolean;
}

export function profilePhotoPage(context: PageContext & { user: SuiteUser }, form: PhotoForm): string {
  const { t, user } = context;
  const title = form.currentUrl ? t('photo.titleChange') : t('photo.title');
  return renderPage(
    context,
    title,
    <section class="card" aria-labelledby="photo-title">
      <h1 id="photo-title">{title}</h1>
      <p>{t('photo.intro')}</p>
      {form.error && <Notice kind="error">{form.error}</Notice>}
      {form.done === 'nothing_removed' ? (
        <>
          <Notice kind="info">{t('photo.nothingToRemove')}</Notice>
          <SitesLagNotice context={context} lag={form.sitesLag} />
        </>
      ) : form.done && form.sitesLag ? (
        // The saved notice offers the update at once.
        <SitesLagNotice
          context={context}
          lag={form.sitesLag}
          lead={t(form.done === 'saved' ? 'photo.savedShort' : 'photo.removedShort')}
        />
      ) : (
        <>
          {form.done === 'saved' && <Notice kind="ok">{t('photo.saved')}</Notice>}
          {form.done === 'removed' && <Notice kind="ok">{t('photo.removed')}</Notice>}
          <SitesLagNotice context={context} lag={form.sitesLag} />
        </>
      )}
      <div class="photo-editor">
        <figure class="current">
          {form.currentUrl ? (
            <img class="avatar large" src={form.currentUrl} alt={t('photo.current')} width={160} height={160} />
          ) : (
            <Avatar user={{ ...user, photoUrl: undefined }} alt={t('photo.none')} size={160} class="large" />
          )}
          <figcaption>
            {form.currentUrl ? t('photo.current') : t('photo.none')}
            {form.changedAt && <span class="muted"> · {form.changedAt}</span>}
          </figcaption>
        </figure>
        <div class="grow">
          <UploadForm context={context} action="/profile-photo" submit={t('photo.save')} />
          {form.currentUrl &&
            (form.confirmRemove ? (
              <div class="notice notice-error remove-confirm" role="alert">
                <p>{t('photo.removeConfirm')}</p>
                <form method="post" action="/profile-photo/remove" class="remove links">
                  <input type="hidden" name="_csrf" value={context.csrfToken} />
                  <button type="submit" class="danger">
                    {t('photo.removeYes')}
                  </button>
                  <a href="/profile-photo">{t('photo.removeNo')}</a>
                </form>
              </div>
            ) : (
              <p class="remove">
                <a class="button secondary danger" href="/profile-photo?remove=confirm" data-remove="">
                  {t('photo.remove')}
                </a>
              </p>
            ))}
        </div>
      </div>
      <p>
        <a href="/help/profile-picture-sync">{t('home.helpLink')}</a>
      </p>
    </section>,
  );
}

export function helpPage(context: PageContext): string {
  const { t } = context;
  return renderPage(
    context,
    t('help.title'),
    <article class="card prose" aria-labelledby="help-title">
      <h1 id="help-title">{t('help.title')}</h1>
      <h2>{t('help.where.title')}</h2>
      <p>{t('help.where.body')}</p>
      <h2>{t('help.when.title')}</h2>
      <p>{t('help.when.body')}</p>
      <h2>{t('help.steps.title')}</h2>
      <ol class="steps">
        <li>
          {t('help.steps.1')} <span class="muted">{t('help.steps.why')}</span>
        </li>
        <li>{t('help.steps.2')}</li>
        <li>{t('help.steps.3')}</li>
        <li>{t('help.steps.4')}</li>
      </ol>
      <p>{t('help.steps.after')}</p>
      <h2>{t('help.noMailbox.title')}</h2>
      <p>{t('help.noMailbox.body')}</p>
      {context.user && (
        <p>
          <a class="button" href="/profile-photo">
            {context.user.photoUrl ? t('help.change') : t('home.addPhoto')}
          </a>
        </p>
      )}
    </article>,
  );
}

export function outlookPage(context: PageContext & { user: SuiteUser }, hasMailbox: boolean): string {
  const { t, user } = context;
  return renderPage(
    context,
    t('outlook.title'),
    <section class="card" aria-labelledby="outlook-title">
      <div class="app-head">
        <Avatar user={user} alt={t('suite.photoAlt')} size={48} />
        <div>
          <h1 id="outlook-title">{t('outlook.title')}</h1>
          <p class="muted">{user.upn}</p>
        </div>
      </div>
      <h2>{t('outlook.inbox')}</h2>
      <p class="empty">{hasMailbox ? t('outlook.empty') : t('outlook.noMailbox')}</p>
    </section>,
  );
}
