import { describe, expect, it } from 'vitest';
import {
  parseRenditionFileName,
  pictureTimeFrom,
  pictureTimestampValue,
  pictureUrl,
  renditionFileName,
} from './library.js';

describe('the User Photos library', () => {
  it('names the three renditions after the file stem', () => {
    expect(renditionFileName('jane_contoso_com', 'S')).toBe('jane_contoso_com_SThumb.jpg');
    expect(renditionFileName('jane_contoso_com', 'M')).toBe('jane_contoso_com_MThumb.jpg');
    expect(renditionFileName('jane_contoso_com', 'L')).toBe('jane_contoso_com_LThumb.jpg');
  });

  it('parses a file name back into stem and size, and nothing else', () => {
    expect(parseRenditionFileName('jane_contoso_com_LThumb.jpg')).toEqual({ stem: 'jane_contoso_com', size: 'L' });
    expect(parseRenditionFileName('jane_contoso_com_XThumb.jpg')).toBeUndefined();
    expect(parseRenditionFileName('_MThumb.jpg')).toBeUndefined();
  });

  it('points PictureURL at the M file with a version', () => {
    expect(pictureUrl('https://my.contoso.com', 'jane_contoso_com', 123)).toBe(
      'https://my.contoso.com/User%20Photos/Profile%20Pictures/jane_contoso_com_MThumb.jpg?t=123',
    );
  });
});

describe('SPS-PictureTimestamp', () => {
  it('is whole seconds since 0001-01-01, as SharePoint Online keeps it, both ways', () => {
    const at = Date.parse('2022-03-17T10:49:29.750Z');
    expect(pictureTimestampValue(at)).toBe('63783110969');
    expect(pictureTimeFrom('63783110969')).toBe(Date.parse('2022-03-17T10:49:29Z'));
    expect(pictureTimeFrom(pictureTimestampValue(Date.parse('1970-01-01T00:00:00Z')))).toBeUndefined();
    // Epoch milliseconds, a date, a time far ahead: not SharePoint's format.
    expect(pictureTimeFrom(String(at))).toBeUndefined();
    expect(pictureTimeFrom('2022-03-17')).toBeUndefined();
    expect(pictureTimeFrom(pictureTimestampValue(Date.now() + 7 * 24 * 3600_000))).toBeUndefined();
  });
});
