import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import { deleteUser, setUserEnabled, setUserPassword, type EndedCredentials } from '../../directory/revocation.js';
import {
  keepingAnAdministrator,
  LastAdministratorError,
  setUserAdmin,
  type DirectoryUser,
} from '../../directory/users.js';
import { isAppError } from '../../errors.js';
import type { DatabaseHandle, Db } from '../../storage/database.js';
import { LockTimeoutError } from '../../storage/user-lock.js';
import type { CommandHandler } from '../command.js';
import { CliError } from '../output.js';
import { readNewPassword } from '../password-input.js';
import { requireUser } from './users.js';

// An account's life after `users add`: disabled and enabled again, a new password, removed.
// Disabling and a new password end everything the user held (revocation.ts). What changes who may
// sign in or administer is in the console's audit log, by the command line, with the change itself.

const ended = (what: EndedCredentials) =>
  `Ended ${what.sessions} portal session(s), ${what.tokens} token(s), ${what.refreshTokens} refresh token(s) ` +
  `and ${what.codes} unused sign-in code(s); ` +
  'access tokens issued before now are refused.';

/**
 * `change` (disable, revoke-admin, remove) unless `user` is the only enabled administrator with a
 * password (the only one who can sign in), checked and done under one lock (keepingAnAdministrator),
 * so two at once cannot leave nobody.
 */
async function keepAnAdministrator<T>(
  { db, dialect }: DatabaseHandle,
  user: DirectoryUser,
  verb: 'disable' | 'remove' | 'revoke-admin',
  change: (trx: Db) => Promise<T>,
): Promise<T> {
  try {
    return await keepingAnAdministrator(db, dialect, user, change);
  } catch (error) {
    if (!(error instanceof LastAdministratorError)) throw error;
    const others = error.withoutPassword;
    const [one] = others;
    const noPassword =
      others.length === 0
        ? ''
        : others.length === 1 && one !== undefined
          ? ` ${one} has no password (photosync users password ${one}).`
          : ` ${others.join(', ')} have no password (photosync users password <upn>).`;
    throw new CliError(
      `${user.upn} is the only administrator who can sign in: without them nobody could sign in to the admin console.` +
        `${noPassword} Make another user one first (photosync users grant-admin <upn>, or users add <upn> --admin ` +
        `with a password), then ${verb === 'revoke-admin' ? 'revoke this one' : `${verb} this one`}.`,
    );
  }
}

export const usersDisable: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const result = await keepAnAdministrator(all.database, user, 'disable', async (trx) => {
    const ended = await setUserEnabled(trx, user, false);
    if (ended) await recordAudit(trx, COMMAND_LINE, 'user_disabled', { upn: user.upn, ended });
    return ended;
  });
  print(
    result
      ? `Disabled ${user.upn}: they cannot sign in, and their pictures show the placeholder to others. ${ended(result)}`
      : `${user.upn} was already disabled.`,
  );
};

export const usersEnable: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const result = await all.database.db.transaction().execute(async (trx) => {
    const enabled = await setUserEnabled(trx, user, true);
    if (enabled) await recordAudit(trx, COMMAND_LINE, 'user_enabled', { upn: user.upn });
    return enabled;
  });
  print(result ? `Enabled ${user.upn}; they can sign in again.` : `${user.upn} was already enabled.`);
};

export const usersPassword: CommandHandler = async ({ args: [upn], services, io, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const password = await readNewPassword(io);
  const result = await setUserPassword(all.database.db, user, password, (trx, ended) =>
    // That it was set, never the password.
    recordAudit(trx, COMMAND_LINE, 'password_set', { upn: user.upn, ended }),
  ).catch((error: unknown) => {
    if (isAppError(error)) throw new CliError(`${error.message} Nothing was changed.`, 2);
    throw error;
  });
  print(`Set a new password for ${user.upn}. ${ended(result)}`);
};

/** Removes the user with their mail photo and site pictures (files too); their history goes with them. */
export const usersRemove: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  // Under the user's lock, the one a sync writes their pictures under: a sync running now finishes
  // first (its files are then removed here), and one that starts now waits until the user is gone.
  // The user and every row of theirs go in one commit; their files after it.
  await all.lock
    .run(user.id, async () => {
      const keys = await keepAnAdministrator(all.database, user, 'remove', async (trx) => {
        const named = await deleteUser(trx, user);
        await recordAudit(trx, COMMAND_LINE, 'user_removed', { upn: user.upn, displayName: user.displayName });
        return named;
      });
      all.faultPoint?.('remove-after-commit');
      await all.blobs.delete(keys);
    })
    .catch((error: unknown) => {
      if (!(error instanceof LockTimeoutError)) throw error;
      throw new CliError(`A sync of ${user.upn} is still running, so nothing was removed; try again in a moment.`);
    });
  print(`Removed ${user.upn}, their photos, sessions and tokens.`);
};

export const usersGrantAdmin: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const changed = await all.database.db.transaction().execute(async (trx) => {
    const granted = await setUserAdmin(trx, user, true);
    if (granted) await recordAudit(trx, COMMAND_LINE, 'admin_granted', { upn: user.upn });
    return granted;
  });
  const disabled = user.enabled
    ? ''
    : ` They are disabled: enable them (photosync users enable ${user.upn}) to let them sign in.`;
  print(
    (changed
      ? `${user.upn} is now an administrator: the admin console is theirs at their next request.`
      : `${user.upn} was already an administrator.`) + disabled,
  );
};

export const usersRevokeAdmin: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const changed = await keepAnAdministrator(all.database, user, 'revoke-admin', async (trx) => {
    const revoked = await setUserAdmin(trx, user, false);
    if (revoked) await recordAudit(trx, COMMAND_LINE, 'admin_revoked', { upn: user.upn });
    return revoked;
  });
  print(
    changed
      ? `${user.upn} is no longer an administrator: the admin console refuses them from their next request on.`
      : `${user.upn} was not an administrator.`,
  );
};
