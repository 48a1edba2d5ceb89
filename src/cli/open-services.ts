import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createServices, type Services } from '../services.js';
import { DatabaseFileError, NewerDatabaseError, NoSchemaError } from '../storage/database.js';
import { describeStorageFault, storageFaultAdvice } from '../storage/faults.js';
import { CliError } from './output.js';

/**
 * Opens the database and the photo store; a database that cannot be reached is the user's to fix.
 * Only `serve` makes its PHOTOSYNC_RENDITION_SIZES the sizes in use (`setsSizes`); the other
 * commands use those.
 */
export async function openServices(config: Config, log?: Logger, setsSizes = false): Promise<Services> {
  try {
    // The server (the one that sets the sizes) also reports on its process in /metrics.
    return await createServices(config, { ...(log ? { log } : {}), setsSizes, processMetrics: setsSizes });
  } catch (error) {
    // Its own sentence names the file and the cause already.
    if (error instanceof DatabaseFileError) throw new CliError(error.message);
    if (error instanceof NewerDatabaseError || error instanceof NoSchemaError) {
      throw new CliError(`Cannot open the database at ${databaseLocation(config)}. ${error.message}`);
    }
    const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error) : (error as Error);
    const fault = describeStorageFault(error);
    if (fault) {
      throw new CliError(
        `Cannot open the database at ${databaseLocation(config)}: ${fault}. ${storageFaultAdvice(error) ?? ''}`.trim(),
      );
    }
    throw new CliError(`Cannot open the database at ${databaseLocation(config)}: ${cause.message}`);
  }
}

/** Where the data lives, without the password a DATABASE_URL may hold. */
function databaseLocation(config: Config): string {
  if (!config.databaseUrl) return path.join(config.dataDir, 'photosync.sqlite');
  try {
    const url = new URL(config.databaseUrl);
    return `postgres://${url.host}${url.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}
