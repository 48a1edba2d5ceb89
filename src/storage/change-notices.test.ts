import { describe, expect, it } from 'vitest';
import { topicsChangedBy } from './change-notices.js';

describe('topicsChangedBy', () => {
  it('names the topic of the rows a statement writes, and none for a read', () => {
    expect(topicsChangedBy('update "directory_users" set "enabled" = $1 where "id" = $2')).toBe(1);
    expect(topicsChangedBy('delete from "directory_sessions" where "id_hash" = $1')).toBe(1);
    expect(topicsChangedBy('insert into "site_renditions" ("user_id") values ($1)')).toBe(2);
    expect(topicsChangedBy('update "site_profiles" set "picture_timestamp" = $1')).toBe(2);
    // The "checked" time an in-step view writes is kept nowhere.
    expect(topicsChangedBy('update "site_profiles" set "last_checked_at" = $1')).toBe(0);
    expect(
      topicsChangedBy('with "old" as (select "blob_key" from "site_renditions") delete from "directory_tokens"'),
    ).toBe(3);
    expect(topicsChangedBy('select * from "directory_users" join "site_renditions" on true')).toBe(0);
    expect(topicsChangedBy('update "directory_users_search" set "x" = 1')).toBe(0);
    expect(topicsChangedBy('commit')).toBe(0);
  });
});
