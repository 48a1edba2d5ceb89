export interface MailPhotosTable {
  user_id: string;
  /** Hash of the master JPEG; NULL once the photo was removed (the row remembers when). */
  etag: string | null;
  blob_key: string | null;
  side: number | null;
  byte_size: number | null;
  changed_at: number;
}

/**
 * The sites' S/M/L renditions of the current mail photo, made when it was set (at the sizes the
 * sites used then): what a user's action switches the sites to without decoding the master.
 */
export interface MailPhotoRenditionsTable {
  user_id: string;
  size: 'S' | 'M' | 'L';
  /** The mail photo's ETag they were made from. */
  mail_etag: string;
  /** The S,M,L sides they were made at, e.g. "48,72,300". */
  rendition_spec: string;
  side: number;
  /** Their JPEG in the photo store. */
  blob_key: string;
  /** The JPEG's content tag, checked when it is read. */
  etag: string;
}

export interface MailTables {
  mail_photos: MailPhotosTable;
  mail_photo_renditions: MailPhotoRenditionsTable;
}
