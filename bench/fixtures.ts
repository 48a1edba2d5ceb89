import fs from 'node:fs';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createToken } from '../src/directory/credentials.js';
import { createUser, type DirectoryUser } from '../src/directory/users.js';
import { setMailPhoto } from '../src/mail/photo-store.js';
import { createServices, type Services } from '../src/services.js';
import { createBenchSchema, tempDir } from './support.js';
import { cameraJpeg } from './render.js';

// A store for one benchmark part (SQLite file + photo files, or a private PostgreSQL schema),
// opened in the bench process, plus the settings a server process needs to share it.

export interface BenchStore {
  dialect: 'sqlite' | 'postgres';
  services: Services;
  /** Environment for `photosync serve` (or the CLI) on the same store. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function openBenchStore(dialect: 'sqlite' | 'postgres', label: string): Promise<BenchStore> {
  const dataDir = tempDir(label);
  const schema = dialect === 'postgres' ? await createBenchSchema(label) : undefined;
  const env: Record<string, string> = { PHOTOSYNC_DATA_DIR: dataDir, PHOTOSYNC_DEMO: 'false' };
  if (schema) env.DATABASE_URL = schema.url;
  const config = loadConfig({ ...env, PHOTOSYNC_LOG_LEVEL: 'warn' });
  const services = await createServices(config, {
    log: pino({ level: 'warn' }),
    ...(schema ? { schema: schema.schema } : {}),
  });
  return {
    dialect,
    services,
    env,
    async close() {
      await services.close();
      await schema?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let serial = 0;

export async function benchUser(store: BenchStore): Promise<{ user: DirectoryUser; token: string }> {
  serial++;
  const user = await createUser(store.services.database.db, {
    upn: `bench${serial}.${process.pid}@contoso.com`,
    displayName: `Bench User ${serial}`,
  });
  return { user, token: await createToken(store.services.database.db, user.id, 'bench') };
}

/** Distinct portrait uploads (random sensor noise makes every one a new picture). */
export async function distinctUploads(count: number): Promise<Buffer[]> {
  const uploads: Buffer[] = [];
  for (let i = 0; i < count; i++) uploads.push(await cameraJpeg(800, 800, 10, 1));
  return uploads;
}

export function giveMailPhoto(store: BenchStore, user: DirectoryUser, upload: Buffer) {
  return setMailPhoto(store.services.mailStore, user, upload);
}
