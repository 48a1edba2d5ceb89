import { describe, expect, it } from 'vitest';
import { parseRenditionFileName, pictureUrl, renditionFileName } from './library.js';

describe('the User Photos library', () => {
  it('names the three renditions after the UPN', () => {
    expect(renditionFileName('jane@contoso.com', 'S')).toBe('jane_contoso_com_SThumb.jpg');
    expect(renditionFileName('jane@contoso.com', 'M')).toBe('jane_contoso_com_MThumb.jpg');
    expect(renditionFileName('jane@contoso.com', 'L')).toBe('jane_contoso_com_LThumb.jpg');
  });

  it('parses a file name back into stem and size, and nothing else', () => {
    expect(parseRenditionFileName('jane_contoso_com_LThumb.jpg')).toEqual({ stem: 'jane_contoso_com', size: 'L' });
    expect(parseRenditionFileName('jane_contoso_com_XThumb.jpg')).toBeUndefined();
    expect(parseRenditionFileName('_MThumb.jpg')).toBeUndefined();
  });

  it('points PictureURL at the M file with a version', () => {
    expect(pictureUrl('https://my.contoso.com', 'jane@contoso.com', 123)).toBe(
      'https://my.contoso.com/User%20Photos/Profile%20Pictures/jane_contoso_com_MThumb.jpg?t=123',
    );
  });
});
