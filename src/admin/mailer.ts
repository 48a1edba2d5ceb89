import type { Transporter } from 'nodemailer';
import { lazy } from '../lazy.js';
import { translator, type Locale } from '../web/i18n.js';

// Prompt e-mails: in the user's language, with the article's steps and the link to the portal.
// Sent from the outbox (outbox.ts), retried with back-off; each prompt records its outcome.
// nodemailer is loaded with the first e-mail, so a start without SMTP does not load it at all.

export interface PromptMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  send(mail: PromptMail & { from: string }): Promise<void>;
  close(): void;
}

export function createMailer(smtpUrl: string | undefined): Mailer | undefined {
  if (!smtpUrl) return undefined;
  let transport: Transporter | undefined;
  const made = lazy(async () => {
    const { default: nodemailer } = await import('nodemailer');
    // Deadlines that keep one send well inside the outbox's lease on the mail (outbox.ts, LEASE_MS).
    return (transport = nodemailer.createTransport({
      url: smtpUrl,
      connectionTimeout: 15_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    }));
  });
  return {
    async send(mail) {
      await (await made()).sendMail(mail);
    },
    close: () => transport?.close(),
  };
}

export function promptMail(user: { upn: string; displayName: string }, locale: Locale, publicUrl: string): PromptMail {
  const t = translator(locale);
  const portal = `${publicUrl}/`;
  const steps = [
    t('prompt.mailStep1'),
    t('prompt.mailStep2', { url: portal }),
    t('prompt.mailStep3'),
    t('prompt.mailStep4'),
  ];
  const text = [
    t('prompt.mailGreeting', { name: user.displayName }),
    '',
    t('prompt.mailIntro'),
    '',
    ...steps.map((step, i) => `${i + 1}. ${step}`),
    '',
    portal,
  ].join('\n');
  const escape = (s: string) =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const html = `<!doctype html><html lang="${locale}"><body><p>${escape(t('prompt.mailGreeting', { name: user.displayName }))}</p><p>${escape(t('prompt.mailIntro'))}</p><ol>${steps
    .map((step) => `<li>${escape(step)}</li>`)
    .join('')}</ol><p><a href="${escape(portal)}">${escape(t('prompt.mailLink'))}</a></p></body></html>`;
  return { to: user.upn, subject: t('prompt.mailSubject'), text, html };
}
