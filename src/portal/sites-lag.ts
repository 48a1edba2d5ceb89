import type { DirectoryUser } from '../directory/users.js';
import type { Services } from '../services.js';
import { renditionSpec } from '../sites/library.js';
import { getSyncInputs, syncStateInputs } from '../sync/inputs.js';
import { classify, isOutOfStep } from '../sync/state.js';
import type { SitesLag } from '../web/sites-lag.js';

/** Whether the user's sites lag their mail photo, by `classify`; undefined when they wait for nothing. */
export type SitesLagOf = (user: DirectoryUser) => Promise<SitesLag | undefined>;

export function sitesLagOf(services: Services): SitesLagOf {
  return async (user) => {
    const inputs = await getSyncInputs(services.database.db, user.id);
    const spec = renditionSpec(services.syncSettings().renditionSizes);
    const state = classify(syncStateInputs(user.hasMailbox, inputs, spec));
    if (!isOutOfStep(state)) return undefined;
    const { profile, mail } = inputs;
    if (profile?.placeholderState !== 0) return { shows: 'missing', failing: state === 'failing' };
    // The same mail photo at sizes the settings no longer give: the face is the current one.
    const resized = profile.pictureSource === 'mail' && mail !== undefined && profile.syncedEtag === mail.etag;
    return { shows: resized ? 'resized' : 'previous', failing: state === 'failing' };
  };
}
