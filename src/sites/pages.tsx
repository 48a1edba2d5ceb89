import { AppIcon } from '../web/app-icons.js';
import type { Flash } from '../web/flash.js';
import type { PageContext, SuiteUser } from '../web/layout.js';
import { Notice, renderPage } from '../web/layout.js';
import type { MessageKey } from '../web/messages/en.js';
import { SitesLagNotice, type SitesLag } from '../web/sites-lag.js';
import { UploadForm } from '../web/upload-form.js';

// The sites' pages (SharePoint and OneDrive): the site home with its People section, a person's
// profile, the OneDrive landing page and "Upload picture" for people without a mailbox.

/** A page for the signed-in user, and whether their own pictures here lag their mail photo. */
export type OwnPageContext = PageContext & { user: SuiteUser; lag?: SitesLag | undefined };

export interface Person {
  displayName: string;
  upn: string;
  /** userphoto.aspx at this size, versioned with the picture's timestamp. */
  photoUrl: string;
}

export { userPhotoUrl } from './library.js';

/**
 * How the SharePoint and OneDrive pages show the outcome of the sync that brought the user there
 * (a flash message from the portal's tiles). The portal checks that every sync outcome has a row here.
 */
export const SYNC_NOTICE_KINDS = {
  synced: 'ok',
  removed: 'ok',
  unchanged: 'ok',
  no_photo: 'info',
  no_mailbox: 'info',
  recently_checked: 'ok',
  backing_off: 'error',
  busy: 'info',
  failed: 'error',
} as const satisfies Record<string, 'ok' | 'info' | 'error'>;
export type SyncNoticeName = keyof typeof SYNC_NOTICE_KINDS;
export const SYNC_NOTICE_NAMES = Object.keys(SYNC_NOTICE_KINDS) as SyncNoticeName[];

export type SyncNotice = { key: MessageKey; kind: 'ok' | 'info' | 'error'; app: string } | undefined;

/** The notice for a flash message naming a sync outcome; nothing for anything else. */
export function syncNotice(flash: Flash | undefined, app: string): SyncNotice {
  const name = SYNC_NOTICE_NAMES.find((known) => known === flash?.name);
  if (name === undefined) return undefined;
  const key: MessageKey = `sync.${name}`;
  return { key, kind: SYNC_NOTICE_KINDS[name], app };
}

function SyncMessage(props: { context: PageContext; notice: SyncNotice }) {
  if (!props.notice) return null;
  return (
    <Notice kind={props.notice.kind}>
      <span data-sync-result="">{props.context.t(props.notice.key, { app: props.notice.app })}</span>
    </Notice>
  );
}

export function siteHomePage(context: OwnPageContext, people: Person[], notice: SyncNotice): string {
  const { t } = context;
  return renderPage(
    context,
    t('sites.title'),
    <>
      <SyncMessage context={context} notice={notice} />
      <SitesLagNotice context={context} lag={context.lag} />
      <header class="site-head sharepoint">
        <span class="site-logo">
          <AppIcon app="sharepoint" />
        </span>
        <div>
          <p class="app-label">SharePoint</p>
          <h1>{t('sites.siteName')}</h1>
          <p>{t('sites.intro')}</p>
        </div>
      </header>
      <section class="card" aria-labelledby="people-title">
        <h2 id="people-title">{t('sites.people')}</h2>
        {people.length === 0 ? (
          <p class="muted">{t('sites.peopleEmpty')}</p>
        ) : (
          <ul class="people">
            {people.map((person) => (
              <li>
                <a
                  href={`/_layouts/15/person.aspx?accountname=${encodeURIComponent(person.upn)}`}
                  data-upn={person.upn}
                >
                  <img
                    src={person.photoUrl}
                    alt={t('sites.personAlt', { name: person.displayName })}
                    width={72}
                    height={72}
                  />
                  <span class="person-name">{person.displayName}</span>
                </a>
              </li>
            ))}
          </ul>
        )}
      </section>
    </>,
  );
}

