import fs from 'node:fs';
import path from 'node:path';
import { processIsRunning } from '../storage/running-process.js';

// A running server writes the address it serves at into its data folder, so a command run
// beside it without PORT or PHOTOSYNC_PUBLIC_URL prints that server's URLs, not port 8080's.

const FILE = 'serving.json';

interface Record {
  url: string;
  pid: number;
}

/** Written atomically once the server listens; removed when this process exits. */
export function recordServingAddress(dataDir: string, url: string): void {
  const file = path.join(dataDir, FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  const record: Record = { url, pid: process.pid };
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(temporary, `${JSON.stringify(record)}\n`, { mode: 0o644 });
  fs.renameSync(temporary, file);
  process.once('exit', () => {
    if (readRecord(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  });
}

/** The URL of the server running on this data folder, if one is (its process still alive). */
export function servingAddress(dataDir: string): string | undefined {
  const record = readRecord(path.join(dataDir, FILE));
  if (record === undefined || !processIsRunning(record.pid)) return undefined;
  return record.url;
}

function readRecord(file: string): Record | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Record>;
    if (typeof parsed.url !== 'string' || !/^https?:\/\//.test(parsed.url)) return undefined;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) return undefined;
    return { url: parsed.url, pid: parsed.pid };
  } catch {
    return undefined;
  }
}
