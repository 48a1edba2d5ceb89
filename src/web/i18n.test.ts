import { describe, expect, it } from 'vitest';
import { localeFromHeader, translator } from './i18n.js';
import { en } from './messages/en.js';
import { et } from './messages/et.js';

describe('portal languages', () => {
  it('picks the best supported language from Accept-Language', () => {
    expect(localeFromHeader(undefined)).toBe('en');
    expect(localeFromHeader('et-EE,et;q=0.9,en;q=0.8')).toBe('et');
    expect(localeFromHeader('fr-FR,fr;q=0.9,et;q=0.5,en;q=0.4')).toBe('et');
    expect(localeFromHeader('en;q=0.2,et;q=0.8')).toBe('et');
    expect(localeFromHeader('et;q=0,de')).toBe('en');
  });

  it('has every English string in Estonian, translated', () => {
    const same = Object.keys(en).filter(
      (key) =>
        ![
          // Brand names, and formats with no words in them.
          'app.name',
          'sites.title',
          'onedrive.title',
          'outlook.title',
          'admin.overview.none',
          'admin.duration.minutes',
          'admin.detail.title',
          'admin.nav.tenant',
          'admin.notice.syncedItem',
        ].includes(key) && en[key as keyof typeof en] === et[key as keyof typeof en],
    );
    expect(same).toEqual([]);
  });

  it('says in Estonian what the glossary (docs/ESTONIAN.md) says', () => {
    expect(et['admin.settings.mailOff']).toMatch(/^E-posti saatmine on välja lülitatud\. /);
    expect(et['admin.detail.prompts']).toBe('Saadetud meeldetuletused');
    expect(et['admin.detail.trigger']).toBe('Käivitaja');
    expect(et['admin.users.mailPhoto']).toBe('Postkasti foto');
    expect(et['admin.detail.directoryPhoto']).toBe('Kataloogifoto');
    expect(et['nav.skip']).toBe('Liigu põhisisu juurde');
    expect(translator('et')('home.signedInAs', { upn: 'mari@contoso.com' })).toBe(
      'Sisse logitud kasutajana mari@contoso.com',
    );
    expect(et['photo.rules']).toContain('Pilt kärbitakse ruudukujuliseks.');
    // The user's own action is "uuenda", in the banner, the e-mail and the lagging-sites notice alike.
    expect(et['prompt.bannerButton']).toBe('Uuenda kohe');
    expect(et['lag.update']).toBe('Uuenda kohe');
    expect(et['prompt.mailStep4']).toContain('„Uuenda kohe”');
    expect(translator('et')('sync.synced', { app: 'SharePoint' })).toBe(
      'SharePoint näitab nüüd sinu praegust profiilipilti.',
    );
  });

  it('keeps translation habits out of the Estonian catalog', () => {
    const found: string[] = [];
    for (const [key, text] of Object.entries(et)) {
      const wrong = (why: string) => found.push(`${key}: ${why}: ${text}`);
      if (/\bmeil/i.test(text.replace(/\S+@\S+/g, ''))) wrong('"meil" for e-mail or the mailbox');
      if (/päästik|palved|kohatäit|kataloogi foto/i.test(text)) wrong('a word the glossary replaced');
      if (/rakendus\w* (SharePoint|OneDrive)/.test(text)) wrong('"rakenduses SharePoint" instead of inflecting it');
      if (/logitud kui/.test(text)) wrong('"sisse logitud kui"');
      if (/lõigat|lõika|ruuduks/.test(text)) wrong('"lõikama" for cropping');
      // Sync is the administrators' word; people update their picture.
      if (!key.startsWith('admin.') && /sünkroon/i.test(text)) wrong('"sünkroonima" said to a user');
      // A colon only before a list or a value, never between two statements.
      if (/:(?! \{\w+\}| \d|$)/.test(text)) wrong('a colon between two statements');
      if (/"/.test(text)) wrong('English quotation marks');
    }
    expect(found).toEqual([]);
  });

  it('fills in parameters', () => {
    expect(translator('et')('home.greeting', { name: 'Mari' })).toBe('Tere, Mari');
  });
});
