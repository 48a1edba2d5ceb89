import type { PageContext } from '../../web/layout.js';
import type { MessageKey } from '../../web/messages/en.js';
import {
  MAX_SECONDS,
  RENDITION_SIDE,
  TENANT_SCAN_MINUTES,
  validSide,
  type AdminSettings,
  type SettingName,
} from '../settings.js';
import { adminPage, NoticeBox, type Notice } from './console.js';

/** The settings form's fields as typed (a refused form shows them again as they were). */
export interface SettingsForm {
  sizeS: string;
  sizeM: string;
  sizeL: string;
  recheckSeconds: string;
  errorBackoffSeconds: string;
  operatorSync: boolean;
  mailFrom: string;
  /** Connect mode: scheduled scans of the tenant, and the minutes between them. */
  tenantScan: boolean;
  tenantScanMinutes: string;
}

/**
 * The form as sent, over `saved` (the settings now): the texts typed (up to the 1,000 characters a
 * field takes) and the boxes ticked. A body that is no form at all leaves `saved` as it is.
 */
export function asTyped(saved: SettingsForm, body: unknown): SettingsForm {
  if (typeof body !== 'object' || body === null) return saved;
  const sent = body as Record<string, unknown>;
  const text = (name: keyof SettingsForm) => {
    const value = sent[name];
    return typeof value === 'string' && value.length <= 1000 ? value : saved[name];
  };
  return {
    sizeS: String(text('sizeS')),
    sizeM: String(text('sizeM')),
    sizeL: String(text('sizeL')),
    recheckSeconds: String(text('recheckSeconds')),
    errorBackoffSeconds: String(text('errorBackoffSeconds')),
    operatorSync: sent.operatorSync === 'on',
    mailFrom: String(text('mailFrom')),
    tenantScan: sent.tenantScan === 'on',
    tenantScanMinutes: String(text('tenantScanMinutes')),
  };
}

export function settingsForm(settings: AdminSettings): SettingsForm {
  const { S, M, L } = settings.renditionSizes;
  return {
    sizeS: String(S),
    sizeM: String(M),
    sizeL: String(L),
    recheckSeconds: String(settings.recheckSeconds),
    errorBackoffSeconds: String(settings.errorBackoffSeconds),
    operatorSync: settings.operatorSync,
    mailFrom: settings.mailFrom,
    tenantScan: settings.tenantScan,
    tenantScanMinutes: String(settings.tenantScanMinutes),
  };
}

/** A whole number as typed in a field, or NaN for anything else (an empty field is not 0). */
export const wholeNumber = (text: string): number => (/^\s*\d{1,12}\s*$/.test(text) ? Number(text) : NaN);

const SIZES = [
  ['sizeS', 'admin.settings.sizeS'],
  ['sizeM', 'admin.settings.sizeM'],
  ['sizeL', 'admin.settings.sizeL'],
] as const;

/** Attributes that tie a field to the error beside it, when it has one. */
const marked = (invalid: boolean, errorId: string, hintId?: string) =>
  invalid
    ? { 'aria-invalid': 'true' as const, 'aria-describedby': hintId ? `${errorId} ${hintId}` : errorId }
    : { 'aria-describedby': hintId };

function FieldError(props: { id: string; text: string | undefined }) {
  return props.text ? (
    <p class="field-error" id={props.id}>
      {props.text}
    </p>
  ) : null;
}

