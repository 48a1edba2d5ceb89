import type { PageContext } from '../../web/layout.js';
import type { MessageKey } from '../../web/messages/en.js';
import type { AuditEntry } from '../audit.js';
import { formatTime } from './console.js';
import { outcomeLabel } from './words.js';
import type { SyncOutcome } from '../../sync/history.js';

// An audit entry as a sentence: what the admin (or a command on the server) did, to whom, from what to what.

const NAMES_SHOWN = 20;

const list = (context: PageContext, names: string[]) =>
  names.length === 0
    ? context.t('admin.audit.nobody')
    : names.length > NAMES_SHOWN
      ? `${names.slice(0, NAMES_SHOWN).join(', ')} … (+${names.length - NAMES_SHOWN})`
      : names.join(', ');

function settingValue(context: PageContext, value: unknown): string {
  if (typeof value === 'boolean') return context.t(value ? 'admin.audit.on' : 'admin.audit.off');
  if (value && typeof value === 'object') return Object.values(value as Record<string, unknown>).join('/');
  return String(value);
}

/** A time the entry recorded (ms), as the page writes times; nothing when it recorded none. */
function recordedTime(context: PageContext, value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? formatTime(context, value) : '';
}

/** The backup's time as the page writes times; a value that is no time, as it was recorded. */
function backupTime(context: PageContext, value: unknown): string {
  const at = typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isFinite(at) ? formatTime(context, at) : String(value ?? '');
}

/** A change made through Graph (an administrator's token, or an app's) says so. */
const throughGraph = (context: PageContext, d: Record<string, unknown>) =>
  d.via === 'graph' ? [context.t('admin.audit.throughGraph')] : [];

/** Who acted, as the page's "Who" column says it. */
export function auditActor(context: PageContext, entry: AuditEntry): string {
  if (entry.byCommandLine) return context.t('admin.audit.commandLine');
  if (entry.byApp) return context.t('admin.audit.byApp', entry.byApp);
  return entry.actorUpn;
}

