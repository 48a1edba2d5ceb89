import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import { translator } from '../../web/i18n.js';
import type { CommandHandler } from '../command.js';
import { CliError, EXIT_BUSY } from '../output.js';
import { requireUser } from './users.js';

const t = translator('en');

/** The operator's sync of one user, recorded with trigger "admin". */
export const sync: CommandHandler = async ({ args: [upn], services, print }) => {
  const opened = await services();
  const user = await requireUser(opened, upn);
  // As the console's operator sync records it, in the commit that records the sync (and makes
  // its switch of pictures, when it makes one).
  const result = await opened.sync.sync(user, 'admin', {
    alsoRecord: (trx, { outcome, error }) =>
      recordAudit(trx, COMMAND_LINE, 'operator_sync', { results: [{ upn: user.upn, outcome, error }] }),
  });
  print(
    `${user.upn}: ${result.outcome} in ${result.durationMs.toFixed(1)} ms` +
      (result.etagAfter !== result.etagBefore
        ? ` (${result.etagBefore ?? 'none'} -> ${result.etagAfter ?? 'none'})`
        : ''),
  );
  // The words the admin console shows for the outcome; the code above is for scripts.
  if (result.outcome !== 'failed') print(t(`admin.outcomeText.${result.outcome}`));
  if (result.outcome === 'failed') throw new CliError(`The sync failed: ${result.error ?? 'unknown error'}`);
  // Nothing was done for the user: a script must be able to tell, and try again.
  if (result.outcome === 'busy') throw new CliError(`Run photosync sync ${user.upn} again.`, EXIT_BUSY);
};