export function settingsPage(
  context: PageContext,
  form: SettingsForm,
  options: {
    emailOn: boolean;
    connectMode?: boolean;
    notice?: Notice | undefined;
    invalid?: readonly SettingName[];
  },
): string {
  const { t } = context;
  const invalid = new Set(options.invalid ?? []);
  const error = (name: SettingName, key: MessageKey) => (invalid.has(name) ? t(key) : undefined);
  // Which of S, M and L to mark: each one not allowed on its own, or all three when only their order is wrong.
  const badSides = SIZES.filter(([name]) => !validSide(wholeNumber(form[name]))).map(([name]) => name);
  const sideMarked = (name: (typeof SIZES)[number][0]) =>
    invalid.has('renditionSizes') && (badSides.length === 0 || badSides.includes(name));
  // "the field" or "the fields", by the inputs marked (the sizes mark one to three).
  const markedInputs =
    [...invalid].filter((name) => name !== 'renditionSizes').length +
    (invalid.has('renditionSizes') ? (badSides.length === 0 ? SIZES.length : badSides.length) : 0);
  const notice: Notice | undefined =
    invalid.size > 0
      ? { kind: 'error', text: t(markedInputs === 1 ? 'admin.settings.notSaved' : 'admin.settings.notSavedMany') }
      : options.notice;
  return adminPage(
    context,
    'settings',
    t('admin.settings.title'),
    <>
      <h1>{t('admin.settings.title')}</h1>
      <NoticeBox notice={notice} />
      {/* The server checks every field and says what is wrong beside it, in the page's language. */}
      <form method="post" action="/admin/settings" novalidate>
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <fieldset class="field">
          <legend>{t('admin.settings.sizes')}</legend>
          <div class="field-row">
            {SIZES.map(([name, label]) => (
              <div class="field">
                <label for={name}>{t(label)}</label>
                <input
                  id={name}
                  name={name}
                  type="number"
                  inputmode="numeric"
                  min={RENDITION_SIDE.min}
                  max={RENDITION_SIDE.max}
                  value={form[name]}
                  required
                  {...marked(sideMarked(name), 'sizes-error')}
                />
              </div>
            ))}
          </div>
          <FieldError id="sizes-error" text={error('renditionSizes', 'admin.settings.error.sizes')} />
        </fieldset>
        {(['recheckSeconds', 'errorBackoffSeconds'] as const).map((name) => (
          <div class="field">
            <label for={name}>
              {t(name === 'recheckSeconds' ? 'admin.settings.recheck' : 'admin.settings.backoff')}
            </label>
            <input
              id={name}
              name={name}
              type="number"
              inputmode="numeric"
              min={0}
              max={MAX_SECONDS}
              value={form[name]}
              required
              {...marked(invalid.has(name), `${name}-error`)}
            />
            <FieldError id={`${name}-error`} text={error(name, 'admin.settings.error.seconds')} />
          </div>
        ))}
        <div class="field">
          <label class="check">
            <input
              type="checkbox"
              name="operatorSync"
              value="on"
              checked={form.operatorSync}
              aria-describedby="operatorSync-hint"
            />
            <span>{t('admin.settings.operatorSync')}</span>
          </label>
          <p class="hint" id="operatorSync-hint">
            {t('admin.settings.operatorSyncHint')}
          </p>
        </div>
        <div class="field">
          <label for="mailFrom">{t('admin.settings.mailFrom')}</label>
          <input
            id="mailFrom"
            name="mailFrom"
            type="email"
            autocomplete="off"
            maxlength={254}
            value={form.mailFrom}
            required
            {...marked(invalid.has('mailFrom'), 'mailFrom-error', options.emailOn ? undefined : 'mailFrom-hint')}
          />
          <FieldError id="mailFrom-error" text={error('mailFrom', 'admin.settings.error.mailFrom')} />
          {!options.emailOn && (
            <p class="hint" id="mailFrom-hint">
              {t('admin.settings.mailOff')}
            </p>
          )}
        </div>
        {options.connectMode && (
          <fieldset class="field">
            <legend>{t('admin.nav.tenant')}</legend>
            <label class="check">
              <input
                type="checkbox"
                name="tenantScan"
                value="on"
                checked={form.tenantScan}
                aria-describedby="tenant-scan-hint"
              />
              <span>{t('admin.settings.tenantScan')}</span>
            </label>
            <label for="tenantScanMinutes">{t('admin.settings.tenantScanMinutes')}</label>
            <input
              id="tenantScanMinutes"
              name="tenantScanMinutes"
              type="number"
              inputmode="numeric"
              min={TENANT_SCAN_MINUTES.min}
              max={TENANT_SCAN_MINUTES.max}
              value={form.tenantScanMinutes}
              required
              {...marked(invalid.has('tenantScanMinutes'), 'tenantScanMinutes-error', 'tenant-scan-hint')}
            />
            <FieldError
              id="tenantScanMinutes-error"
              text={error('tenantScanMinutes', 'admin.settings.error.scanInterval')}
            />
            <p class="hint" id="tenant-scan-hint">
              {t('admin.settings.tenantScanHint')}
            </p>
          </fieldset>
        )}
        <div class="actions">
          <button type="submit">{t('admin.settings.save')}</button>
        </div>
      </form>
    </>,
  );
}
