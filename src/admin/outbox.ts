import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database, Db, Dialect } from '../storage/database.js';
import { promptMail, type Mailer } from './mailer.js';
import { markEmailed, promptsToEmail } from './prompts.js';

// The prompt e-mails' outbox. A prompt's row here is written in the prompt's transaction; any
// instance sends it: it claims due rows with a lease (PostgreSQL: FOR UPDATE SKIP LOCKED, so two
// instances never claim the same row; SQLite has one writer at a time), renews the lease of each
// mail right before sending it (the mailer's deadlines keep one send well inside a lease), and
// records the outcome only while the lease is still its own: a mail whose lease ran out while the
// ones before it were sent is another instance's to send. A failed try waits twice as long as the
// one before; after the last it is failed.

/**
 * not_needed: the user was in step before the mail went (their sync answered the request).
 * account_disabled: the account was disabled before the mail went (they cannot sign in to act on it).
 */
export type PromptMailStatus = 'sending' | 'retrying' | 'sent' | 'failed' | 'not_needed' | 'account_disabled';

export interface OutboxSettings {
  /** Tries in all before a mail is given up as failed. */
  maxTries: number;
  /** The wait after the first failed try; each later one waits twice as long (at most an hour). */
  retryMs: number;
}

/** How long a claim holds a mail: longer than the mailer's deadlines for one send (mailer.ts). */
export const LEASE_MS = 60_000;
const CLAIM_BATCH = 20;
const MAX_WAIT_MS = 3600_000;

/** Puts the prompts' e-mails in the outbox, due now; call inside the prompts' transaction. */
export async function enqueuePromptMails(trx: Db, promptIds: readonly number[], now = Date.now()): Promise<void> {
  if (promptIds.length === 0) return;
  await trx
    .insertInto('admin_prompt_mails')
    .values(promptIds.map((id) => ({ prompt_id: id, status: 'pending', next_try_at: now })))
    .execute();
}

/** Claims due mails for `LEASE_MS`; another instance skips them meanwhile. */
async function claimDue(
  db: Kysely<Database>,
  dialect: Dialect,
  now: number,
): Promise<{ ids: number[]; lease: number }> {
  const lease = now + LEASE_MS;
  const rows = await db
    .updateTable('admin_prompt_mails')
    .set({ lease_until: lease })
    .where('prompt_id', 'in', (eb) => {
      const due = eb
        .selectFrom('admin_prompt_mails')
        .select('prompt_id')
        .where('status', '=', 'pending')
        .where('next_try_at', '<=', now)
        .where((w) => w.or([w('lease_until', 'is', null), w('lease_until', '<', now)]))
        .orderBy('next_try_at')
        .limit(CLAIM_BATCH);
      return dialect === 'postgres' ? due.forUpdate().skipLocked() : due;
    })
    .returning('prompt_id')
    .execute();
  return { ids: rows.map((r) => Number(r.prompt_id)), lease };
}

/** A new lease on a mail still held under `held`; undefined when another instance has it now. */
async function renewLease(db: Kysely<Database>, promptId: number, held: number): Promise<number | undefined> {
  const lease = Math.max(Date.now() + LEASE_MS, held + 1);
  const renewed = await db
    .updateTable('admin_prompt_mails')
    .set({ lease_until: lease })
    .where('prompt_id', '=', promptId)
    .where('status', '=', 'pending')
    .where('lease_until', '=', held)
    .executeTakeFirst();
  return Number(renewed.numUpdatedRows) === 1 ? lease : undefined;
}

export function retryDelayMs(settings: OutboxSettings, tries: number): number {
  return Math.min(MAX_WAIT_MS, settings.retryMs * 2 ** Math.max(0, tries - 1));
}

export interface OutboxDeps {
  db: Kysely<Database>;
  dialect: Dialect;
  mailer: Mailer;
  from: () => string;
  publicUrl: () => string;
  log: Logger;
  settings: OutboxSettings;
}

