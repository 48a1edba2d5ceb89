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
        ].includes(key) && en[key as keyof typeof en] === et[key as keyof typeof en],
    );
    expect(same).toEqual([]);
  });

  it('fills in parameters', () => {
    expect(translator('et')('home.greeting', { name: 'Mari' })).toBe('Tere, Mari');
  });
});
