import { Type } from '@sinclair/typebox';
import { errorResponses } from '../http/schemas.js';
import { SYNC_OUTCOMES, SYNC_TRIGGERS } from '../sync/history.js';
import { SYNC_STATES } from '../sync/state.js';
import { MAX_PROMPT_UPNS } from './prompts.js';
import { MAX_PAGE, USER_SORTS } from './users-query.js';
import { SEARCH_MAX_LENGTH } from './pages/filters.js';

// The schemas of the console's JSON API: what each route takes and answers (and /openapi.json shows).

const literals = <T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)));
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const State = literals(SYNC_STATES);
const Upn = Type.String({ minLength: 3, maxLength: 300 });
const tags = ['admin'];

const Sizes = Type.Object({ S: Type.Integer(), M: Type.Integer(), L: Type.Integer() }, { additionalProperties: false });
const Settings = Type.Object({
  renditionSizes: Sizes,
  recheckSeconds: Type.Integer(),
  errorBackoffSeconds: Type.Integer(),
  operatorSync: Type.Boolean(),
  mailFrom: Type.String(),
  /** Connect mode only (left out of the answer otherwise): scheduled scans of the tenant (off by default). */
  tenantScan: Type.Optional(
    Type.Boolean({
      description: 'Connect mode only: scheduled scans of the tenant. Not answered outside connect mode.',
    }),
  ),
  /** Connect mode only (left out of the answer otherwise): minutes from the end of one scheduled scan to the next. */
  tenantScanMinutes: Type.Optional(
    Type.Integer({
      description:
        'Connect mode only: minutes from the end of one scheduled scan to the next (15 to 43200). Not answered outside connect mode.',
    }),
  ),
});
const SettingsPatch = Type.Partial(Settings, { additionalProperties: false });

const UserRow = Type.Object({
  upn: Type.String(),
  displayName: Type.String(),
  /** False for a disabled account (cannot sign in; others see the placeholder). */
  enabled: Type.Boolean(),
  state: State,
  since: Type.Number(),
  mailEtag: Nullable(Type.String()),
  syncedEtag: Nullable(Type.String()),
  sitePicture: Type.Boolean(),
  pictureTimestamp: Nullable(Type.Number()),
  lastAttemptAt: Nullable(Type.Number()),
  lastOutcome: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
});

const Attempt = Type.Object({
  trigger: literals(SYNC_TRIGGERS),
  outcome: literals(SYNC_OUTCOMES),
  startedAt: Type.Number(),
  durationMs: Type.Number(),
  etagBefore: Nullable(Type.String()),
  etagAfter: Nullable(Type.String()),
  error: Nullable(Type.String()),
  /** How many times this attempt was made: repeated checks that changed nothing share one entry. */
  checks: Type.Integer({ minimum: 1 }),
  /** When the last of them started. */
  lastAt: Type.Number(),
});

const Detail = Type.Object({
  upn: Type.String(),
  displayName: Type.String(),
  /** False for a disabled account (cannot sign in; others see the placeholder). */
  enabled: Type.Boolean(),
  hasMailbox: Type.Boolean(),
  isAdmin: Type.Boolean(),
  state: State,
  since: Type.Number(),
  mail: Nullable(
    Type.Object({ etag: Type.String(), side: Type.Integer(), byteSize: Type.Integer(), changedAt: Type.Number() }),
  ),
  directoryPhoto: Nullable(Type.Object({ byteSize: Type.Integer() })),
  renditions: Type.Array(
    Type.Object({ size: Type.String(), etag: Type.String(), side: Type.Integer(), byteSize: Type.Integer() }),
  ),
  properties: Type.Record(Type.String(), Type.String()),
  syncedEtag: Nullable(Type.String()),
  attempts: Type.Array(Attempt, { description: 'The latest attempts, at most 1000.' }),
  attemptsTotal: Type.Integer({ description: 'How many attempts the history keeps in all.' }),
  prompts: Type.Array(
    Type.Object({
      promptedAt: Type.Number(),
      promptedBy: Type.String(),
      emailedAt: Nullable(Type.Number()),
      emailError: Nullable(Type.String()),
      resolvedAt: Nullable(Type.Number()),
      /**
       * The e-mail in the outbox: sending, retrying (tries so far, last error, next try), sent, failed;
       * not sent because the user synced first (not_needed) or the account was disabled first.
       */
      mail: Nullable(
        Type.Object({
          status: literals(['sending', 'retrying', 'sent', 'failed', 'not_needed', 'account_disabled'] as const),
          tries: Type.Integer(),
          lastError: Nullable(Type.String()),
          nextTryAt: Nullable(Type.Number()),
        }),
      ),
    }),
  ),
});

