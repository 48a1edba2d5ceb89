import type { DirectoryUser } from '../directory/users.js';
import type { PageContext } from '../web/layout.js';
import type { Db } from '../storage/database.js';
import { pendingPrompt, rememberLocale } from './prompts.js';

// The banner a prompted user sees in the portal. Its button is the user's own action: the
// portal's SharePoint launch, which runs the sync with trigger `prompt`.

/** `action`: the SharePoint launch the button posts to (connect mode's tenant users have their own). */
export function PromptBanner({ context, action = '/launch/sharepoint' }: { context: PageContext; action?: string }) {
  const { t } = context;
  return (
    <div class="prompt-banner" role="status" id="prompt-banner">
      <link rel="stylesheet" href="/admin/assets/admin.css" />
      <p>{t('prompt.banner')}</p>
      <form method="post" action={action}>
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <input type="hidden" name="from" value="prompt" />
        <button type="submit">{t('prompt.bannerButton')}</button>
      </form>
    </div>
  );
}

/**
 * For the portal's home page: remembers the visit's language (prompt e-mails use it) and returns
 * the banner when an admin asked this user to sync and their pictures are still out of step.
 */
export async function promptBannerFor(db: Db, user: DirectoryUser, context: PageContext) {
  await rememberLocale(db, user.id, context.locale);
  return (await pendingPrompt(db, user.id)) ? <PromptBanner context={context} /> : null;
}

/** The banner for a Microsoft 365 tenant's user (connect mode): its button opens their own SharePoint tile. */
export function tenantPromptBanner(context: PageContext) {
  return <PromptBanner context={context} action="/m365/launch/sharepoint" />;
}