export function auditSentences(context: PageContext, entry: AuditEntry): string[] {
  const { t } = context;
  const d = entry.detail;
  switch (entry.action) {
    case 'prompt': {
      if (d.allOutOfStep) {
        const disabled = Number(d.disabled ?? 0);
        return [
          t('admin.audit.promptAll', { n: Number(d.users ?? 0) }),
          ...(disabled > 0 ? [t('admin.audit.promptAllDisabled', { n: disabled })] : []),
        ];
      }
      const users = Array.isArray(d.users) ? (d.users as string[]) : [];
      const skipped = Array.isArray(d.skipped) ? (d.skipped as Array<{ upn: string; state: string }>) : [];
      const again = Array.isArray(d.askedAgain) ? (d.askedAgain as string[]) : [];
      return [
        t('admin.audit.prompt', { n: users.length, names: list(context, users) }),
        ...(skipped.length > 0
          ? [
              t('admin.audit.promptSkipped', {
                names: list(
                  context,
                  skipped.map((s) => `${s.upn} (${t(`admin.state.${s.state}` as MessageKey)})`),
                ),
              }),
            ]
          : []),
        ...(again.length > 0 ? [t('admin.audit.promptAgain', { names: list(context, again) })] : []),
      ];
    }
    case 'operator_sync': {
      // A user removed after they were chosen is among the results (not_found), as is a sync that
      // failed without a record of its own (failed).
      const results = Array.isArray(d.results)
        ? (d.results as Array<{ upn: string; outcome: SyncOutcome | 'not_found' }>)
        : [];
      // Users named when the sync began whose sync was never recorded: it stopped (the process ended) first.
      const pending = Array.isArray(d.pending) ? (d.pending as string[]) : [];
      return [
        ...(results.length > 0 || pending.length === 0
          ? [
              t('admin.audit.operatorSync', {
                n: results.length,
                results: list(
                  context,
                  results.map((r) => `${r.upn} (${outcomeLabel(t, r.outcome)})`),
                ),
              }),
            ]
          : []),
        ...(pending.length > 0 ? [t('admin.audit.operatorSyncStopped', { names: list(context, pending) })] : []),
      ];
    }
    case 'app_added': {
      const scopes = Array.isArray(d.scopes) ? (d.scopes as string[]) : [];
      const app = { name: String(d.name ?? ''), clientId: String(d.clientId ?? '') };
      return [
        scopes.length > 0
          ? t('admin.audit.appAdded', { ...app, scopes: scopes.join(', ') })
          : t('admin.audit.appAddedNoScopes', app),
        ...(d.publicClient === true ? [t('admin.audit.appPublicClientAllowed', app)] : []),
      ];
    }
    case 'app_redirect_uri_set': {
      const app = { name: String(d.name ?? ''), clientId: String(d.clientId ?? ''), uri: String(d.uri ?? '') };
      if (d.removed === true) return [t('admin.audit.appRedirectUriRemoved', app)];
      return [t(d.spa === true ? 'admin.audit.appRedirectUriSpa' : 'admin.audit.appRedirectUriWeb', app)];
    }
    case 'app_public_client_set': {
      const app = { name: String(d.name ?? ''), clientId: String(d.clientId ?? '') };
      return [
        d.allowed === true
          ? t('admin.audit.appPublicClientAllowed', app)
          : t('admin.audit.appPublicClientRefused', app),
      ];
    }
    case 'app_removed':
      return [t('admin.audit.appRemoved', { name: String(d.name ?? ''), clientId: String(d.clientId ?? '') })];
    case 'user_added': {
      const user = { upn: String(d.upn ?? ''), name: String(d.displayName ?? '') };
      return [d.admin === true ? t('admin.audit.userAddedAdmin', user) : t('admin.audit.userAdded', user)];
    }
    case 'password_set':
      return [t('admin.audit.passwordSet', { upn: String(d.upn ?? '') })];
    case 'photo_set':
      return [t('admin.audit.photoSet', { upn: String(d.upn ?? '') }), ...throughGraph(context, d)];
    case 'photo_removed':
      return [t('admin.audit.photoRemoved', { upn: String(d.upn ?? '') }), ...throughGraph(context, d)];
    case 'directory_photo_set':
      return [t('admin.audit.directoryPhotoSet', { upn: String(d.upn ?? '') }), ...throughGraph(context, d)];
    case 'directory_photo_removed':
      return [t('admin.audit.directoryPhotoRemoved', { upn: String(d.upn ?? '') }), ...throughGraph(context, d)];
    case 'site_photo_set':
      return [t('admin.audit.sitePhotoSet', { upn: String(d.upn ?? '') })];
    case 'token_created': {
      const scopes = Array.isArray(d.scopes) ? (d.scopes as string[]) : [];
      return [
        t('admin.audit.tokenCreated', {
          id: String(d.id ?? ''),
          upn: String(d.upn ?? ''),
          scopes: scopes.join(', '),
          expires: recordedTime(context, d.expiresAt),
        }),
      ];
    }
    case 'token_revoked':
      return [t('admin.audit.tokenRevoked', { id: String(d.id ?? ''), upn: String(d.upn ?? '') })];
    case 'app_certificate_removed':
      return [
        t('admin.audit.appCertificateRemoved', {
          name: String(d.name ?? ''),
          clientId: String(d.clientId ?? ''),
          thumbprint: String(d.thumbprint ?? ''),
        }),
      ];
    case 'sessions_revoked': {
      const ended = {
        upn: String(d.upn ?? ''),
        tokens: Number(d.refreshTokens ?? 0),
        sessions: Number(d.sessions ?? 0),
      };
      // Entries from before the unused sign-in codes were counted say nothing of them.
      return [
        d.codes === undefined
          ? t('admin.audit.sessionsRevoked', ended)
          : t('admin.audit.sessionsRevokedWithCodes', { ...ended, codes: Number(d.codes) }),
      ];
    }
    case 'signing_key_rotated': {
      const retired = Array.isArray(d.retired) ? (d.retired as string[]) : [];
      const kid = String(d.kid ?? '');
      return [
        retired.length > 0
          ? t('admin.audit.signingKeyRotated', { kid, retired: list(context, retired) })
          : t('admin.audit.signingKeyFirst', { kid }),
      ];
    }
    case 'admin_granted':
      return [t('admin.audit.adminGranted', { upn: String(d.upn ?? '') })];
    case 'admin_revoked':
      return [t('admin.audit.adminRevoked', { upn: String(d.upn ?? '') })];
    case 'user_disabled':
      return [t('admin.audit.userDisabled', { upn: String(d.upn ?? '') })];
    case 'user_enabled':
      return [t('admin.audit.userEnabled', { upn: String(d.upn ?? '') })];
    case 'tenant_scan_started':
      return [t(d.resumed === true ? 'admin.audit.tenantScanResumed' : 'admin.audit.tenantScanStarted')];
    case 'user_removed':
      return [t('admin.audit.userRemoved', { upn: String(d.upn ?? '') })];
    case 'users_imported': {
      const admins = Array.isArray(d.admins) ? (d.admins as string[]) : [];
      const file = String(d.file ?? '');
      const n = Number(d.imported ?? 0);
      return [
        // Stopped part-way (the process ended): the users added until then, and no count of rows skipped.
        d.unfinished === true
          ? t('admin.audit.usersImportedUnfinished', { file, n })
          : t('admin.audit.usersImported', { file, n, skipped: Number(d.skipped ?? 0) }),
        ...(admins.length > 0 ? [t('admin.audit.usersImportedAdmins', { names: list(context, admins) })] : []),
      ];
    }
    case 'restored':
      return [
        t('admin.audit.restored', {
          file: String(d.file ?? ''),
          n: Number(d.users ?? 0),
          createdAt: backupTime(context, d.backupCreatedAt),
        }),
      ];
    case 'settings': {
      const changes = Object.entries(d as Record<string, { from: unknown; to: unknown }>).map(([name, change]) =>
        t(`admin.audit.setting.${name}` as MessageKey, {
          from: settingValue(context, change.from),
          to: settingValue(context, change.to),
        }),
      );
      return [t('admin.audit.settings', { changes: changes.join('; ') })];
    }
  }
}
