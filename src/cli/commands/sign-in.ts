import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import type { CommandHandler } from '../command.js';
import { endUserSessions } from '../../directory/credentials.js';
import { revokeUserRefreshTokens } from '../../directory/sign-in-grants.js';
import { rotateSigningKey } from '../../directory/signing-keys.js';
import type { Services } from '../../services.js';
import { requireUser } from './users.js';

/** Ends a user's sign-ins, as Entra's "revoke sessions": refresh tokens, unused codes and portal sessions. */
export async function revokeSessionsCommand(services: Services, upn: string | undefined): Promise<string> {
  const user = await requireUser(services, upn);
  const { db } = services.database;
  const refreshTokens = await revokeUserRefreshTokens(db, user.id);
  const sessions = await endUserSessions(db, user.id);
  // Recorded when it ended something: run again, it ends nothing.
  if (refreshTokens > 0 || sessions > 0) {
    await recordAudit(db, COMMAND_LINE, 'sessions_revoked', { upn: user.upn, refreshTokens, sessions });
  }
  return (
    `Ended ${refreshTokens} refresh token(s) and ${sessions} portal session(s) of ${user.upn}. ` +
    'Access tokens already issued live out their hour.'
  );
}

export async function rotateSigningKeyCommand(services: Services): Promise<string> {
  const { kid, retired } = await rotateSigningKey(services.database.db);
  // Key ids only: the keys themselves stay in their table.
  await recordAudit(services.database.db, COMMAND_LINE, 'signing_key_rotated', { kid, retired });
  return `Tokens are now signed with key ${kid}; ${retired.length === 0 ? 'no key was' : `${retired.join(', ')} stays`} published for verification for a day.`;
}

export const usersRevokeSessions: CommandHandler = async ({ args: [upn], services, print }) => {
  print(await revokeSessionsCommand(await services(), upn));
};

export const signingKeyRotate: CommandHandler = async ({ services, print }) => {
  print(await rotateSigningKeyCommand(await services()));
};
