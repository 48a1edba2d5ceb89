import { expect, it } from 'vitest';
import { stateFinding } from '../src/m365/finding.js';
import { claimScan, finishScan } from '../src/m365/scans.js';
import { createTenantSession } from '../src/m365/sessions.js';
import { makeTestCertificate } from '../src/m365/test-certificate.js';
import { ensureTenantUser } from '../src/m365/users.js';
import { formatDate } from '../src/web/dates.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// A tenant user's home page at the portal says when photosync found what it says about their
// picture, in their language and with the time as other pages write it, so that a day-old finding
// is not taken for now: as of the scan that read them, or of a push since. Both databases; the
// tenant is never asked (the home page reads photosync's own store), so none is needed.

const NOWHERE = 'https://localhost:9';
const CONNECT_MODE = {
  PHOTOSYNC_M365_TENANT: 'contoso.onmicrosoft.com',
  PHOTOSYNC_M365_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
  PHOTOSYNC_M365_CERTIFICATE: makeTestCertificate().combined,
  PHOTOSYNC_M365_SHAREPOINT_URL: NOWHERE,
  PHOTOSYNC_M365_MYSITE_URL: NOWHERE,
  PHOTOSYNC_M365_ADMIN_URL: NOWHERE,
  PHOTOSYNC_M365_AUTHORITY_HOST: NOWHERE,
  PHOTOSYNC_M365_GRAPH_URL: NOWHERE,
};
const HOUR = 3_600_000;

describeEachDialect('the portal’s home page in connect mode, with when its finding was found', (dialect) => {
  const context = useTestApp(dialect, CONNECT_MODE);

  /** The home page's finding sentence for `upn` (signed in by a tenant session), in `language`. */
  async function foundText(userId: string, language: string) {
    const portal = new FormClient(context.app, language);
    portal.cookies.set('photosync_m365_session', await createTenantSession(context.services.database.db, userId));
    const home = await portal.request('GET', '/');
    expect(home.statusCode).toBe(200);
    const state = /<p data-tenant-state="(\w+)">/.exec(home.body)?.[1];
    const found = /<p class="muted" data-found-by="(\w+)">([^<]*)<\/p>/.exec(home.body);
    return { state, by: found?.[1], text: found?.[2] };
  }

  it('says nothing of when while nothing has looked, then the scan’s time, then a later push’s', async () => {
    const { db } = context.services.database;
    const upn = `mari.${dialect}@contoso.com`;
    const id = `id-${upn}`;
    await ensureTenantUser(db, { id, upn, displayName: 'Mari Maasikas', accountEnabled: true, hasMailbox: true });
    expect(await foundText(id, 'en')).toEqual({ state: 'unknown', by: undefined, text: undefined });

    // A scan a day ago, which took ten minutes, found her changed.
    const started = Date.UTC(2026, 11, 3, 7, 50);
    const finished = started + 10 * 60_000;
    const lease = { holder: 'elsewhere:1:test', leaseMs: HOUR };
    const claim = await claimScan(db, { ...lease, now: started }, async () => 1);
    expect(claim.kind).toBe('claimed');
    const scanId = claim.scan.id;
    await db
      .updateTable('m365_users')
      .set({ state: 'changed', state_at: started, seen_scan_id: scanId })
      .where('id', '=', id)
      .execute();
    // While the scan runs, its start is when she was found.
    expect(await stateFinding(db, id)).toEqual({ by: 'scan', at: started });
    await finishScan(db, scanId, { ...lease, now: finished }, { status: 'done' });
    expect(await stateFinding(db, id)).toEqual({ by: 'scan', at: finished });

    const english = await foundText(id, 'en');
    expect(english).toEqual({
      state: 'changed',
      by: 'scan',
      text: `As of photosync’s scan on ${formatDate('en', finished)}.`,
    });
    expect(english.text).toMatch(/ 2026 at \d\d:\d\d [A-Z]/);
    const estonian = await foundText(id, 'et');
    expect(estonian.text).toBe(`photosynci läbivaatuse järgi seisuga ${formatDate('et', finished)}.`);
    expect(estonian.text).toMatch(/seisuga \d{1,2}\.12\.2026 kell \d\d\.\d\d /);

    // A push that could not reach the tenant found nothing: the scan's finding stands.
    await db
      .updateTable('m365_users')
      .set({ last_attempt_at: finished + HOUR, last_outcome: 'failed' })
      .where('id', '=', id)
      .execute();
    expect((await foundText(id, 'en')).by).toBe('scan');
    // One that did (she opened SharePoint's tile) decided her state since.
    const pushed = finished + 2 * HOUR;
    await db
      .updateTable('m365_users')
      .set({ state: 'in_step', state_at: pushed, last_attempt_at: pushed, last_outcome: 'synced' })
      .where('id', '=', id)
      .execute();
    expect(await foundText(id, 'en')).toEqual({
      state: 'in_step',
      by: 'push',
      text: `As of photosync’s last sync of your photo on ${formatDate('en', pushed)}.`,
    });
    expect((await foundText(id, 'et')).text).toBe(
      `photosynci viimase ületoomiskatse järgi seisuga ${formatDate('et', pushed)}.`,
    );
  });
});
