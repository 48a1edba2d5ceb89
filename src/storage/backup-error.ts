/** A backup or restore that cannot be done as asked: the sentence says why and what to do. */
export class BackupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BackupError';
  }
}

export interface RestoreOptions {
  /** Replace what the data folder (or the PostgreSQL schema) holds. */
  force: boolean;
  /** Test-only crash points (PHOTOSYNC_FAULT_INJECTION), as the sync engine has. */
  faultPoint?: (name: string) => void;
}
