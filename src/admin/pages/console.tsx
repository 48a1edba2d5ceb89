import type { ComponentChildren } from 'preact';
import type { MessageKey } from '../../web/messages/en.js';
import { estonianDateTime } from '../../web/dates.js';
import { renderPage, type PageContext } from '../../web/layout.js';

// The admin console's frame (its navigation and notices) and what its pages share; each page is
// a file of its own beside this one, rendered through the page shell's one layout.

export type Section = 'overview' | 'users' | 'tenant' | 'settings' | 'audit';

/** The console's pages know whether photosync is connected to a Microsoft 365 tenant. */
export type ConsoleContext = PageContext & { connectMode?: boolean };

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A moment in UTC as each language writes it: "30 Nov 2026, 05:43 UTC", "30.11.2026 kell 05.43 UTC". */
export function formatTime(context: Pick<PageContext, 'locale'>, ms: number | null): string {
  if (ms === null || ms === 0) return '–';
  if (context.locale === 'et') return `${estonianDateTime(ms, 'UTC')} UTC`;
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  const [day, month, year, hours, minutes] = [
    d.getUTCDate(),
    d.getUTCMonth(),
    d.getUTCFullYear(),
    two(d.getUTCHours()),
    two(d.getUTCMinutes()),
  ];
  return `${day} ${MONTHS[month]} ${year}, ${hours}:${minutes} UTC`;
}

export function waited(context: PageContext, since: number | null, now = Date.now()): string {
  if (since === null) return context.t('admin.overview.none');
  const minutes = Math.max(0, Math.floor((now - since) / 60_000));
  if (minutes < 1) return context.t('admin.duration.underMinute');
  if (minutes < 120) return context.t('admin.duration.minutes', { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return context.t('admin.duration.hours', { n: hours });
  return context.t('admin.duration.days', { n: Math.floor(hours / 24) });
}

export const userLink = (upn: string) => `/admin/users/${encodeURIComponent(upn)}`;
/** What the sites show for a user (their picture or the placeholder), at a size that never syncs anyone. */
export const sitePhoto = (upn: string, size: 'S' | 'M') =>
  `/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(upn)}`;
/**
 * The sites' rendition as they hold it, through the console: at userphoto.aspx an administrator's
 * own L picture would sync them, and change the state the page shows.
 */
export const siteRendition = (upn: string, size: 'S' | 'M' | 'L') => `/admin/photos/${encodeURIComponent(upn)}/${size}`;
export const mailPhoto = (upn: string) => `/admin/photos/${encodeURIComponent(upn)}/mail`;

export function adminPage(context: ConsoleContext, section: Section, title: string, body: ComponentChildren): string {
  const { t } = context;
  const links: Array<[Section, string, MessageKey]> = [
    ['overview', '/admin', 'admin.nav.overview'],
    ['users', '/admin/users', 'admin.nav.users'],
    ...(context.connectMode ? [['tenant', '/admin/tenant', 'admin.nav.tenant'] as [Section, string, MessageKey]] : []),
    ['settings', '/admin/settings', 'admin.nav.settings'],
    ['audit', '/admin/audit', 'admin.nav.audit'],
  ];
  return renderPage(
    context,
    `${title} – ${t('admin.title')}`,
    <section class="card admin">
      <link rel="stylesheet" href="/admin/assets/admin.css" />
      <script src="/admin/assets/admin.js" defer />
      <nav aria-label={t('admin.title')}>
        {links.map(([name, href, key]) => (
          <a href={href} aria-current={name === section ? 'page' : undefined}>
            {t(key)}
          </a>
        ))}
      </nav>
      {body}
    </section>,
  );
}

/** A sentence in the reader's language, and the technical text behind it (in English, folded away). */
export interface NoticeItem {
  text: string;
  detail?: { label: string; text: string } | undefined;
}

export interface Notice {
  kind: 'ok' | 'info' | 'error';
  text: string;
  /** One sentence each, e.g. why each person was not asked. */
  items?: Array<string | NoticeItem> | undefined;
}

/** A sentence, with its technical text one click away when it has one. */
export function NoticeItemText({ item }: { item: string | NoticeItem }) {
  if (typeof item === 'string') return <>{item}</>;
  return (
    <>
      {item.text}
      {item.detail && (
        <details>
          <summary>{item.detail.label}</summary>
          <code>{item.detail.text}</code>
        </details>
      )}
    </>
  );
}

export function NoticeBox({ notice }: { notice: Notice | undefined }) {
  if (!notice) return null;
  return (
    <div
      class={notice.kind === 'error' ? 'alert' : `notice notice-${notice.kind}`}
      role={notice.kind === 'error' ? 'alert' : 'status'}
    >
      <p>{notice.text}</p>
      {notice.items && notice.items.length > 0 && (
        <ul>
          {notice.items.map((item) => (
            <li>
              <NoticeItemText item={item} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
