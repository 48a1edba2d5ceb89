import { deleteUser, setUserEnabled, setUserPassword, type EndedCredentials } from '../../directory/revocation.js';
import { setUserAdmin, type DirectoryUser } from '../../directory/users.js';
import { isAppError } from '../../errors.js';
import { removeMailPhoto } from '../../mail/photo-store.js';
import { getSiteProfile, showPlaceholder } from '../../sites/profiles.js';
import type { Db } from '../../storage/database.js';
import type { CommandHandler } from '../command.js';
import { CliError } from '../output.js';
import { readNewPassword } from '../password-input.js';
import { requireUser } from './users.js';

// An account's life after `users add`: disabled and enabled again, a new password, removed.
// Disabling and a new password end everything the user held (revocation.ts).

const ended = (what: EndedCredentials) =>
  `Ended ${what.sessions} portal session(s), ${what.tokens} token(s) and ${what.refreshTokens} refresh token(s); ` +
  'access tokens issued before now are refused.';

/** Refuses to leave the console with nobody to sign in to it. */
async function keepAnAdministrator(
  db: Db,
  user: DirectoryUser,
  verb: 'disable' | 'remove' | 'revoke-admin',
): Promise<void> {
  if (!user.isAdmin || !user.enabled) return;
  const others = await db
    .selectFrom('directory_users')
    .select('id')
    .where('is_admin', '=', 1)
    .where('enabled', '=', 1)
    .where('id', '!=', user.id)
    .limit(1)
    .execute();
  if (others.length === 0) {
    throw new CliError(
      `${user.upn} is the only administrator: without them nobody could sign in to the admin console. ` +
        'Make another user one first (photosync users grant-admin <upn>, or users add <upn> --admin), ' +
        `then ${verb === 'revoke-admin' ? 'revoke this one' : `${verb} this one`}.`,
    );
  }
}

export const usersDisable: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  await keepAnAdministrator(all.database.db, user, 'disable');
  const result = await setUserEnabled(all.database.db, user, false);
  print(
    result
      ? `Disabled ${user.upn}: they cannot sign in, and their pictures show the placeholder to others. ${ended(result)}`
      : `${user.upn} was already disabled.`,
  );
};

export const usersEnable: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const result = await setUserEnabled(all.database.db, user, true);
  print(result ? `Enabled ${user.upn}; they can sign in again.` : `${user.upn} was already enabled.`);
};

export const usersPassword: CommandHandler = async ({ args: [upn], services, io, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const password = await readNewPassword(io);
  const result = await setUserPassword(all.database.db, user, password).catch((error: unknown) => {
    if (isAppError(error)) throw new CliError(`${error.message} Nothing was changed.`, 2);
    throw error;
  });
  print(`Set a new password for ${user.upn}. ${ended(result)}`);
};

/** Removes the user with their mail photo and site pictures (files too); their history goes with them. */
export const usersRemove: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const { db, dialect } = all.database;
  await keepAnAdministrator(db, user, 'remove');
  if (user.hasMailbox) await removeMailPhoto({ db, dialect, blobs: all.blobs }, user);
  if (await getSiteProfile(db, user.id)) await showPlaceholder({ db, blobs: all.blobs }, user, Date.now());
  await deleteUser(db, user);
  print(`Removed ${user.upn}, their photos, sessions and tokens.`);
};

export const usersGrantAdmin: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = await requireUser(all, upn);
  const changed = await setUserAdmin(all.database.db, user, true);
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
  await keepAnAdministrator(all.database.db, user, 'revoke-admin');
  const changed = await setUserAdmin(all.database.db, user, false);
  print(
    changed
      ? `${user.upn} is no longer an administrator: the admin console refuses them from their next request on.`
      : `${user.upn} was not an administrator.`,
  );
};
