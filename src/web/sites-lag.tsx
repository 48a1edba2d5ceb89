import type { PageContext } from './layout.js';

// The notice on the user's own pages while SharePoint and OneDrive wait for their action (the
// sync state's out-of-step states), with that action as a button: the SharePoint tile's sync.

/**
 * What the sites show while they lag (an older picture, none yet, or the current one at sizes the
 * settings have since changed), and whether syncing failed.
 */
export interface SitesLag {
  shows: 'previous' | 'missing' | 'resized';
  failing: boolean;
}

export function SitesLagNotice(props: { context: PageContext; lag: SitesLag | undefined; lead?: string | undefined }) {
  const { t, csrfToken } = props.context;
  if (!props.lag) return null;
  return (
    <div class="notice notice-info sites-lag" role="status" data-sites-lag={props.lag.shows}>
      <p>
        {props.lead && <>{props.lead} </>}
        {t(`lag.${props.lag.shows}`)}
      </p>
      <form method="post" action="/launch/sharepoint">
        <input type="hidden" name="_csrf" value={csrfToken} />
        <button type="submit">{t('lag.update')}</button>
      </form>
    </div>
  );
}
