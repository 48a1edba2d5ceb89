import type { Config, RenditionSizes } from '../config.js';
import { touchUsers, type DirectoryUser } from '../directory/users.js';
import { recordAudit } from './audit.js';
import { invalidInput } from '../errors.js';
import { renditionSpec } from '../sites/library.js';
import type { Db } from '../storage/database.js';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/database.js';
import type { SyncSettings } from '../sync/engine.js';
import { SIZE_DEPENDENT_STATES } from '../sync/state.js';
import { MAX_SCAN_EVERY_MS, MIN_SCAN_EVERY_MS } from '../m365/settings.js';

// Sync settings an admin may change. A value saved in the database overrides the environment's
// default; every process reads them back within REFRESH_MS, so several instances agree.

export interface AdminSettings extends SyncSettings {
  /** Whether an admin may run the sync for a user (off: the sites sync on the user's action). */
  operatorSync: boolean;
  /** The sender of prompt e-mails. */
  mailFrom: string;
  /** Connect mode: whether `photosync serve` scans the tenant by itself (off by default). */
  tenantScan: boolean;
  /** Connect mode: minutes from the end of one scheduled scan to the start of the next. */
  tenantScanMinutes: number;
}

export type SettingsChange = Partial<AdminSettings>;

const REFRESH_MS = 2_000;
const NAMES = [
  'renditionSizes',
  'recheckSeconds',
  'errorBackoffSeconds',
  'operatorSync',
  'mailFrom',
  'tenantScan',
  'tenantScanMinutes',
] as const;
export type SettingName = (typeof NAMES)[number];
export const MAX_SECONDS = 7 * 24 * 3600;
/** Scheduled tenant scans: at least 15 minutes apart (a large tenant's scan takes minutes), at most 30 days. */
export const TENANT_SCAN_MINUTES = { min: MIN_SCAN_EVERY_MS / 60_000, max: MAX_SCAN_EVERY_MS / 60_000 } as const;
/** The interval offered when PHOTOSYNC_M365_SCAN_EVERY names none. */
const DEFAULT_SCAN_MINUTES = 6 * 60;
/** The sides a rendition may have, in pixels. */
export const RENDITION_SIDE = { min: 16, max: 648 } as const;

/** Whether one rendition side is allowed on its own (the three must also grow S < M < L). */
export const validSide = (n: unknown): n is number =>
  Number.isInteger(n) && (n as number) >= RENDITION_SIDE.min && (n as number) <= RENDITION_SIDE.max;

export interface SettingsStore {
  /** The settings as last read; reading starts a refresh in the background once they may be old (see whenCurrent). */
  current(): AdminSettings;
  refresh(): Promise<AdminSettings>;
  /**
   * Another instance changed the settings (its commit's notice arrived): they are read again now,
   * and `whenCurrent()` hands out that read until it is done.
   */
  changedElsewhere(): void;
  /**
   * Undefined when the settings as last read are current: no notice of a change since, and every
   * change is announced or they were read less than two seconds ago. Otherwise the read that makes
   * them current. A sync waits for it before it decides, so it does not work from settings changed
   * before it started (beyond a notice's time, or two seconds while nothing announces changes: on
   * SQLite, or while PostgreSQL's listening connection is down).
   */
  whenCurrent(): Promise<unknown> | undefined;
  /** Validates and saves the changed values; returns what changed (before → after). */
  update(
    change: Record<string, unknown>,
    actor: DirectoryUser,
  ): Promise<Partial<Record<SettingName, { from: unknown; to: unknown }>>>;
}

