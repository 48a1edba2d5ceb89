import { beforeAll, describe, expect, it } from 'vitest';
import type { M365Connection } from '../src/m365/connection.js';
import { pushTenantUser } from '../src/m365/push.js';
import type { M365Settings } from '../src/m365/settings.js';
import type { TenantHttp, TenantRequestInit } from '../src/m365/tenant-http.js';
import { ensureTenantUser, findTenantUser } from '../src/m365/users.js';
import { solidJpeg } from './support/factories.js';
import { useTestServices } from './support/services.js';

// Which file names a push writes, in states photosync playing the tenant never gets into but
// SharePoint may: two profiles showing one file (SharePoint's own sync names both twins'
// files a_b_contoso_com), a twin's files appearing after the last scan, a library file of one
// size only. The tenant here keeps PictureURL as written and the library as a map of names, as
// SharePoint does; test/m365-file-names.test.ts pushes against photosync playing the tenant.

const MY_SITE = 'https://contoso-my.sharepoint.com';
const settings = {
  mySiteUrl: MY_SITE,
  adminUrl: 'https://contoso-admin.sharepoint.com',
  graphUrl: 'https://graph.microsoft.com',
} as M365Settings;
const LIBRARY = '/User Photos/Profile Pictures';
const fileUrl = (name: string) => `${MY_SITE}${encodeURI(`${LIBRARY}/${name}`)}`;
const TWIN = Buffer.from('the twin’s picture');

/** A tenant of profiles (UPN → PictureURL as written) and one library (lower-case name → bytes). */
function sharePoint(profiles: Map<string, string>, library: Map<string, Buffer>, photo: Buffer): TenantHttp {
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  return {
    async request(_resource: string, url: string, init: TenantRequestInit = {}) {
      const address = decodeURIComponent(url);
      let match: RegExpExecArray | null;
      // A push first looks the user up by object id (here their UPN).
      if ((match = /\/v1\.0\/users\/([^/?]+)\?\$select=/.exec(address))) {
        const plans = [{ service: 'exchange', capabilityStatus: 'Enabled' }];
        return json({ id: match[1], userPrincipalName: match[1], displayName: match[1], provisionedPlans: plans });
      }
      if (address.endsWith('/photo')) return json({ '@odata.mediaEtag': 'W/"exchange-1"', width: 300 });
      if (address.endsWith('/photo/$value')) return new Response(new Uint8Array(photo));
      if ((match = /GetPropertiesFor\(accountName=@v\)\?@v='i:0#\.f\|membership\|([^']+)'/.exec(address))) {
        const pictureUrl = profiles.get(match[1]!) ?? '';
        return json({
          UserProfileProperties: [
            { Key: 'PictureURL', Value: pictureUrl },
            { Key: 'SPS-PicturePlaceholderState', Value: pictureUrl ? '0' : '1' },
          ],
        });
      }
      if ((match = /GetFileByServerRelativeUrl\('([^']+)'\)(\/\$value)?$/.exec(address))) {
        const bytes = library.get(match[1]!.slice(LIBRARY.length + 1).toLowerCase());
        if (!bytes) return json({ 'odata.error': { message: { value: 'File Not Found.' } } }, 404);
        return match[2] ? new Response(new Uint8Array(bytes)) : json({ Exists: true });
      }
      if ((match = /Files\/add\(url='([^']+)',overwrite=true\)$/.exec(address))) {
        library.set(match[1]!.toLowerCase(), Buffer.from(init.body as Uint8Array));
        return json({});
      }
      if (address.endsWith('SetSingleValueProfileProperty')) {
        const { accountName, propertyName, propertyValue } = JSON.parse(init.body as string) as Record<string, string>;
        if (propertyName === 'PictureURL') profiles.set(accountName!.split('|').pop()!, propertyValue!);
        return json({});
      }
      return json({ 'odata.error': { message: { value: `not here: ${address}` } } }, 400);
    },
  };
}

