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
    return { shows: inputs.profile?.placeholderState === 0 ? 'previous' : 'missing', failing: state === 'failing' };
  };
}
