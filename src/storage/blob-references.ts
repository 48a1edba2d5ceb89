// Every column that holds a blob key, in one list: the sweeper keeps a blob while any of them names
// it. A table that starts keeping blob keys must be added here; `test/blob-sweep.test.ts` fails
// when a migration adds a `*blob_key*` column this list does not name.

export interface BlobReference {
  table: string;
  column: string;
}

export const BLOB_REFERENCES = [
  { table: 'mail_photos', column: 'blob_key' },
  { table: 'site_renditions', column: 'blob_key' },
  { table: 'mail_photo_renditions', column: 'blob_key' },
] as const satisfies readonly BlobReference[];
