import type { Kysely } from 'kysely';
import { findUserByUpn, type DirectoryUser } from '../directory/users.js';
import { invalidInput, userNotFound } from '../errors.js';
import { getMailPhoto } from '../mail/photo-store.js';
import { LOCALES, type Locale } from '../web/i18n.js';
import type { Database, Db } from '../storage/database.js';
import { isOutOfStep, OUT_OF_STEP_STATES, type SyncStateName } from '../sync/state.js';
import { recordAudit } from './audit.js';
import { enqueuePromptMails, promptMailState, type PromptMailState } from './outbox.js';

// Asking users to sync: the article's remedy. A prompt shows the user a banner at their next
// portal visit (and an e-mail, when SMTP is configured) until their pictures are in step.

export const MAX_PROMPT_UPNS = 500;

export type PromptTarget = { upns: string[] } | { allOutOfStep: true };

export interface PromptOutcome {
  promptIds: number[];
  /**
   * Users not prompted, with the reason: their state when they are not out of step, or `disabled`
   * (they cannot sign in to act on it).
   */
  skipped: Array<{ upn: string; name: string; state: SyncStateName | 'disabled' }>;
  /** Users asked although an earlier request to them is still open (they get a second e-mail). */
  askedAgain: string[];
  /** The audit entry that records this request. */
  auditId: number;
}

/**
 * Records a prompt for each target user who is out of step, with the audit entry and (when
 * e-mail is on) each prompt's e-mail in the outbox, in one transaction. An unknown UPN refuses the
 * whole request and records nothing.
 */
export async function promptUsers(
  db: Kysely<Database>,
  actor: DirectoryUser,
  target: PromptTarget,
  options: { email: boolean } = { email: false },
): Promise<PromptOutcome> {
  const at = Date.now();
  if ('upns' in target) {
    if (target.upns.length === 0) throw invalidInput('Choose at least one user to ask.', 'nothing_selected');
    if (target.upns.length > MAX_PROMPT_UPNS) {
      throw invalidInput(`Ask at most ${MAX_PROMPT_UPNS} users at once, or ask everyone out of step.`);
    }
    const users: DirectoryUser[] = [];
    for (const upn of new Set(target.upns)) {
      const user = await findUserByUpn(db, upn);
      if (!user) throw userNotFound(upn);
      users.push(user);
    }
    return db.transaction().execute(async (trx) => {
      const states = await trx
        .selectFrom('admin_user_status')
        .select(['user_id', 'state'])
        .where(
          'user_id',
          'in',
          users.map((u) => u.id),
        )
        .execute();
      const stateOf = new Map(states.map((s) => [s.user_id, s.state as SyncStateName]));
      const skipped: PromptOutcome['skipped'] = [];
      const promptIds: number[] = [];
      const open = await openPromptUsers(
        trx,
        users.map((u) => u.id),
      );
      const askedAgain = users.filter(
        (u) => u.enabled && open.has(u.id) && isOutOfStep(stateOf.get(u.id) ?? 'no_photo'),
      );
      for (const user of users) {
        const state = stateOf.get(user.id) ?? 'no_photo';
        if (!user.enabled) {
          skipped.push({ upn: user.upn, name: user.displayName, state: 'disabled' });
          continue;
        }
        if (!isOutOfStep(state)) {
          skipped.push({ upn: user.upn, name: user.displayName, state });
          continue;
        }
        const row = await trx
          .insertInto('admin_prompts')
          .values({ user_id: user.id, prompted_by: actor.upn, created_at: at, mail_etag: await mailEtag(trx, user.id) })
          .returning('id')
          .executeTakeFirstOrThrow();
        promptIds.push(Number(row.id));
      }
      if (options.email) await enqueuePromptMails(trx, promptIds, at);
      const auditId = await recordAudit(
        trx,
        actor,
        'prompt',
        {
          users: users.filter((u) => !skipped.some((s) => s.upn === u.upn)).map((u) => u.upn),
          skipped,
          askedAgain: askedAgain.map((u) => u.upn),
        },
        at,
      );
      return { promptIds, skipped, askedAgain: askedAgain.map((u) => u.upn), auditId };
    });
  }
  return db.transaction().execute(async (trx) => {
    const again = await trx
      .selectFrom('admin_user_status as st')
      .innerJoin('directory_users as u', 'u.id', 'st.user_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('st.state', 'in', [...OUT_OF_STEP_STATES])
      .where('u.enabled', '=', 1)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('admin_prompts as pr')
            .select('pr.id')
            .whereRef('pr.user_id', '=', 'st.user_id')
            .where('pr.resolved_at', 'is', null),
        ),
      )
      .executeTakeFirst();
    await trx
      .insertInto('admin_prompts')
      .columns(['user_id', 'prompted_by', 'created_at', 'mail_etag'])
      .expression((eb) =>
        eb
          .selectFrom('admin_user_status as st')
          .innerJoin('directory_users as u', 'u.id', 'st.user_id')
          .leftJoin('mail_photos as m', 'm.user_id', 'st.user_id')
          .select((e) => ['st.user_id', e.val(actor.upn).as('prompted_by'), e.val(at).as('created_at'), 'm.etag'])
          .where('st.state', 'in', [...OUT_OF_STEP_STATES])
          // Nobody who cannot sign in to act on it.
          .where('u.enabled', '=', 1),
      )
      .execute();
    const rows = await trx
      .selectFrom('admin_prompts')
      .select('id')
      .where('created_at', '=', at)
      .where('prompted_by', '=', actor.upn)
      .execute();
    if (options.email) {
      await enqueuePromptMails(
        trx,
        rows.map((r) => Number(r.id)),
        at,
      );
    }
    const askedAgain = Number(again?.n ?? 0);
    // Out of step but not asked: they cannot sign in to act on it. The notice says how many.
    const disabled = await trx
      .selectFrom('admin_user_status as st')
      .innerJoin('directory_users as u', 'u.id', 'st.user_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('st.state', 'in', [...OUT_OF_STEP_STATES])
      .where('u.enabled', '=', 0)
      .executeTakeFirst();
    const auditId = await recordAudit(
      trx,
      actor,
      'prompt',
      { allOutOfStep: true, users: rows.length, askedAgain, disabled: Number(disabled?.n ?? 0) },
      at,
    );
    return { promptIds: rows.map((r) => Number(r.id)), skipped: [], askedAgain: [], auditId };
  });
}