export interface ProfileView {
  person: Person & { hasMailbox: boolean };
  own: boolean;
  source: 'mail' | 'upload' | null;
  pictureDate: string | undefined;
}

export function personPage(context: OwnPageContext, view: ProfileView): string {
  const { t } = context;
  const { person } = view;
  const title = view.own ? t('sites.yourProfile') : t('sites.profileTitle', { name: person.displayName });
  return renderPage(
    context,
    title,
    <section class="card" aria-labelledby="person-title">
      <SitesLagNotice context={context} lag={context.lag} />
      <p class="app-label">SharePoint</p>
      <div class="profile">
        <img
          class="avatar xl"
          src={person.photoUrl}
          alt={t('sites.personAlt', { name: person.displayName })}
          width={200}
          height={200}
        />
        <div>
          <h1 id="person-title">{person.displayName}</h1>
          <dl class="facts">
            <dt>{t('sites.email')}</dt>
            <dd>{person.upn}</dd>
          </dl>
          <p class="muted">
            {view.source === 'mail'
              ? view.own
                ? t('sites.pictureFromMailOwn')
                : t('sites.pictureFromMail', { name: person.displayName })
              : view.source === 'upload'
                ? t('sites.pictureUploaded')
                : t('sites.placeholder')}
          </p>
          {view.pictureDate && <p class="muted">{t('sites.pictureTime', { date: view.pictureDate })}</p>}
          {view.own && (
            <p>
              <a class="button" href={person.hasMailbox ? '/profile-photo' : '/_layouts/15/editprofile.aspx'}>
                {!person.hasMailbox
                  ? t('sites.upload.title')
                  : view.source === 'mail'
                    ? t('home.changePhoto')
                    : t('home.addPhoto')}
              </a>
            </p>
          )}
        </div>
      </div>
    </section>,
  );
}

export function oneDrivePage(context: OwnPageContext, photoUrl: string, notice: SyncNotice): string {
  const { t, user } = context;
  return renderPage(
    context,
    t('onedrive.title'),
    <>
      <SyncMessage context={context} notice={notice} />
      <SitesLagNotice context={context} lag={context.lag} />
      <header class="site-head onedrive">
        <img
          class="avatar large"
          src={photoUrl}
          alt={t('sites.personAlt', { name: user.displayName })}
          width={96}
          height={96}
        />
        <div>
          <p class="app-label">OneDrive</p>
          <h1>{user.displayName}</h1>
          <p class="muted">{user.upn}</p>
        </div>
      </header>
      <section class="card" aria-labelledby="files-title">
        <h2 id="files-title">{t('onedrive.greeting')}</h2>
        <p class="empty">{t('onedrive.empty')}</p>
      </section>
    </>,
  );
}

export function uploadPicturePage(
  context: PageContext & { user: SuiteUser },
  view: { photoUrl: string; hasMailbox: boolean; error?: string | undefined; done?: boolean },
): string {
  const { t, user } = context;
  return renderPage(
    context,
    t('sites.upload.title'),
    <section class="card" aria-labelledby="upload-title">
      <p class="app-label">SharePoint</p>
      <h1 id="upload-title">{t('sites.upload.title')}</h1>
      {view.error && <Notice kind="error">{view.error}</Notice>}
      {view.done && <Notice kind="ok">{t('sites.upload.done')}</Notice>}
      <div class="photo-editor">
        <figure class="current">
          <img
            class="avatar large"
            src={view.photoUrl}
            alt={t('sites.personAlt', { name: user.displayName })}
            width={160}
            height={160}
          />
        </figure>
        <div class="grow">
          {view.hasMailbox ? (
            <p>
              {t('sites.upload.hasMailbox')} <a href="/profile-photo">{t('home.changePhoto')}</a>
            </p>
          ) : (
            <>
              <p>{t('sites.upload.intro')}</p>
              <UploadForm context={context} action="/_layouts/15/editprofile.aspx" submit={t('sites.upload.submit')} />
            </>
          )}
        </div>
      </div>
    </section>,
  );
}