export function defaultSettings(config: Config): AdminSettings {
  return {
    renditionSizes: config.renditionSizes,
    recheckSeconds: config.recheckSeconds,
    errorBackoffSeconds: config.errorBackoffSeconds,
    operatorSync: false,
    mailFrom: config.mailFrom,
    // PHOTOSYNC_M365_SCAN_EVERY is the starting value; once an admin saves these in the console,
    // the saved values win (like every setting here).
    tenantScan: config.m365?.scanEveryMs !== undefined,
    tenantScanMinutes:
      config.m365?.scanEveryMs !== undefined
        ? Math.min(TENANT_SCAN_MINUTES.max, Math.round(config.m365.scanEveryMs / 60_000))
        : DEFAULT_SCAN_MINUTES,
  };
}

export interface SettingsStoreOptions {
  /**
   * Whether this process's PHOTOSYNC_RENDITION_SIZES become the sizes in use while no
   * administrator has saved any: a server's start (the default). The command line's other
   * commands use the sizes in use, whatever their own environment says, so a command run from a
   * shell without the variable changes nobody's state.
   */
  setsSizes?: boolean;
  /** Told when this start replaces sizes in use that another process set from its environment. */
  onSizesReplaced?: (from: string, to: string) => void;
  /**
   * Whether every change another process makes is announced now (`changedElsewhere`; PostgreSQL
   * while its listening connection is up): the copy is then current without looking again.
   */
  announced?: () => boolean;
}

export async function createSettingsStore(
  db: Kysely<Database>,
  config: Config,
  options: SettingsStoreOptions = {},
): Promise<SettingsStore> {
  const defaults = defaultSettings(config);
  // The first process on a database sets the sizes in use, whatever it is.
  const setsSizes = options.setsSizes ?? true;
  const saved = await readSettings(db, defaults, { sizesInUse: false });
  const spec = renditionSpec(saved.renditionSizes);
  const replaced = await publishRenditionSpec(db, spec, setsSizes);
  if (replaced !== undefined) options.onSizesReplaced?.(replaced, spec);
  let cached = await readSettings(db, defaults);
  let readAt = Date.now();
  /** A change is known of that no read has brought in yet (the read at its notice failed). */
  let stale = false;
  /** Reads started and the latest whose values were taken: a read that ends after a later one's changes nothing. */
  let started = 0;
  let taken = 0;
  const read = async (): Promise<AdminSettings> => {
    const mine = ++started;
    const fresh = await readSettings(db, defaults);
    if (mine > taken) {
      taken = mine;
      cached = fresh;
      readAt = Date.now();
      stale = false;
    }
    return cached;
  };
  let pending: Promise<AdminSettings> | undefined;
  const refresh = () => (pending ??= read().finally(() => (pending = undefined)));
  /** Keeps the last good values when a read fails; the next look, two seconds on, reads again. */
  const lookAgainLater = () => {
    readAt = Date.now();
  };
  /** A read of a change this process knows of (another's notice, its own save), while it is under way. */
  let announced: Promise<unknown> | undefined;
  const announce = (reading: Promise<AdminSettings>): Promise<AdminSettings> => {
    const settled = reading.catch(() => {
      // Values known to be old: the next look reads again, whatever the notices say.
      stale = true;
    });
    announced = settled;
    void settled.finally(() => {
      if (announced === settled) announced = undefined;
    });
    return reading;
  };

  /** Whether the copy needs no look: every change is announced (and none failed to be read), or it is recent. */
  const isCurrent = () => !stale && (options.announced?.() === true || Date.now() - readAt <= REFRESH_MS);

  return {
    current() {
      if (!pending && !isCurrent()) refresh().catch(lookAgainLater);
      return cached;
    },
    refresh,
    changedElsewhere: () => announce(read()),
    whenCurrent() {
      if (announced) return announced;
      if (isCurrent()) return undefined;
      return refresh().catch(lookAgainLater);
    },
    async update(change, actor) {
      const valid = validateChange(change);
      if (!config.m365) refuseConnectModeSettings(valid);
      const before = await readSettings(db, defaults);
      const changed: Partial<Record<SettingName, { from: unknown; to: unknown }>> = {};
      for (const name of NAMES) {
        const value = valid[name];
        if (value === undefined) continue;
        if (JSON.stringify(value) !== JSON.stringify(before[name])) changed[name] = { from: before[name], to: value };
      }
      const at = Date.now();
      await db.transaction().execute(async (trx) => {
        for (const name of Object.keys(changed) as SettingName[]) {
          const value = JSON.stringify(valid[name]);
          await trx
            .insertInto('admin_settings')
            .values({ name, value, updated_at: at, updated_by: actor.upn })
            .onConflict((oc) => oc.column('name').doUpdateSet({ value, updated_at: at, updated_by: actor.upn }))
            .execute();
        }
        if (Object.keys(changed).length > 0) await recordAudit(trx, actor, 'settings', changed, at);
        if (changed.renditionSizes && valid.renditionSizes) {
          await publishRenditionSpec(trx, renditionSpec(valid.renditionSizes));
        }
      });
      // A fresh read (one under way may have started before this commit), which this process's
      // syncs wait for as for another's notice.
      await announce(read());
      return changed;
    },
  };
}

