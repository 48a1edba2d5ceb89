import { randomUUID } from 'node:crypto';
import type { Expression, ExpressionBuilder, SelectQueryBuilder, SqlBool } from 'kysely';
import type { Database, Db, Dialect } from '../storage/database.js';
import { inTransaction } from '../storage/in-transaction.js';
import { conflict, invalidInput } from '../errors.js';
import { MIN_PASSWORD_LENGTH, hashPassword, passwordMatches } from './passwords.js';
import type { DirectoryUserRow } from './tables.js';
import { normalizeUpn } from './upn.js';

export interface DirectoryUser {
  id: string;
  upn: string;
  displayName: string;
  enabled: boolean;
  isAdmin: boolean;
  hasMailbox: boolean;
}

export interface NewUser {
  upn: string;
  displayName: string;
  password?: string | undefined;
  hasMailbox?: boolean;
  isAdmin?: boolean;
}

export const USER_COLUMNS = ['id', 'upn', 'display_name', 'enabled', 'is_admin', 'has_mailbox'] as const;

export function toUser(row: Pick<DirectoryUserRow, (typeof USER_COLUMNS)[number]>): DirectoryUser {
  return {
    id: row.id,
    upn: row.upn,
    displayName: row.display_name,
    enabled: row.enabled === 1,
    isAdmin: row.is_admin === 1,
    hasMailbox: row.has_mailbox === 1,
  };
}

/**
 * Whether anyone is shown the user's pictures: a disabled account's are not (the placeholder, or
 * Graph's ImageNotFound, as for a user without a photo), wherever pictures are served.
 */
export function picturesShown(user: DirectoryUser): boolean {
  return user.enabled;
}

