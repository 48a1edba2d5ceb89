export interface SiteProfilesTable {
  user_id: string;
  /** The UPN as the library names files: jane_contoso_com. */
  file_stem: string;
  /** SPS-PicturePlaceholderState: 0 = show the uploaded picture, 1 = show the placeholder. */
  placeholder_state: number;
  /** SPS-PictureExchangeSyncState: 1 = pulled from the mail service, 0 = uploaded in the sites. */
  exchange_sync_state: number;
  /** SPS-PictureTimestamp, epoch ms; NULL until the first sync or upload. */
  picture_timestamp: number | null;
  picture_source: 'mail' | 'upload' | null;
  /** ETag of the mail photo these renditions were made from; NULL for placeholder or upload. */
  synced_etag: string | null;
  /** The S,M,L sizes the renditions were made at, e.g. "48,72,300". */
  rendition_spec: string | null;
  last_checked_at: number | null;
}

export interface SiteRenditionsTable {
  user_id: string;
  size: 'S' | 'M' | 'L';
  blob_key: string;
  etag: string;
  side: number;
  byte_size: number;
}

/** A file in "User Photos/Profile Pictures" that is nobody's picture (library-files.ts). */
export interface SiteLibraryFilesTable {
  key: string;
  name: string;
  bytes: Buffer;
  etag: string;
  modified_at: number;
}

export interface SiteTables {
  site_profiles: SiteProfilesTable;
  site_renditions: SiteRenditionsTable;
  site_library_files: SiteLibraryFilesTable;
}
