export interface MailPhotosTable {
  user_id: string;
  /** Hash of the master JPEG; NULL once the photo was removed (the row remembers when). */
  etag: string | null;
  blob_key: string | null;
  side: number | null;
  byte_size: number | null;
  changed_at: number;
}

export interface MailTables {
  mail_photos: MailPhotosTable;
}
