import { describe, expect, it } from 'vitest';
import { claimForUpn, libraryFileStem, normalizeUpn, upnFromAccountName } from './upn.js';

describe('user principal names', () => {
  it('normalises to lower case and refuses what is not a UPN', () => {
    expect(normalizeUpn('  Jane.Doe@Contoso.COM ')).toBe('jane.doe@contoso.com');
    for (const bad of [
      '',
      'jane',
      'jane@',
      '@contoso.com',
      'jane@contoso',
      'ja ne@contoso.com',
      'jane@@contoso.com',
      `${'a'.repeat(110)}@c.com`,
    ]) {
      expect(normalizeUpn(bad), bad).toBeUndefined();
    }
  });

  it('reads the claim form the sites use and writes it back', () => {
    expect(upnFromAccountName('i:0#.f|membership|Jane@contoso.com')).toBe('jane@contoso.com');
    expect(upnFromAccountName('jane@contoso.com')).toBe('jane@contoso.com');
    expect(upnFromAccountName('i:0#.w|contoso\\jane')).toBeUndefined();
    expect(claimForUpn('jane@contoso.com')).toBe('i:0#.f|membership|jane@contoso.com');
  });

  it('names library files as SharePoint does', () => {
    expect(libraryFileStem('jane.doe@contoso.com')).toBe('jane_doe_contoso_com');
    expect(libraryFileStem("a/b?c#d%e+f'g@contoso.com")).toBe('a_b_c_d_e_f_g_contoso_com');
  });
});