/** The sizes every process uses while no administrator has saved any: the last server start's. */
const SIZES_IN_USE = 'effective_rendition_spec';

/**
 * The saved settings over `defaults`. Sizes no administrator saved are the sizes in use (a
 * server's environment set them at its start), unless `sizesInUse` is false.
 */
async function readSettings(
  db: Db,
  defaults: AdminSettings,
  { sizesInUse = true }: { sizesInUse?: boolean } = {},
): Promise<AdminSettings> {
  const rows = await db
    .selectFrom('admin_settings')
    .select(['name', 'value'])
    .where('name', 'in', [...NAMES, SIZES_IN_USE])
    .execute();
  const settings = { ...defaults };
  let savedSizes = false;
  for (const row of rows) {
    if (row.name === SIZES_IN_USE) continue;
    try {
      Object.assign(settings, validateChange({ [row.name]: JSON.parse(row.value) as unknown }));
      if (row.name === 'renditionSizes') savedSizes = true;
    } catch {
      // A value this version cannot read keeps the default rather than stopping the service.
    }
  }
  const inUse = rows
    .find((row) => row.name === SIZES_IN_USE)
    ?.value.split(',')
    .map(Number);
  if (sizesInUse && !savedSizes && inUse) {
    const [S, M, L] = inUse;
    const sizes = { S, M, L };
    try {
      Object.assign(settings, validateChange({ renditionSizes: sizes }));
    } catch {
      // Not sizes this version can use: this process's own.
    }
  }
  return settings;
}

/**
 * The sizes in use, which every process renders at and the status triggers compare each picture's
 * sizes with. When they change, pictures at other sizes become "changed"; touching the users whose
 * state depends on it re-runs the triggers. Returns the sizes replaced, if there were others.
 * Without `replace`, sizes in use are left as they are (only a database without any gets these).
 */
async function publishRenditionSpec(db: Db, spec: string, replace = true): Promise<string | undefined> {
  const current = await db
    .selectFrom('admin_settings')
    .select('value')
    .where('name', '=', SIZES_IN_USE)
    .executeTakeFirst();
  if (current?.value === spec || (current && !replace)) return undefined;
  const at = Date.now();
  await db
    .insertInto('admin_settings')
    .values({ name: SIZES_IN_USE, value: spec, updated_at: at, updated_by: null })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: spec, updated_at: at }))
    .execute();
  await touchUsers(
    db,
    db
      .selectFrom('admin_user_status')
      .select('user_id')
      .where('state', 'in', [...SIZE_DEPENDENT_STATES]),
  );
  return current?.value;
}

/** The settings that mean something only in connect mode (they drive the scans of the tenant). */
const CONNECT_MODE_SETTINGS = ['tenantScan', 'tenantScanMinutes'] as const satisfies SettingName[];
type ConnectModeSetting = (typeof CONNECT_MODE_SETTINGS)[number];

