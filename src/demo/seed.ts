import { setDirectoryPhoto } from '../directory/photo.js';
import { authenticate, countUsers, createUser, type DirectoryUser } from '../directory/users.js';
import { isAppError } from '../errors.js';
import { setMailPhoto } from '../mail/photo-store.js';
import { rasterizeSvg } from '../media/media.js';
import type { Services } from '../services.js';
import { sitePictureDeps, uploadSitePicture } from '../sites/upload.js';
import { faceSvg, type FaceStyle } from './faces.js';

// The demo organisation created on the first start of an empty database, so a newcomer can sign
// in and see every state the system knows.

export const DEMO_PASSWORD = 'photosync-demo';
export const DEMO_ADMIN = 'admin@contoso.com';

interface DemoPerson {
  upn: string;
  name: string;
  admin?: boolean;
  mailbox?: boolean;
  mailPhoto?: FaceStyle;
  directoryPhoto?: FaceStyle;
  sitePhoto?: FaceStyle;
  note: string;
}

const PEOPLE: DemoPerson[] = [
  {
    upn: DEMO_ADMIN,
    name: 'Alex Admin',
    admin: true,
    mailPhoto: { background: '#cfe3f7', skin: '#e8b894', hair: '#3b2a1e', shirt: '#0f6cbd', hairStyle: 0 },
    note: 'administrator with a mail photo, never synced',
  },
  {
    upn: 'jane@contoso.com',
    name: 'Jane Doe',
    mailPhoto: { background: '#fde7c8', skin: '#f1c7a5', hair: '#8b4a1c', shirt: '#c239b3', hairStyle: 1 },
    note: 'mail photo, never synced: her next visit to SharePoint or OneDrive (or photosync sync) syncs it',
  },
  {
    upn: 'kalle@contoso.com',
    name: 'Kalle Kask',
    mailPhoto: { background: '#d9f2e3', skin: '#d9a47e', hair: '#1f1f1f', shirt: '#107c10', hairStyle: 0 },
    note: 'mail photo, never synced',
  },
  {
    upn: 'megan@contoso.com',
    name: 'Megan Bowen',
    directoryPhoto: { background: '#f3d6d8', skin: '#c68863', hair: '#2e1b10', shirt: '#a4262c', hairStyle: 1 },
    note: 'directory photo only: the sites show the placeholder, as in Microsoft 365',
  },
  {
    upn: 'lee@contoso.com',
    name: 'Lee Gu',
    mailbox: false,
    sitePhoto: { background: '#e6e1f7', skin: '#eac39d', hair: '#101010', shirt: '#5c2e91', hairStyle: 2 },
    note: 'no mailbox: picture uploaded directly in the sites',
  },
  { upn: 'nestor@contoso.com', name: 'Nestor Wilke', note: 'mailbox without any photo' },
];

/**
 * Creates the demo organisation if the directory is empty; returns whether it did. The people are
 * created in one transaction, so two instances starting together on one database seed it once.
 */
export async function seedDemoOrganisation(services: Services): Promise<boolean> {
  const { db } = services.database;
  if ((await countUsers(db)) > 0) return false;
  let users: DirectoryUser[];
  try {
    users = await db.transaction().execute(async (trx) => {
      const created: DirectoryUser[] = [];
      for (const person of PEOPLE) {
        created.push(
          await createUser(trx, {
            upn: person.upn,
            displayName: person.name,
            password: DEMO_PASSWORD,
            hasMailbox: person.mailbox ?? true,
            isAdmin: person.admin ?? false,
          }),
        );
      }
      return created;
    });
  } catch (error) {
    if (isAppError(error) && error.id === 'user_exists') return false; // another instance won
    throw error;
  }
  const photo = (style: FaceStyle) => rasterizeSvg(faceSvg(style), 720);
  for (const [index, person] of PEOPLE.entries()) {
    const user = users[index]!;
    if (person.mailPhoto) await setMailPhoto(services.mailStore, user, await photo(person.mailPhoto));
    if (person.directoryPhoto) {
      await setDirectoryPhoto(db, user.id, await rasterizeSvg(faceSvg(person.directoryPhoto), 96));
    }
    if (person.sitePhoto) {
      await uploadSitePicture(sitePictureDeps(services), user, await photo(person.sitePhoto));
    }
  }
  return true;
}

/** Whether the demo's administrator is there and still signs in with the demo password. */
export async function demoSignInWorks(services: Services): Promise<boolean> {
  return (await authenticate(services.database.db, DEMO_ADMIN, DEMO_PASSWORD)) !== undefined;
}

/** Whether the directory has anyone at all. */
export async function anyUser(services: Services): Promise<boolean> {
  return (await countUsers(services.database.db)) > 0;
}

export const DEMO_PEOPLE = PEOPLE.map(({ upn, name, note }) => ({ upn, name, note }));