/** Of these users, those with a request to sync that is still open (not yet in step since). */
async function openPromptUsers(db: Db, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('admin_prompts')
    .select('user_id')
    .distinct()
    .where('user_id', 'in', userIds)
    .where('resolved_at', 'is', null)
    .execute();
  return new Set(rows.map((r) => r.user_id));
}

/** The open request to sync for this user, if any: the console warns before asking again. */
export async function openPrompt(db: Db, userId: string): Promise<PromptRecord | undefined> {
  return (await listPrompts(db, userId)).find((p) => p.resolvedAt === null);
}

async function mailEtag(db: Db, userId: string): Promise<string | null> {
  return (await getMailPhoto(db, userId))?.etag ?? null;
}

/**
 * The prompt the user should see now, if any. Once the user is no longer out of step their open
 * prompts are closed, so the banner goes for good.
 */
export async function pendingPrompt(db: Db, userId: string): Promise<{ promptedAt: number } | undefined> {
  const open = await db
    .selectFrom('admin_prompts')
    .select('created_at')
    .where('user_id', '=', userId)
    .where('resolved_at', 'is', null)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!open) return undefined;
  const status = await db
    .selectFrom('admin_user_status')
    .select('state')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (status && isOutOfStep(status.state as SyncStateName)) return { promptedAt: open.created_at };
  await db
    .updateTable('admin_prompts')
    .set({ resolved_at: Date.now() })
    .where('user_id', '=', userId)
    .where('resolved_at', 'is', null)
    .execute();
  return undefined;
}

/** Remembers the language of the user's last portal visit, for e-mails sent to them later. */
export async function rememberLocale(db: Db, userId: string, locale: Locale): Promise<void> {
  const current = await db.selectFrom('user_locales').select('locale').where('user_id', '=', userId).executeTakeFirst();
  if (current?.locale === locale) return;
  const at = Date.now();
  await db
    .insertInto('user_locales')
    .values({ user_id: userId, locale, updated_at: at })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ locale, updated_at: at }))
    .execute();
}

export interface PromptToEmail {
  id: number;
  upn: string;
  displayName: string;
  locale: Locale;
  /** The request was answered (the user is in step) before its mail went. */
  answered: boolean;
  /** False when the account was disabled after the request: the mail is not sent. */
  enabled: boolean;
}

export async function promptsToEmail(db: Db, ids: number[]): Promise<PromptToEmail[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('admin_prompts as pr')
    .innerJoin('directory_users as u', 'u.id', 'pr.user_id')
    .leftJoin('user_locales as l', 'l.user_id', 'pr.user_id')
    .select(['pr.id', 'u.upn', 'u.display_name', 'u.enabled', 'l.locale', 'pr.resolved_at'])
    .where('pr.id', 'in', ids)
    .where('pr.emailed_at', 'is', null)
    .orderBy('pr.id')
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    upn: r.upn,
    displayName: r.display_name,
    locale: (LOCALES as readonly string[]).includes(r.locale ?? '') ? (r.locale as Locale) : 'en',
    answered: r.resolved_at !== null,
    enabled: r.enabled === 1,
  }));
}

export async function markEmailed(db: Db, promptId: number, error: string | null): Promise<void> {
  await db
    .updateTable('admin_prompts')
    .set({ emailed_at: Date.now(), email_error: error })
    .where('id', '=', promptId)
    .execute();
}

export interface PromptRecord {
  /** The e-mail's progress in the outbox; null when none was to be sent (no SMTP_URL). */
  mail: PromptMailState | null;
  promptedAt: number;
  promptedBy: string;
  emailedAt: number | null;
  emailError: string | null;
  resolvedAt: number | null;
}

export async function listPrompts(db: Db, userId: string): Promise<PromptRecord[]> {
  const rows = await db
    .selectFrom('admin_prompts')
    .leftJoin('admin_prompt_mails as mail', 'mail.prompt_id', 'admin_prompts.id')
    .select([
      'created_at',
      'prompted_by',
      'emailed_at',
      'email_error',
      'resolved_at',
      'mail.status',
      'mail.tries',
      'mail.last_error',
      'mail.next_try_at',
    ])
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .limit(50)
    .execute();
  return rows.map((r) => ({
    mail:
      r.status === null || r.tries === null || r.next_try_at === null
        ? null
        : promptMailState({ status: r.status, tries: r.tries, last_error: r.last_error, next_try_at: r.next_try_at }),
    promptedAt: r.created_at,
    promptedBy: r.prompted_by,
    emailedAt: r.emailed_at,
    emailError: r.email_error,
    resolvedAt: r.resolved_at,
  }));
}
