import { describe, expect, it } from 'vitest';
import type { M365Settings } from './settings.js';
import type { TenantHttp } from './tenant-http.js';
import {
  accountFileStem,
  odataString,
  pictureFileStem,
  pictureTimestamp,
  profilePictureFrom,
  readProfilePicture,
  renditionUrl,
  smallThumbnailPath,
} from './sharepoint.js';

const settings = { mySiteUrl: 'https://contoso-my.sharepoint.com' } as M365Settings;

describe('profilePictureFrom', () => {
  // GetPropertiesFor with odata=nometadata, as PnP's CLI for Microsoft 365 records it
  // (https://github.com/pnp/cli-microsoft365, spo userprofile get).
  it('reads the four picture properties from the Key/Value list', () => {
    const body = {
      AccountName: 'i:0#.f|membership|jane@contoso.com',
      PictureUrl: 'https://contoso-my.sharepoint.com:443/User%20Photos/Profile%20Pictures/jane_contoso_com_MThumb.jpg',
      UserProfileProperties: [
        { Key: 'UserProfile_GUID', Value: 'f3f102bb-7ac7-408e-9184-384062abd0d5', ValueType: 'Edm.String' },
        {
          Key: 'PictureURL',
          Value: 'https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/jane_contoso_com_MThumb.jpg',
          ValueType: 'Edm.String',
        },
        { Key: 'SPS-PictureTimestamp', Value: '63783110969', ValueType: 'Edm.String' },
        { Key: 'SPS-PicturePlaceholderState', Value: '0', ValueType: 'Edm.String' },
        { Key: 'SPS-PictureExchangeSyncState', Value: '1', ValueType: 'Edm.String' },
      ],
    };
    expect(profilePictureFrom(body)).toEqual({
      kind: 'profile',
      pictureUrl: 'https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/jane_contoso_com_MThumb.jpg',
      placeholderState: 0,
      exchangeSyncState: 1,
      timestamp: '63783110969',
    });
  });

  it('takes unset properties as unset and an answer without properties as no profile', () => {
    expect(
      profilePictureFrom({
        UserProfileProperties: [{ Key: 'SPS-PicturePlaceholderState', Value: '', ValueType: 'Edm.String' }],
      }),
    ).toEqual({
      kind: 'profile',
      pictureUrl: '',
      placeholderState: null,
      exchangeSyncState: null,
      timestamp: '',
    });
    expect(profilePictureFrom({ AccountName: null, UserProfileProperties: [] })).toEqual({ kind: 'none' });
    expect(profilePictureFrom({})).toEqual({ kind: 'none' });
    expect(profilePictureFrom(null)).toEqual({ kind: 'none' });
  });

  it('takes a 200 that is no JSON object (a proxy’s page) as an unreadable profile, not as none', async () => {
    const answering = (body: string, type: string): TenantHttp => ({
      request: async () => new Response(body, { status: 200, headers: { 'content-type': type } }),
    });
    const page = await readProfilePicture(answering('<html>Sign in</html>', 'text/html'), settings, 'jane@contoso.com');
    expect(page).toMatchObject({ kind: 'error', message: expect.stringContaining('text/html') });
    expect(await readProfilePicture(answering('[]', 'application/json'), settings, 'jane@contoso.com')).toMatchObject({
      kind: 'error',
    });
    expect(await readProfilePicture(answering('{}', 'application/json'), settings, 'jane@contoso.com')).toEqual({
      kind: 'none',
    });
  });
});

describe('picture files', () => {
  it('names the files after the UPN with @ and . made _, on the My Site host', () => {
    expect(renditionUrl(settings, accountFileStem('Jane.Doe@Contoso.com'), 'M')).toBe(
      'https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/jane_doe_contoso_com_MThumb.jpg',
    );
  });

  it('reads the name of the file a PictureURL shows, only in the picture library', () => {
    expect(
      pictureFileStem(
        'https://contoso-my.sharepoint.com:443/User%20Photos/Profile%20Pictures/A_B_contoso_com_MThumb.jpg?t=63783110969',
      ),
    ).toBe('a_b_contoso_com');
    for (const other of [
      'https://contoso-my.sharepoint.com/Documents/a_b_contoso_com_MThumb.jpg',
      'https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/a_b_contoso_com_LThumb.jpg',
      'not a url',
      '',
      null,
    ]) {
      expect(pictureFileStem(other)).toBeNull();
    }
  });

  it('compares with the S file beside the profile’s PictureURL, and never follows a PictureURL elsewhere', () => {
    const own =
      'https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/j_doe_contoso_com_MThumb.jpg?t=63783110969';
    expect(smallThumbnailPath(settings, 'jane@contoso.com', own)).toBe(
      '/User Photos/Profile Pictures/j_doe_contoso_com_SThumb.jpg',
    );
    for (const elsewhere of ['https://evil.example/x_MThumb.jpg', 'not a url', '']) {
      expect(smallThumbnailPath(settings, 'jane@contoso.com', elsewhere)).toBe(
        '/User Photos/Profile Pictures/jane_contoso_com_SThumb.jpg',
      );
    }
  });

  it('writes SPS-PictureTimestamp as seconds since the year 1, as SharePoint does', () => {
    expect(pictureTimestamp(Date.parse('1970-01-01T00:00:00Z'))).toBe('62135596800');
    expect(pictureTimestamp(Date.parse('2022-03-17T10:49:29Z'))).toBe('63783110969');
  });
});

describe('odataString', () => {
  it('doubles quotes and encodes the text inside them, as PnPjs does', () => {
    expect(odataString("i:0#.f|membership|o'brien@contoso.com")).toBe(
      "'i%3A0%23.f%7Cmembership%7Co''brien%40contoso.com'",
    );
    expect(odataString('/User Photos/Profile Pictures')).toBe("'%2FUser%20Photos%2FProfile%20Pictures'");
  });
});