/** Checks a new user's fields and returns them cleaned, or throws a 400 that says what is wrong. */
export function validateNewUser(input: NewUser): Required<Omit<NewUser, 'password'>> & { password?: string } {
  const upn = normalizeUpn(input.upn);
  if (!upn) throw invalidInput(`"${input.upn}" is not a valid user principal name (like jane@contoso.com).`);
  const displayName = input.displayName.trim();
  if (displayName.length === 0 || displayName.length > 256) {
    throw invalidInput('The display name must be 1 to 256 characters.');
  }
  // Control characters, line and paragraph separators, and bidi overrides/isolates (which can make
  // a name display as something else).
  if (/[\p{Cc}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069]/u.test(displayName)) {
    throw invalidInput(
      'The display name cannot contain line breaks, tabs, direction overrides or other control characters.',
    );
  }
  if (input.password !== undefined && input.password.length < MIN_PASSWORD_LENGTH) {
    throw invalidInput(`The password must be at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  return {
    upn,
    displayName,
    ...(input.password !== undefined ? { password: input.password } : {}),
    hasMailbox: input.hasMailbox ?? true,
    isAdmin: input.isAdmin ?? false,
  };
}

/**
 * Adds the user. `record` (an audit entry) is written in the same commit as the new row; the
 * password is hashed before that commit begins.
 */
export async function createUser(
  db: Db,
  input: NewUser,
  record?: (trx: Db, user: DirectoryUser) => Promise<unknown>,
): Promise<DirectoryUser> {
  const user = validateNewUser(input);
  if (await findUserByUpn(db, user.upn)) throw conflict(`A user ${user.upn} already exists.`, 'user_exists');
  const row = {
    id: randomUUID(),
    upn: user.upn,
    display_name: user.displayName,
    enabled: 1,
    is_admin: user.isAdmin ? 1 : 0,
    has_mailbox: user.hasMailbox ? 1 : 0,
    password_hash: user.password === undefined ? null : await hashPassword(user.password),
    created_at: Date.now(),
  };
  const added = toUser(row);
  try {
    if (record) {
      await inTransaction(db, async (trx) => {
        await trx.insertInto('directory_users').values(row).execute();
        await record(trx, added);
      });
    } else {
      await db.insertInto('directory_users').values(row).execute();
    }
  } catch (error) {
    // Another writer may have added the same UPN since the check above.
    if (isUniqueViolation(error)) throw conflict(`A user ${user.upn} already exists.`, 'user_exists');
    throw error;
  }
  return added;
}

/**
 * `user` is the only enabled administrator with a password: without them nobody could sign in to
 * the admin console. `withoutPassword`: the other enabled administrators, who have none.
 */
export class LastAdministratorError extends Error {
  constructor(
    readonly user: DirectoryUser,
    readonly withoutPassword: string[] = [],
  ) {
    super(`${user.upn} is the only administrator who can sign in.`);
    this.name = 'LastAdministratorError';
  }
}

/**
 * Runs `change` (which disables, demotes or removes `user`) in a transaction, unless `user` is the
 * only enabled administrator with a password then (one without a password cannot sign in, so does
 * not count). The check and the change hold the write lock between them: on PostgreSQL every
 * enabled administrator's row is locked first, and SQLite's transactions hold the write lock from
 * their start, so two such changes at once (the last two administrators taken away from two
 * shells) see each other's outcome, and one of them is refused.
 */
export async function keepingAnAdministrator<T>(
  db: Db,
  dialect: Dialect,
  user: DirectoryUser,
  change: (trx: Db) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    // SQLite's transactions take the write lock at BEGIN (database.ts); PostgreSQL locks the rows.
    if (dialect === 'postgres') {
      await trx
        .selectFrom('directory_users')
        .select('id')
        .where('is_admin', '=', 1)
        .where('enabled', '=', 1)
        .forUpdate()
        .execute();
    }
    const admins = await trx
      .selectFrom('directory_users')
      .select((eb) => ['id', 'upn', eb('password_hash', 'is not', null).as('has_password')])
      .where('is_admin', '=', 1)
      .where('enabled', '=', 1)
      .orderBy('upn')
      .execute();
    // SQLite answers 1 or 0, PostgreSQL true or false.
    const canSignIn = admins.filter((a) => Boolean(a.has_password));
    if (canSignIn.length === 1 && canSignIn[0]?.id === user.id) {
      throw new LastAdministratorError(
        user,
        admins.filter((a) => !a.has_password).map((a) => a.upn),
      );
    }
    return change(trx);
  });
}

/** Makes the user an administrator of the console or takes that away; false when it already was so. */
export async function setUserAdmin(db: Db, user: DirectoryUser, isAdmin: boolean): Promise<boolean> {
  const changed = await db
    .updateTable('directory_users')
    .set({ is_admin: isAdmin ? 1 : 0 })
    .where('id', '=', user.id)
    .where('is_admin', '=', isAdmin ? 0 : 1)
    .executeTakeFirst();
  return changed.numUpdatedRows > 0n;
}

export async function findUserByUpn(db: Db, upn: string): Promise<DirectoryUser | undefined> {
  const normalized = normalizeUpn(upn);
  if (!normalized) return undefined;
  const row = await db
    .selectFrom('directory_users')
    .select(USER_COLUMNS)
    .where('upn', '=', normalized)
    .executeTakeFirst();
  return row && toUser(row);
}

export async function findUserById(db: Db, id: string): Promise<DirectoryUser | undefined> {
  // No id holds a NUL, and PostgreSQL refuses one in any text value rather than finding nothing.
  if (id.includes('\u0000')) return undefined;
  const row = await db.selectFrom('directory_users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
  return row && toUser(row);
}

/** How many users the directory has (those matching `where`, when given). */
export async function countUsers(
  db: Db,
  where?: (eb: ExpressionBuilder<Database, 'directory_users'>) => Expression<SqlBool>,
): Promise<number> {
  let query = db.selectFrom('directory_users');
  if (where) query = query.where(where);
  const row = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Writes the users' rows back unchanged, so whatever watches them looks again: the admin console's
 * status triggers recompute those users (after a change of rendition sizes, say).
 */
export async function touchUsers(db: Db, ids: SelectQueryBuilder<Database, any, { user_id: string }>): Promise<void> {
  await db
    .updateTable('directory_users')
    .set((eb) => ({ has_mailbox: eb.ref('has_mailbox') }))
    .where('id', 'in', ids)
    .execute();
}

// A hash of a password nobody has, so an unknown user costs as much time as a wrong password.
let decoyHash: Promise<string> | undefined;

/**
 * The result of checking a UPN and password: the enabled user, or a refusal that never says
 * which part was wrong. `disabled` is said only when the password was right for a disabled
 * account (as Entra's AADSTS50057): the person knows the password and learns only that an
 * administrator turned the account off, instead of trying the password again and again.
 */
export type PasswordCheck = { user: DirectoryUser; disabled?: undefined } | { user?: undefined; disabled: boolean };

export async function checkPassword(db: Db, upn: string, password: string): Promise<PasswordCheck> {
  const normalized = normalizeUpn(upn);
  const row = normalized
    ? await db
        .selectFrom('directory_users')
        .select([...USER_COLUMNS, 'password_hash'])
        .where('upn', '=', normalized)
        .executeTakeFirst()
    : undefined;
  decoyHash ??= hashPassword('decoy-password-that-nobody-has');
  const matches = await passwordMatches(row?.password_hash ?? (await decoyHash), password);
  if (!row || !matches) return { disabled: false };
  if (row.enabled !== 1) return { disabled: true };
  return { user: toUser(row) };
}

/** The enabled user with this UPN and password, or undefined; never says which part was wrong. */
export async function authenticate(db: Db, upn: string, password: string): Promise<DirectoryUser | undefined> {
  return (await checkPassword(db, upn, password)).user;
}

function isUniqueViolation(error: unknown): boolean {
  const { code } = error as { code?: string };
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** A page of users in userPrincipalName order, after `afterUpn`; `where` narrows the list. */
export async function listUsers(
  db: Db,
  page: {
    afterUpn?: string;
    limit: number;
    where?: (query: SelectQueryBuilder<Database, 'directory_users', object>) => typeof query;
    /** By UPN ascending unless told; by display name, users of one name follow in UPN order. */
    order?: UserOrder;
    /** With an order by display name: the last user of the page before (its name and UPN). */
    afterName?: { displayName: string; upn: string };
  },
): Promise<DirectoryUser[]> {
  const order = page.order ?? { by: 'upn', descending: false };
  const direction = order.descending ? 'desc' : 'asc';
  const beyond = order.descending ? '<' : '>';
  let query = db.selectFrom('directory_users');
  if (page.afterUpn !== undefined) query = query.where('upn', beyond, page.afterUpn);
  const after = page.afterName;
  if (after !== undefined) {
    query = query.where((eb) =>
      eb.or([
        eb('display_name', beyond, after.displayName),
        eb.and([eb('display_name', '=', after.displayName), eb('upn', beyond, after.upn)]),
      ]),
    );
  }
  if (page.where) query = page.where(query);
  let ordered = query.select(USER_COLUMNS);
  if (order.by === 'display_name') ordered = ordered.orderBy('display_name', direction);
  const rows = await ordered.orderBy('upn', direction).limit(page.limit).execute();
  return rows.map(toUser);
}

/** The orders the directory lists its users in. */
export interface UserOrder {
  by: 'upn' | 'display_name';
  descending: boolean;
}
