import type { ComponentChildren } from 'preact';
import { AppIcon } from '../web/app-icons.js';
import { formatDate } from '../web/dates.js';
import type { MessageKey } from '../web/messages/en.js';
import { Avatar, Notice, renderPage, type PageContext, type SuiteUser } from '../web/layout.js';
import type { StateFinding } from './finding.js';
import type { TenantState } from './model.js';
import type { SignInProblem } from './sign-in.js';

// Connect mode's portal pages for the tenant's people: the home page with the SharePoint and
// OneDrive tiles (each pushes the user's Exchange photo, then opens the real site), and the pages
// that say in words why a sign-in or a push did not work, still offering the way on.

export type TileApp = 'sharepoint' | 'onedrive';

export const TILE_NAMES: Record<TileApp, string> = { sharepoint: 'SharePoint', onedrive: 'OneDrive' };

/** Why a tile's push did not bring the photo across, as the person is told. */
export type PushProblem = 'tenant_down' | 'consent' | 'push_failed';

const STATE_TEXT: Record<TenantState, MessageKey> = {
  in_step: 'm365.home.state.in_step',
  changed: 'm365.home.state.changed',
  never_synced: 'm365.home.state.never_synced',
  no_photo: 'm365.home.state.no_photo',
  no_mailbox: 'm365.home.state.no_mailbox',
  failing: 'm365.home.state.failing',
  unknown: 'm365.home.state.unknown',
};

const PUSH_PROBLEM_TEXT: Record<PushProblem, MessageKey> = {
  tenant_down: 'm365.problem.tenant_down',
  consent: 'm365.problem.consent',
  push_failed: 'm365.problem.push_failed',
};

const SIGN_IN_PROBLEM_TEXT: Record<SignInProblem, MessageKey> = {
  declined: 'm365.signin.declined',
  consent: 'm365.signin.consent',
  tenant_down: 'm365.signin.tenant_down',
  setup: 'm365.signin.setup',
  invalid: 'm365.signin.invalid',
};

function TenantTile(props: { app: TileApp; hint: string; context: PageContext }) {
  return (
    <li>
      <form method="post" action={`/m365/launch/${props.app}`}>
        <input type="hidden" name="_csrf" value={props.context.csrfToken} />
        <button type="submit" class={`tile tile-${props.app}`}>
          <span class="tile-icon">
            <AppIcon app={props.app} />
          </span>
          <span class="tile-name">{TILE_NAMES[props.app]}</span>
          <span class="tile-hint">{props.hint}</span>
        </button>
      </form>
    </li>
  );
}

export interface TenantHomeProps {
  /** The prompt banner, when the user's pictures are out of step. */
  banner?: ComponentChildren;
  /** What the last scan or push found; null when nothing has looked yet. */
  state: TenantState | null;
  /** Which of them found it, and when: a finding may be a day old, and the page says so. */
  finding?: StateFinding | undefined;
}

const FINDING_TEXT: Record<StateFinding['by'], MessageKey> = {
  scan: 'm365.home.foundByScan',
  push: 'm365.home.foundByPush',
};

export function tenantHomePage(context: PageContext & { user: SuiteUser }, props: TenantHomeProps): string {
  const { t, user } = context;
  return renderPage(
    context,
    t('home.title'),
    <>
      {props.banner !== undefined && props.banner !== null && <div class="banner-slot">{props.banner}</div>}
      <h1>{t('home.greeting', { name: user.displayName })}</h1>
      <section aria-labelledby="apps-title">
        <h2 id="apps-title">{t('apps.title')}</h2>
        <ul class="tiles">
          <TenantTile app="onedrive" hint={t('apps.onedrive.hint')} context={context} />
          <TenantTile app="sharepoint" hint={t('apps.sharepoint.hint')} context={context} />
        </ul>
        <p class="hint">{t('m365.home.intro')}</p>
      </section>
      <section class="card" aria-labelledby="photo-title">
        <h2 id="photo-title">{t('home.photoTitle')}</h2>
        <div class="profile">
          <Avatar user={user} alt={t('home.photoAlt', { name: user.displayName })} size={120} class="large" />
          <div>
            <p data-tenant-state={props.state ?? 'unknown'}>{t(STATE_TEXT[props.state ?? 'unknown'])}</p>
            {props.finding && (
              <p class="muted" data-found-by={props.finding.by}>
                {t(FINDING_TEXT[props.finding.by], { time: formatDate(context.locale, props.finding.at) })}
              </p>
            )}
            <p class="muted">{t('home.signedInAs', { upn: user.upn })}</p>
          </div>
        </div>
      </section>
    </>,
  );
}

/** Links on to the real sites: the way on stays open whatever went wrong. */
function ContinueLinks(props: { context: PageContext; targets: Record<TileApp, string>; first?: TileApp }) {
  const { t } = props.context;
  const order: TileApp[] = props.first === 'onedrive' ? ['onedrive', 'sharepoint'] : ['sharepoint', 'onedrive'];
  return (
    <p class="links">
      {order.map((app, i) => (
        <a class={i === 0 ? 'button' : undefined} href={props.targets[app]} data-continue={app}>
          {t('m365.problem.continue', { app: TILE_NAMES[app] })}
        </a>
      ))}
    </p>
  );
}

export function pushProblemPage(
  context: PageContext,
  view: { app: TileApp; problem: PushProblem; reason: string; targets: Record<TileApp, string> },
): string {
  const { t } = context;
  const name = TILE_NAMES[view.app];
  return renderPage(
    context,
    t('m365.problem.title'),
    <section class="card narrow" aria-labelledby="problem-title" data-push-problem={view.problem}>
      <h1 id="problem-title">{t('m365.problem.title')}</h1>
      <Notice kind="error">{t(PUSH_PROBLEM_TEXT[view.problem], { reason: view.reason })}</Notice>
      <p class="muted">{t('m365.problem.continueHint', { app: name })}</p>
      <ContinueLinks context={context} targets={view.targets} first={view.app} />
      <form method="post" action={`/m365/launch/${view.app}`}>
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <button type="submit" class="secondary">
          {t('m365.problem.retry')}
        </button>
      </form>
      <p>
        <a href="/">{t('error.back')}</a>
      </p>
    </section>,
  );
}

export function signInProblemPage(
  context: PageContext,
  view: { problem: SignInProblem; signInUrl: string; targets: Record<TileApp, string> },
): string {
  const { t } = context;
  return renderPage(
    context,
    t('m365.signin.title'),
    <section class="card narrow" aria-labelledby="problem-title" data-sign-in-problem={view.problem}>
      <h1 id="problem-title">{t('m365.signin.title')}</h1>
      <Notice kind="error">{t(SIGN_IN_PROBLEM_TEXT[view.problem])}</Notice>
      <p class="actions">
        <a class="button" href={view.signInUrl}>
          {t('m365.signin.again')}
        </a>
      </p>
      <ContinueLinks context={context} targets={view.targets} />
    </section>,
  );
}
