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
  // One commit: a crash ends all of them, recorded, or none.
  const { refreshTokens, codes, sessions } = await services.database.db.transaction().execute(async (trx) => {
    const grants = await revokeUserRefreshTokens(trx, user.id);
    const ended = { ...grants, sessions: await endUserSessions(trx, user.id) };
    // Recorded when it ended something: run again, it ends nothing.
    if (ended.refreshTokens > 0 || ended.codes > 0 || ended.sessions > 0) {
      await recordAudit(trx, COMMAND_LINE, 'sessions_revoked', { upn: user.upn, ...ended });
    }
    return ended;
  });
  return (
    `Ended ${refreshTokens} refresh token(s), ${codes} unused sign-in code(s) and ${sessions} portal session(s) of ${user.upn}. ` +
    'Access tokens already issued live out their hour.'
  );
}

export async function rotateSigningKeyCommand(services: Services): Promise<string> {
  // Key ids only, in the commit that rotates: the keys themselves stay in their table.
  const { kid, retired } = await rotateSigningKey(services.database.db, (trx, rotated) =>
    recordAudit(trx, COMMAND_LINE, 'signing_key_rotated', rotated),
  );
  return `Tokens are now signed with key ${kid}; ${retired.length === 0 ? 'no key was' : `${retired.join(', ')} stays`} published for verification for a day.`;
}

export const usersRevokeSessions: CommandHandler = async ({ args: [upn], services, print }) => {
  print(await revokeSessionsCommand(await services(), upn));
};

export const signingKeyRotate: CommandHandler = async ({ services, print }) => {
  print(await rotateSigningKeyCommand(await services()));
};
