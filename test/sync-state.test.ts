import { randomUUID } from 'node:crypto';
import type { Insertable } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import { renditionSpec } from '../src/sites/library.js';
import type { Database } from '../src/storage/database.js';
import { planSync, type SyncPlan } from '../src/sync/engine.js';
import { getSyncInputs, syncStateInputs } from '../src/sync/inputs.js';
import { classify, isOutOfStep, SIZE_DEPENDENT_STATES, type SyncStateName } from '../src/sync/state.js';
import { listSyncStatus } from '../src/sync/status.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// "Is this picture in step?" has one home (src/sync/state.ts), but the admin console's status
// triggers must repeat it in SQL. Every combination of what the state is made of is written as
// rows; the engine's decision, `classify`, the status report and the row the triggers stored
// must all agree, on both databases.

const MAIL_ETAG = 'mail-etag-now';
const OLDER_ETAG = 'mail-etag-before';
const STALE_SPEC = '10,20,30';
const HOUR = 3_600_000;

const SITES = ['no profile', 'placeholder, never synced', 'placeholder', 'mail picture', 'upload'] as const;
const FAILURES = ['none', 'failed, back-off over', 'backing off', 'backing off on an older photo'] as const;

interface Combination {
  mailbox: boolean;
  mail: boolean;
  site: (typeof SITES)[number];
  synced: 'same' | 'different' | 'none';
  sizes: 'current' | 'stale';
  failure: (typeof FAILURES)[number];
}

/** Every combination that differs in something the rows can hold. */
function combinations(): Combination[] {
  const all: Combination[] = [];
  for (const mailbox of [true, false])
    for (const mail of [true, false])
      for (const site of SITES)
        for (const synced of ['same', 'different', 'none'] as const)
          for (const sizes of ['current', 'stale'] as const)
            for (const failure of FAILURES) {
              if (site === 'no profile' && synced !== 'none') continue;
              // Without a mail photo "same" is just another ETag.
              if (!mail && synced === 'same') continue;
              // Only renditions have sizes.
              if ((site === 'no profile' || site.startsWith('placeholder')) && sizes === 'stale') continue;
              all.push({ mailbox, mail, site, synced, sizes, failure });
            }
  return all;
}

const describeCombination = (c: Combination) =>
  `${c.mailbox ? 'mailbox' : 'no mailbox'}, ${c.mail ? 'mail photo' : 'no mail photo'}, ${c.site}, ` +
  `synced ETag ${c.synced}, sizes ${c.sizes}, failure: ${c.failure}`;

/** What the engine does with an out-of-step user, and what it records for the others. */
function expectedPlan(state: SyncStateName, c: Combination, backingOff: boolean): SyncPlan {
  switch (state) {
    case 'no_mailbox':
      return { skip: 'no_mailbox', inStep: false };
    case 'in_step':
      return { skip: 'unchanged', inStep: true };
    case 'no_photo':
      return { skip: 'no_photo', inStep: true };
    case 'changed':
    case 'never_synced':
    case 'failing':
      return backingOff ? { skip: 'backing_off', inStep: false } : { work: c.mail ? 'render' : 'placeholder' };
  }
}