/**
 * The settings as the console's API answers them: outside connect mode without the connect-mode
 * ones, which cannot be set there.
 */
export function answeredSettings(
  config: Pick<Config, 'm365'>,
  settings: AdminSettings,
): Omit<AdminSettings, ConnectModeSetting> & Partial<Pick<AdminSettings, ConnectModeSetting>> {
  if (config.m365) return settings;
  const { tenantScan: _scan, tenantScanMinutes: _minutes, ...answered } = settings;
  return answered;
}

/** Outside connect mode, a change that names a connect-mode setting is refused whole. */
function refuseConnectModeSettings(change: SettingsChange): void {
  const named = CONNECT_MODE_SETTINGS.find((name) => change[name] !== undefined);
  if (named === undefined) return;
  throw invalidInput(
    `${named} applies only in connect mode (a Microsoft 365 tenant, set with PHOTOSYNC_M365_*), and this server ` +
      'is not in connect mode; nothing was changed.',
    'invalid_setting',
  );
}

/** The settings in a change that are not allowed, each checked on its own: a form marks each one. */
export function invalidSettings(change: Record<string, unknown>): SettingName[] {
  return NAMES.filter((name) => {
    if (change[name] === undefined) return false;
    try {
      validateChange({ [name]: change[name] });
      return false;
    } catch {
      return true;
    }
  });
}

/** Checks each given value; throws a 400 that names the first problem. */
export function validateChange(change: Record<string, unknown>): SettingsChange {
  const valid: SettingsChange = {};
  for (const [name, value] of Object.entries(change)) {
    if (value === undefined) continue;
    switch (name) {
      case 'renditionSizes':
        valid.renditionSizes = validSizes(value);
        break;
      case 'recheckSeconds':
      case 'errorBackoffSeconds':
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_SECONDS) {
          throw invalidInput(`${name} must be a whole number of seconds from 0 to ${MAX_SECONDS}.`, 'invalid_setting');
        }
        valid[name] = value as number;
        break;
      case 'operatorSync':
        if (typeof value !== 'boolean') throw invalidInput('operatorSync must be true or false.', 'invalid_setting');
        valid.operatorSync = value;
        break;
      case 'tenantScan':
        if (typeof value !== 'boolean') throw invalidInput('tenantScan must be true or false.', 'invalid_setting');
        valid.tenantScan = value;
        break;
      case 'tenantScanMinutes':
        if (
          !Number.isInteger(value) ||
          (value as number) < TENANT_SCAN_MINUTES.min ||
          (value as number) > TENANT_SCAN_MINUTES.max
        ) {
          throw invalidInput(
            `tenantScanMinutes must be a whole number of minutes from ${TENANT_SCAN_MINUTES.min} to ${TENANT_SCAN_MINUTES.max}.`,
            'invalid_scan_interval',
          );
        }
        valid.tenantScanMinutes = value as number;
        break;
      case 'mailFrom':
        if (typeof value !== 'string' || !/^[^\s@<>"]+@[^\s@<>"]+$/.test(value.trim()) || value.length > 254) {
          throw invalidInput('mailFrom must be an e-mail address such as photosync@contoso.com.', 'invalid_setting');
        }
        valid.mailFrom = value.trim();
        break;
      default:
        throw invalidInput(`${name} is not a setting.`, 'invalid_setting');
    }
  }
  return valid;
}

function validSizes(value: unknown): RenditionSizes {
  const sizes = value as Partial<RenditionSizes> | null;
  const { S, M, L } = sizes ?? {};
  const ok = typeof sizes === 'object' && [S, M, L].every(validSide) && S! < M! && M! < L!;
  if (!ok) {
    throw invalidInput(
      'renditionSizes must be three increasing sides in pixels from 16 to 648, S < M < L (e.g. 48, 72, 300).',
      'invalid_setting',
    );
  }
  return { S: S!, M: M!, L: L! };
}