const PromptBody = Type.Object(
  {
    upns: Type.Optional(Type.Array(Upn, { maxItems: MAX_PROMPT_UPNS })),
    allOutOfStep: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Each route's schema, by route. */
export const API_SCHEMAS = {
  overview: {
    summary: 'Users per sync state and the longest wait in each',
    tags,
    response: {
      200: Type.Object({
        states: Type.Array(Type.Object({ state: State, users: Type.Integer(), oldestSince: Nullable(Type.Number()) })),
      }),
      ...errorResponses,
    },
  },
  users: {
    summary: 'A page of users: search by name or UPN prefix, filter by state, sort, keyset paging',
    tags,
    querystring: Type.Object({
      state: Type.Optional(State),
      search: Type.Optional(Type.String({ maxLength: SEARCH_MAX_LENGTH })),
      sort: Type.Optional(literals(USER_SORTS)),
      after: Type.Optional(Type.String({ maxLength: 600 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE })),
    }),
    response: {
      200: Type.Object({ users: Type.Array(UserRow), next: Nullable(Type.String()) }),
      ...errorResponses,
    },
  },
  user: {
    summary: "One user's photos, renditions, profile properties, sync history and prompts",
    tags,
    params: Type.Object({ upn: Upn }),
    response: { 200: Detail, ...errorResponses },
  },
  prompt: {
    summary: 'Ask users to sync (banner at their next portal visit, and e-mail when SMTP is set)',
    tags,
    body: PromptBody,
    response: {
      200: Type.Object({
        prompted: Type.Integer(),
        /** Why each was not asked: their state, or `disabled` (they cannot sign in to act on it). */
        skipped: Type.Array(
          Type.Object({ upn: Type.String(), state: literals([...SYNC_STATES, 'disabled'] as const) }),
        ),
        /** Users asked again while an earlier request to them was still open. */
        askedAgain: Type.Array(Type.String()),
        email: literals(['sending', 'off'] as const),
      }),
      ...errorResponses,
    },
  },
  sync: {
    summary: 'Run the sync for chosen users (trigger "admin"); only when the settings allow operator sync',
    tags,
    body: Type.Object({ upns: Type.Array(Upn, { minItems: 1, maxItems: 50 }) }, { additionalProperties: false }),
    response: {
      200: Type.Object({
        results: Type.Array(
          Type.Object({
            upn: Type.String(),
            /** The sync's outcome, or not_found: the user was removed before their sync. */
            outcome: literals([...SYNC_OUTCOMES, 'not_found'] as const),
            error: Nullable(Type.String()),
          }),
        ),
      }),
      ...errorResponses,
    },
  },
  settings: { summary: 'The current sync settings', tags, response: { 200: Settings, ...errorResponses } },
  changeSettings: {
    summary: 'Change sync settings (validated; recorded in the audit log)',
    tags,
    body: SettingsPatch,
    response: {
      200: Type.Object({ settings: Settings, changed: Type.Array(Type.String()) }),
      ...errorResponses,
    },
  },
  audit: {
    summary: 'Admin actions, newest first',
    tags,
    querystring: Type.Object({
      before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    }),
    response: {
      200: Type.Object({
        entries: Type.Array(
          Type.Object({
            id: Type.Integer(),
            at: Type.Number(),
            /** The administrator's UPN; "command line" for a command run on the server; an app's name. */
            actorUpn: Type.String(),
            byCommandLine: Type.Boolean(),
            /** An app acting with its own token: `actorUpn` is then its name. */
            byApp: Type.Optional(Type.Object({ clientId: Type.String(), name: Type.String() })),
            action: Type.String(),
            detail: Type.Record(Type.String(), Type.Unknown()),
          }),
        ),
        next: Nullable(Type.Integer()),
      }),
      ...errorResponses,
    },
  },
};
