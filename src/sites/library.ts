import type { RenditionSizes } from '../config.js';

// The My Site host's "User Photos" library: where renditions live and how they are named.

export type RenditionSize = keyof RenditionSizes;
export const RENDITION_SIZES: readonly RenditionSize[] = ['S', 'M', 'L'];

export const LIBRARY_PATH = '/User Photos/Profile Pictures';
export const LIBRARY_URL_PATH = '/User%20Photos/Profile%20Pictures';

/** `jane_contoso_com` (the user's file stem), `M` → `jane_contoso_com_MThumb.jpg` */
export function renditionFileName(stem: string, size: RenditionSize): string {
  return `${stem}_${size}Thumb.jpg`;
}

/** Splits `jane_contoso_com_MThumb.jpg` into its stem and size; undefined when it is no such name. */
export function parseRenditionFileName(name: string): { stem: string; size: RenditionSize } | undefined {
  // A stem is never made with a control character (and PostgreSQL refuses a NUL in text).
  const match = /^([^\p{Cc}]+)_([SML])Thumb\.jpg$/iu.exec(name);
  if (!match?.[1] || !match[2]) return undefined;
  return { stem: match[1].toLowerCase(), size: match[2].toUpperCase() as RenditionSize };
}

/** PictureURL: the M rendition, versioned with `?t=` so a new picture is a new URL. */
export function pictureUrl(publicUrl: string, stem: string, pictureTimestamp: number): string {
  return `${publicUrl}${LIBRARY_URL_PATH}/${renditionFileName(stem, 'M')}?t=${pictureTimestamp}`;
}

/** How renditions made at these sizes are labelled, so a change of sizes counts as a change. */
export function renditionSpec(sizes: RenditionSizes): string {
  return `${sizes.S},${sizes.M},${sizes.L}`;
}

/**
 * Seconds between 0001-01-01 and 1970-01-01 UTC. SharePoint Online keeps SPS-PictureTimestamp as
 * whole seconds since 0001-01-01 (.NET's DateTime ticks / 10^7), e.g. "63783110969" for
 * 2022-03-17 10:49:29 UTC; docs/M365.md gives the sources.
 */
const SECONDS_FROM_YEAR_1_TO_1970 = 62_135_596_800;

/** SPS-PictureTimestamp as SharePoint writes it, for a time in epoch milliseconds. */
export function pictureTimestampValue(epochMs: number): string {
  return String(Math.floor(epochMs / 1000) + SECONDS_FROM_YEAR_1_TO_1970);
}

/**
 * SPS-PictureTimestamp as SharePoint, its sync and PnP scripts write it (whole seconds since
 * 0001-01-01) to epoch milliseconds; undefined for anything else, or a time more than a day ahead.
 */
export function pictureTimeFrom(value: string, now = Date.now()): number | undefined {
  if (!/^\d{11}$/.test(value.trim())) return undefined;
  const ms = (Number(value.trim()) - SECONDS_FROM_YEAR_1_TO_1970) * 1000;
  return ms > 0 && ms < now + 24 * 3600_000 ? ms : undefined;
}

export interface PictureProperties {
  PictureURL: string;
  'SPS-PicturePlaceholderState': '0' | '1';
  'SPS-PictureExchangeSyncState': '0' | '1';
  'SPS-PictureTimestamp': string;
}

/** The user-profile properties the sites publish about a picture, as SharePoint spells them. */
export function pictureProperties(
  publicUrl: string,
  stem: string,
  profile: { placeholderState: number; exchangeSyncState: number; pictureTimestamp: number | null } | undefined,
  hasMailbox: boolean,
): PictureProperties {
  const showsPicture = profile?.placeholderState === 0 && profile.pictureTimestamp !== null;
  return {
    PictureURL: showsPicture ? pictureUrl(publicUrl, stem, profile.pictureTimestamp!) : '',
    'SPS-PicturePlaceholderState': showsPicture ? '0' : '1',
    'SPS-PictureExchangeSyncState': (profile?.exchangeSyncState ?? (hasMailbox ? 1 : 0)) === 1 ? '1' : '0',
    'SPS-PictureTimestamp':
      profile?.pictureTimestamp === null || profile?.pictureTimestamp === undefined
        ? ''
        : pictureTimestampValue(profile.pictureTimestamp),
  };
}

/** userphoto.aspx, versioned with `t=` so a new picture is a new URL and an old one never shows. */
export function userPhotoUrl(upn: string, size: 'S' | 'M' | 'L', pictureTimestamp: number | null): string {
  const version = pictureTimestamp === null ? '' : `&t=${pictureTimestamp}`;
  return `/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(upn)}${version}`;
}
