import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// SharePoint names a user's picture files after the UPN with every character but a–z, 0–9, "_"
// and "-" made "_" (jane_contoso_com_MThumb.jpg), so a.b@contoso.com and a_b@contoso.com share a
// name. Before a push writes files, connect mode looks for another tenant user with the same
// name, by their UPN (`upn_stem`) or by the file their profile already shows (`picture_stem`,
// from PictureURL); both indexed, and filled here for the users already known, a few hundred
// rows per statement (one statement per row took 13 s for 50,000 users on PostgreSQL).

const ROWS_PER_STATEMENT = 300;

const upnStem = (upn: string) => upn.toLowerCase().replace(/[^a-z0-9_-]/g, '_');

function pictureStem(pictureUrl: string | null): string | null {
  if (!pictureUrl) return null;
  try {
    const path = decodeURIComponent(new URL(pictureUrl).pathname);
    const match = /^\/User Photos\/Profile Pictures\/([^/]+)_MThumb\.jpg$/i.exec(path);
    return match ? match[1]!.toLowerCase() : null;
  } catch {
    return null;
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('m365_users').addColumn('upn_stem', 'text').execute();
  await db.schema.alterTable('m365_users').addColumn('picture_stem', 'text').execute();
  const rows = (await db.selectFrom('m365_users').select(['id', 'upn', 'picture_url']).execute()) as {
    id: string;
    upn: string;
    picture_url: string | null;
  }[];
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    const values = rows
      .slice(start, start + ROWS_PER_STATEMENT)
      .map((row) => sql`(${row.id}, ${upnStem(row.upn)}, ${pictureStem(row.picture_url)})`);
    await sql`
      with stems (id, upn_stem, picture_stem) as (values ${sql.join(values)})
      update m365_users set upn_stem = stems.upn_stem, picture_stem = stems.picture_stem
      from stems where m365_users.id = stems.id
    `.execute(db);
  }
  await db.schema.createIndex('m365_users_upn_stem').on('m365_users').column('upn_stem').execute();
  await db.schema.createIndex('m365_users_picture_stem').on('m365_users').column('picture_stem').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('m365_users_picture_stem').execute();
  await db.schema.dropIndex('m365_users_upn_stem').execute();
  await db.schema.alterTable('m365_users').dropColumn('picture_stem').execute();
  await db.schema.alterTable('m365_users').dropColumn('upn_stem').execute();
}
