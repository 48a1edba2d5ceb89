import { beforeAll, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { appToken, bearer, userToken } from './support/apps.js';
import { makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// PictureURL's `?t=` is the picture's version: under it the library file is served as immutable for
// a year, so one URL must never stand for two pictures. SetSingleValueProfileProperty takes
// SPS-PictureTimestamp from a script and makes it the version, so a script that writes the same
// value after each upload (or an older one, as a copy of another profile) gives a new picture the URL
// of an old one, and a browser that kept the old one shows it for a year.

const NOMETADATA = { accept: 'application/json;odata=nometadata' };
const claim = (upn: string) => `i:0#.f|membership|${upn}`;
const alias = (upn: string) => `@v=${encodeURIComponent(`'${claim(upn)}'`)}`;
/** SPS-PictureTimestamp as SharePoint writes it: whole seconds since 0001-01-01 (2022-03-17T10:49:29Z). */
const FIXED_TIMESTAMP = '63783110969';

describeEachDialect('PictureURL versions', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let lee: DirectoryUser;
  let leeToken: string;
  let script: string;
  beforeAll(async () => {
    ({ services, app } = context);
    lee = await makeUser(services, { hasMailbox: false });
    leeToken = await userToken(services, lee);
    script = await appToken(services, ['ProfilePhoto.ReadWrite.All']);
  });

  const upload = async (rgb: [number, number, number]) => {
    const response = await app.inject({
      method: 'POST',
      url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      headers: { ...bearer(leeToken), ...NOMETADATA, 'content-type': 'application/octet-stream' },
      payload: await solidJpeg(rgb, 400),
    });
    expect(response.statusCode).toBe(200);
  };
  const setTimestamp = async (value: string) => {
    const response = await app.inject({
      method: 'POST',
      url: '/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty',
      headers: { ...bearer(script), ...NOMETADATA, 'content-type': 'application/json' },
      payload: { accountName: claim(lee.upn), propertyName: 'SPS-PictureTimestamp', propertyValue: value },
    });
    expect(response.statusCode).toBe(200);
  };
  const pictureUrl = async () => {
    const response = await app.inject({
      url: `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?${alias(lee.upn)}`,
      headers: { ...bearer(script), ...NOMETADATA },
    });
    return new URL(response.json<{ PictureUrl: string }>().PictureUrl);
  };
  const fetchPicture = (url: URL) => app.inject({ url: `${url.pathname}${url.search}`, headers: bearer(leeToken) });

  it('a new picture never gets the URL of an earlier one, whatever SPS-PictureTimestamp a script writes', async () => {
    await upload([200, 30, 30]);
    await setTimestamp(FIXED_TIMESTAMP);
    const first = await pictureUrl();
    const firstAnswer = await fetchPicture(first);
    expect(firstAnswer.statusCode).toBe(200);
    // A browser keeps this answer for a year under this URL.
    expect(firstAnswer.headers['cache-control']).toContain('immutable');

    await upload([30, 30, 200]);
    await setTimestamp(FIXED_TIMESTAMP);
    const second = await pictureUrl();
    const secondAnswer = await fetchPicture(second);
    expect(secondAnswer.statusCode).toBe(200);
    expect(secondAnswer.headers.etag).not.toBe(firstAnswer.headers.etag);
    // The new picture's URL is a new URL: the old cached answer is never taken for it.
    expect(second.href).not.toBe(first.href);
  });

  it("takes a later SPS-PictureTimestamp as the version, and keeps the picture's own time against an earlier one", async () => {
    await upload([30, 160, 30]);
    const own = await pictureUrl();
    const later = String(Math.floor(Date.now() / 1000) + 62_135_596_800 + 60);
    await setTimestamp(later);
    const moved = await pictureUrl();
    expect(moved.searchParams.get('t')).toBe(String((Number(later) - 62_135_596_800) * 1000));
    await setTimestamp(FIXED_TIMESTAMP);
    expect((await pictureUrl()).href).toBe(moved.href);
    expect(moved.href).not.toBe(own.href);
  });
});