/** Sends what is due now; returns how many were tried. */
export async function sendDuePromptMails(deps: OutboxDeps, now = Date.now()): Promise<number> {
  const { ids, lease } = await claimDue(deps.db, deps.dialect, now);
  if (ids.length === 0) return 0;
  const prompts = await promptsToEmail(deps.db, ids);
  const known = new Set(prompts.map((p) => p.id));
  for (const prompt of prompts) {
    const held = await renewLease(deps.db, prompt.id, lease);
    if (held === undefined) continue;
    // The user synced before the mail went (a try failed, or it waited its turn): nothing to ask.
    // Or their account was disabled meanwhile: a disabled user is not e-mailed.
    const notSent = !prompt.enabled ? 'account_disabled' : prompt.answered ? 'not_needed' : undefined;
    if (notSent) {
      await deps.db
        .updateTable('admin_prompt_mails')
        .set({ status: notSent, lease_until: null })
        .where('prompt_id', '=', prompt.id)
        .where('lease_until', '=', held)
        .execute();
      continue;
    }
    const mail = promptMail(prompt, prompt.locale, deps.publicUrl());
    let error: string | null = null;
    try {
      await deps.mailer.send({ ...mail, from: deps.from() });
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    }
    await recordTry(deps, prompt.id, held, error);
  }
  // A prompt that was e-mailed already (or whose user is gone) has nothing left to send.
  const stale = ids.filter((id) => !known.has(id));
  if (stale.length > 0) {
    await deps.db
      .updateTable('admin_prompt_mails')
      .set({ status: 'sent', lease_until: null })
      .where('prompt_id', 'in', stale)
      .where('lease_until', '=', lease)
      .execute();
  }
  return ids.length;
}

/** Records a try of a mail held under `lease`; nothing when the lease is no longer this instance's. */
async function recordTry(deps: OutboxDeps, promptId: number, lease: number, error: string | null): Promise<void> {
  const at = Date.now();
  const row = await deps.db
    .selectFrom('admin_prompt_mails')
    .select('tries')
    .where('prompt_id', '=', promptId)
    .executeTakeFirst();
  const tries = (row?.tries ?? 0) + 1;
  if (error === null) {
    await deps.db.transaction().execute(async (trx) => {
      const sent = await trx
        .updateTable('admin_prompt_mails')
        .set({ status: 'sent', tries, sent_at: at, lease_until: null, last_error: null })
        .where('prompt_id', '=', promptId)
        .where('lease_until', '=', lease)
        .executeTakeFirst();
      if (Number(sent.numUpdatedRows) === 1) await markEmailed(trx, promptId, null);
    });
    return;
  }
  const givingUp = tries >= deps.settings.maxTries;
  deps.log.warn({ promptId, tries, givingUp, error }, 'prompt e-mail failed');
  await deps.db.transaction().execute(async (trx) => {
    const recorded = await trx
      .updateTable('admin_prompt_mails')
      .set({
        status: givingUp ? 'failed' : 'pending',
        tries,
        last_error: error,
        lease_until: null,
        next_try_at: at + retryDelayMs(deps.settings, tries),
      })
      .where('prompt_id', '=', promptId)
      .where('lease_until', '=', lease)
      .executeTakeFirst();
    if (givingUp && Number(recorded.numUpdatedRows) === 1) await markEmailed(trx, promptId, error);
  });
}

export interface PromptOutbox {
  /** Sends what is due now (after a prompt was committed). */
  nudge(): void;
  /** Also every `intervalMs` from now on: retries come due while the server runs. */
  start(intervalMs?: number): void;
  stop(): Promise<void>;
}

/**
 * Every serving instance runs one; the claims keep two of them from sending a mail twice. One round
 * at a time per instance: a nudge during a round runs another after it.
 */
export function createPromptOutbox(deps: OutboxDeps): PromptOutbox {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const round = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      try {
        // A full batch may have more behind it.
        while (!stopped && (await sendDuePromptMails(deps)) > 0);
      } catch (error) {
        deps.log.warn({ err: error }, 'sending prompt e-mails failed; trying again shortly');
      }
    })().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        round();
      }
    });
  };
  return {
    nudge: round,
    start(intervalMs = 1000) {
      if (timer || stopped) return;
      timer = setInterval(round, intervalMs);
      timer.unref();
      round();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

export interface PromptMailState {
  status: PromptMailStatus;
  tries: number;
  lastError: string | null;
  nextTryAt: number | null;
}

const FINAL_STATUSES = ['sent', 'failed', 'not_needed', 'account_disabled'] as const satisfies PromptMailStatus[];

/** What the console shows per prompt: sending, retrying (with the last error), sent or failed. */
export function promptMailState(row: {
  status: string;
  tries: number;
  last_error: string | null;
  next_try_at: number;
}): PromptMailState {
  const waiting: PromptMailStatus = row.tries > 0 ? 'retrying' : 'sending';
  const status = FINAL_STATUSES.find((s) => s === row.status) ?? waiting;
  return {
    status,
    tries: row.tries,
    lastError: row.last_error,
    nextTryAt: status === 'retrying' ? Number(row.next_try_at) : null,
  };
}