describe('the names of the files a push writes', () => {
  const context = useTestServices('sqlite');

  async function push(upn: string, profiles: Map<string, string>, library: Map<string, Buffer>) {
    const { db } = context.services.database;
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    const connection = {
      settings,
      http: sharePoint(profiles, library, await solidJpeg([200, 40, 40], 300)),
      clock: { now: () => Date.now(), sleep: async () => {} },
    } as unknown as M365Connection;
    const report = await pushTenantUser(
      connection,
      { db, lock: context.services.lock },
      (await findTenantUser(db, upn))!,
      { trigger: 'admin', sizes: context.services.syncSettings().renditionSizes },
    );
    expect(report.outcome, report.error ?? '').toBe('synced');
    return profiles.get(upn)!;
  }
  const twinFiles = (stem: string, sizes = ['S', 'M', 'L']) =>
    new Map(sizes.map((size) => [`${stem}_${size.toLowerCase()}thumb.jpg`, TWIN]));

  it('before any scan, writes a name of the user’s own even where their profile shows a shared one', async () => {
    const library = twinFiles('a_b_contoso_com');
    const shared = fileUrl('a_b_contoso_com_MThumb.jpg');
    const profiles = new Map([
      ['a.b@contoso.com', shared],
      ['a_b@contoso.com', shared],
    ]);
    const pictureUrl = await push('a.b@contoso.com', profiles, library);
    expect(pictureUrl).toMatch(/\/a_b_contoso_com_[0-9a-f]{8}_MThumb\.jpg$/);
    for (const size of ['s', 'm', 'l']) expect(library.get(`a_b_contoso_com_${size}thumb.jpg`)).toBe(TWIN);
    expect(profiles.get('a_b@contoso.com')).toBe(shared);
  });

  describe('after a scan listed the tenant', () => {
    const scanned = async (upn: string, pictureUrl: string | null) => {
      const { db } = context.services.database;
      await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
      const stem = pictureUrl && /\/([^/]+)_MThumb\.jpg$/.exec(decodeURI(pictureUrl))![1]!.toLowerCase();
      await db
        .updateTable('m365_users')
        .set({ picture_url: pictureUrl, picture_stem: stem })
        .where('id', '=', upn)
        .execute();
    };

    beforeAll(async () => {
      await context.services.database.db
        .insertInto('m365_scans')
        .values({ id: 'listed', started_at: 1, finished_at: 2, status: 'done', page_link: null } as never)
        .execute();
    });

    it('keeps the UPN’s name for a user whose profile shows it and nobody else’s', async () => {
      const own = fileUrl('jane_contoso_com_MThumb.jpg');
      await scanned('jane@contoso.com', own);
      const library = twinFiles('jane_contoso_com');
      expect(await push('jane@contoso.com', new Map([['jane@contoso.com', own]]), library)).toBe(own);
      expect(library.get('jane_contoso_com_mthumb.jpg')).not.toBe(TWIN);
    });

    it('gives the UPN’s name to a user with no picture when the library has no file by it', async () => {
      await scanned('e.f@contoso.com', null);
      const library = new Map<string, Buffer>();
      expect(await push('e.f@contoso.com', new Map(), library)).toBe(fileUrl('e_f_contoso_com_MThumb.jpg'));
      expect([...library.keys()].sort()).toEqual([
        'e_f_contoso_com_lthumb.jpg',
        'e_f_contoso_com_mthumb.jpg',
        'e_f_contoso_com_sthumb.jpg',
      ]);
    });

    it('leaves alone a file by the UPN’s name that the user’s profile does not show, even an M file alone', async () => {
      // c_d@ came after the scan, and a script uploaded their picture as one M file.
      await scanned('c.d@contoso.com', null);
      const library = twinFiles('c_d_contoso_com', ['M']);
      const pictureUrl = await push('c.d@contoso.com', new Map(), library);
      expect(pictureUrl).toMatch(/\/c_d_contoso_com_[0-9a-f]{8}_MThumb\.jpg$/);
      expect(library.get('c_d_contoso_com_mthumb.jpg')).toBe(TWIN);
    });

    it('moves a user off a file another profile showed at the scan', async () => {
      const shared = fileUrl('g_h_contoso_com_MThumb.jpg');
      await scanned('g_h@contoso.com', shared);
      await scanned('g.h@contoso.com', shared);
      const library = twinFiles('g_h_contoso_com');
      const pictureUrl = await push('g.h@contoso.com', new Map([['g.h@contoso.com', shared]]), library);
      expect(pictureUrl).toMatch(/\/g_h_contoso_com_[0-9a-f]{8}_MThumb\.jpg$/);
      expect(library.get('g_h_contoso_com_mthumb.jpg')).toBe(TWIN);
    });

    it('moves a user off the file their profile shows when a twin known at the scan has that name', async () => {
      // At the scan i.j@ had no picture; SharePoint's own sync may since have shown them the same file.
      await scanned('i.j@contoso.com', null);
      const shared = fileUrl('i_j_contoso_com_MThumb.jpg');
      await scanned('i_j@contoso.com', shared);
      const library = twinFiles('i_j_contoso_com');
      const pictureUrl = await push('i_j@contoso.com', new Map([['i_j@contoso.com', shared]]), library);
      expect(pictureUrl).toMatch(/\/i_j_contoso_com_[0-9a-f]{8}_MThumb\.jpg$/);
      expect(library.get('i_j_contoso_com_mthumb.jpg')).toBe(TWIN);
    });

    it('asks the library even where the scan saw the user’s own profile show the UPN’s name', async () => {
      // Since the scan k.l@'s profile was emptied, and k_l@ joined with files by that name.
      await scanned('k.l@contoso.com', fileUrl('k_l_contoso_com_MThumb.jpg'));
      const library = twinFiles('k_l_contoso_com');
      const pictureUrl = await push('k.l@contoso.com', new Map(), library);
      expect(pictureUrl).toMatch(/\/k_l_contoso_com_[0-9a-f]{8}_MThumb\.jpg$/);
      expect(library.get('k_l_contoso_com_mthumb.jpg')).toBe(TWIN);
    });
  });
});
