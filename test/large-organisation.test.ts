import { beforeAll, expect, it } from 'vitest';
import { findUserByUpn } from '../src/directory/users.js';
import { buildLargeOrganisation, largeOrgUpn, stateOfUser } from '../src/demo/large-organisation.js';
import type { Services } from '../src/services.js';
import { renditionSpec } from '../src/sites/library.js';
import { getRendition } from '../src/sites/profiles.js';
import { listSyncStatus } from '../src/sync/status.js';
import { giveMailPhoto, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';

const USERS = 120;

describeEachDialect('large organisation builder', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(async () => {
    ({ services } = context);
    await buildLargeOrganisation(services, { users: USERS, distinctPhotos: 4 });
  });

  it('puts every user in the state it promises, as the status report sees it', async () => {
    const { config, database } = services;
    const rows = await listSyncStatus(database.db, config.publicUrl, renditionSpec(config.renditionSizes));
    expect(rows).toHaveLength(USERS);
    for (const row of rows) {
      const index = Number(/^user(\d+)@/.exec(row.upn)?.[1]);
      expect(row.state, row.upn).toBe(stateOfUser(index));
    }
    expect(new Set(rows.map((r) => r.state)).size).toBe(6);
  });

  it('gives users sharing a portrait their own blobs: replacing one photo leaves the others whole', async () => {
    // Users 0 and 4 were given the same portrait (4 distinct ones); both are in step.
    const [first, second] = await Promise.all([0, 4].map((i) => findUserByUpn(services.database.db, largeOrgUpn(i))));
    await giveMailPhoto(services, first!, await solidJpeg([200, 30, 30]));
    expect((await services.sync.sync(first!, 'admin')).outcome).toBe('synced');
    for (const size of ['S', 'M', 'L'] as const) {
      const rendition = await getRendition(services.database.db, second!.id, size);
      expect(await services.blobs.get(rendition!.blobKey)).toBeDefined();
    }
    expect((await services.sync.sync(second!, 'admin')).outcome).toBe('unchanged');
  });

  it('refuses a directory that already has users', async () => {
    await expect(buildLargeOrganisation(services, { users: 1 })).rejects.toThrow(/already has users/);
  });
});