describeEachDialect('the sync state, decided once and kept by the triggers', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  let spec: string;
  const users = new Map<string, Combination & { upn: string }>();
  const base = Date.now() - 30 * 24 * HOUR;
  const times = { mailChanged: base + 1000, pictureTaken: base + 2000, failingSince: base + 3000 };
  let writtenFrom = 0;
  let writtenTo = 0;

  beforeAll(async () => {
    ({ services } = context);
    spec = renditionSpec(services.syncSettings().renditionSizes);
    const now = Date.now();
    const rows = {
      users: [] as Insertable<Database['directory_users']>[],
      mail: [] as Insertable<Database['mail_photos']>[],
      profiles: [] as Insertable<Database['site_profiles']>[],
      states: [] as Insertable<Database['sync_state']>[],
    };
    combinations().forEach((c, index) => {
      const id = randomUUID();
      const upn = `combination${String(index).padStart(3, '0')}@state.test`;
      users.set(id, { ...c, upn });
      rows.users.push({
        id,
        upn,
        display_name: `Combination ${index}`,
        enabled: 1,
        is_admin: 0,
        has_mailbox: c.mailbox ? 1 : 0,
        password_hash: null,
        created_at: base,
      });
      if (c.mail) {
        rows.mail.push({
          user_id: id,
          etag: MAIL_ETAG,
          blob_key: `mail/${id}.jpg`,
          side: 64,
          byte_size: 100,
          changed_at: times.mailChanged,
        });
      }
      if (c.site !== 'no profile') {
        const picture = isPicture(c);
        rows.profiles.push({
          user_id: id,
          file_stem: `combination_${index}`,
          placeholder_state: picture ? 0 : 1,
          exchange_sync_state: c.mailbox ? 1 : 0,
          picture_timestamp: c.site === 'placeholder, never synced' ? null : times.pictureTaken,
          picture_source: c.site === 'mail picture' ? 'mail' : c.site === 'upload' ? 'upload' : null,
          synced_etag: { same: MAIL_ETAG, different: OLDER_ETAG, none: null }[c.synced],
          rendition_spec: picture ? (c.sizes === 'current' ? spec : STALE_SPEC) : null,
          last_checked_at: null,
        });
      }
      if (c.failure !== 'none') {
        const onThisPhoto = c.failure !== 'backing off on an older photo';
        rows.states.push({
          user_id: id,
          last_attempt_at: times.failingSince,
          last_outcome: 'failed',
          failing_since: times.failingSince,
          failed_etag: onThisPhoto ? (c.mail ? MAIL_ETAG : null) : OLDER_ETAG,
          retry_after: c.failure === 'failed, back-off over' ? now - HOUR : now + HOUR,
          last_error: 'The renderer gave up.',
        });
      }
    });
    const { db } = services.database;
    writtenFrom = Date.now();
    for (const [table, values] of [
      ['directory_users', rows.users],
      ['mail_photos', rows.mail],
      ['site_profiles', rows.profiles],
      ['sync_state', rows.states],
    ] as const) {
      for (let i = 0; i < values.length; i += 100) {
        await db
          .insertInto(table)
          .values(values.slice(i, i + 100) as never)
          .execute();
      }
    }
    writtenTo = Date.now();
  });

  it('agree for every combination: the engine, classify, the status report and the stored state', async () => {
    const { db } = services.database;
    const stored = new Map(
      (await db.selectFrom('admin_user_status').select(['user_id', 'state', 'since']).execute()).map((r) => [
        r.user_id,
        r,
      ]),
    );
    const reported = new Map((await listSyncStatus(db, '', spec)).map((s) => [s.upn, s.state]));
    const settings = { ...services.syncSettings(), recheckSeconds: 0 };
    const now = Date.now();
    const disagreements: string[] = [];
    const seen = new Set<SyncStateName>();

    // When the sizes in use were set (the settings publish them as the services open).
    const sizesSetAt = Number(
      (
        await db
          .selectFrom('admin_settings')
          .select('updated_at')
          .where('name', '=', 'effective_rendition_spec')
          .executeTakeFirstOrThrow()
      ).updated_at,
    );
    /** The sites show the current mail photo (by its ETag), at sizes other than those in use. */
    const resizedOnly = (c: Combination) =>
      c.site !== 'no profile' && c.synced === 'same' && !(isPicture(c) && c.sizes === 'current');
    for (const [id, c] of users) {
      const inputs = await getSyncInputs(db, id);
      const facts = syncStateInputs(c.mailbox, inputs, spec);
      const state = classify(facts);
      seen.add(state);
      const row = stored.get(id);
      const problems: string[] = [];
      if (row?.state !== state) problems.push(`triggers stored ${row?.state}`);
      if (reported.get(c.upn) !== state) problems.push(`status report says ${reported.get(c.upn)}`);

      const backingOff = c.failure === 'backing off' && isOutOfStep(state);
      for (const [trigger, expected] of [
        ['sharepoint_tile', expectedPlan(state, c, false)],
        ['photo_request', expectedPlan(state, c, backingOff)],
      ] as const) {
        const plan = planSync(inputs, { hasMailbox: c.mailbox, trigger, now, settings });
        if (JSON.stringify(plan) !== JSON.stringify(expected)) {
          problems.push(`engine on ${trigger}: ${JSON.stringify(plan)}, expected ${JSON.stringify(expected)}`);
        }
      }

      // The time the user entered the state, from the triggers' second expression.
      const since = Number(row?.since);
      const expectedSince: number | 'when written' = {
        no_mailbox: 'when written' as const,
        no_photo: 'when written' as const,
        in_step: times.pictureTaken,
        failing: times.failingSince,
        never_synced: times.mailChanged,
        // With a mail photo, "changed" means a picture was made before: the later of the two, or
        // when the sizes in use were set, if the sites show this mail photo at other sizes.
        changed: c.mail
          ? Math.max(times.mailChanged, times.pictureTaken, resizedOnly(c) ? sizesSetAt : 0)
          : ('when written' as const),
      }[state];
      const sinceAgrees =
        expectedSince === 'when written' ? since >= writtenFrom - 2 && since <= writtenTo + 2 : since === expectedSince;
      if (!sinceAgrees) problems.push(`since ${since}, expected ${expectedSince}`);

      // Only the states the admin settings re-check on a change of sizes may depend on the sizes.
      const resized = classify({ ...facts, renditionSpec: STALE_SPEC });
      const dependent: readonly SyncStateName[] = SIZE_DEPENDENT_STATES;
      if (resized !== state && !(dependent.includes(state) && dependent.includes(resized))) {
        problems.push(`other sizes move ${state} to ${resized}`);
      }

      if (problems.length > 0) disagreements.push(`${describeCombination(c)} → ${state}: ${problems.join('; ')}`);
    }
    expect(disagreements).toEqual([]);
    expect(users.size).toBeGreaterThan(200);
    expect([...seen].sort()).toEqual(['changed', 'failing', 'in_step', 'never_synced', 'no_mailbox', 'no_photo']);
  });

  describe('the cases worth naming', () => {
    const stateOf = (find: Partial<Combination>) => {
      const match = [...users].find(([, c]) => Object.entries(find).every(([k, v]) => c[k as keyof Combination] === v));
      if (!match) throw new Error(`no combination ${JSON.stringify(find)}`);
      return services.database.db
        .selectFrom('admin_user_status')
        .select('state')
        .where('user_id', '=', match[0])
        .executeTakeFirstOrThrow()
        .then((r) => r.state);
    };
    const inStep = { mailbox: true, mail: true, site: 'mail picture', synced: 'same', sizes: 'current' } as const;

    it('a photo changed back to the one the sites show is in step, though the sync of the other one failed', async () => {
      expect(await stateOf({ ...inStep, failure: 'backing off on an older photo' })).toBe('in_step');
      expect(await stateOf({ ...inStep, failure: 'none' })).toBe('in_step');
    });

    it('a failure on another photo than the mail photo now does not count: the new photo waits for the user', async () => {
      expect(await stateOf({ ...inStep, synced: 'different', failure: 'backing off on an older photo' })).toBe(
        'changed',
      );
      expect(
        await stateOf({
          ...inStep,
          site: 'placeholder, never synced',
          synced: 'none',
          failure: 'backing off on an older photo',
        }),
      ).toBe('never_synced');
    });

    it('a failure counts while the sites are out of step', async () => {
      expect(await stateOf({ ...inStep, synced: 'different', failure: 'backing off' })).toBe('failing');
      expect(await stateOf({ ...inStep, sizes: 'stale', failure: 'failed, back-off over' })).toBe('failing');
    });

    it('pictures from anywhere but the current mail photo at the current sizes are changed', async () => {
      for (const site of ['placeholder', 'upload'] as const) {
        expect(await stateOf({ ...inStep, site, failure: 'none' }), site).toBe('changed');
      }
      expect(await stateOf({ ...inStep, sizes: 'stale', failure: 'none' })).toBe('changed');
      expect(await stateOf({ ...inStep, site: 'placeholder, never synced', failure: 'none' })).toBe('never_synced');
    });

    it('no mail photo: the placeholder is no photo, a picture still shown is changed', async () => {
      const noPhoto = { mailbox: true, mail: false, synced: 'none', failure: 'none' } as const;
      expect(await stateOf({ ...noPhoto, site: 'no profile' })).toBe('no_photo');
      expect(await stateOf({ ...noPhoto, site: 'placeholder' })).toBe('no_photo');
      expect(await stateOf({ ...noPhoto, site: 'mail picture' })).toBe('changed');
      expect(await stateOf({ ...noPhoto, site: 'upload' })).toBe('changed');
    });
  });
});

/** Whether the combination's profile shows a picture (the mail's or an upload), not the placeholder. */
function isPicture(c: Combination): boolean {
  return c.site === 'mail picture' || c.site === 'upload';
}
