import type { Logger } from 'pino';
import { isAppError } from '../errors.js';
import { ScanStoppedError, type ScanReport } from './scan.js';

// Scheduled scans, for an administrator who turned them on in the console's settings (off by
// default, since a scan reads every user of the tenant; PHOTOSYNC_M365_SCAN_EVERY is only the
// starting value). The schedule looks once a minute: a scan is due when the setting is on and the
// tenant's last scan, by any process, ended at least the interval ago. So a change in the console
// takes effect within a minute, and several processes do not each scan on their own clock. One
// scan at a time per process; between processes the scan's lease decides.

export interface ScanSchedule {
  /** Stops the schedule; a scan in progress stops at its next commit (the next scan resumes it). */
  stop(): Promise<void>;
}

export interface ScheduleDeps {
  /** The interval as set now, read at each look; undefined = scheduled scans are off. */
  everyMs: () => number | undefined;
  /** When the tenant's last scan ended; undefined when there is none, or one is unfinished (it is resumed). */
  lastScanEnded: () => Promise<number | undefined>;
  /** Runs a scan; `signal` is aborted when the schedule stops (scanTenant's option of that name). */
  scan: (signal: AbortSignal) => Promise<ScanReport>;
  log: Logger;
  /** How often the schedule looks whether a scan is due. */
  pollMs?: number;
  now?: () => number;
  setTimer?: (run: () => void, ms: number) => { unref?: () => unknown };
  clearTimer?: (timer: unknown) => void;
}

export const SCHEDULE_POLL_MS = 60_000;

export function scheduleScans(deps: ScheduleDeps): ScanSchedule {
  const setTimer = deps.setTimer ?? ((run, ms) => setTimeout(run, ms));
  const clearTimer = deps.clearTimer ?? ((timer) => clearTimeout(timer as NodeJS.Timeout));
  const now = deps.now ?? Date.now;
  let stopped = false;
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimer> | undefined;

  const scanOnce = async () => {
    try {
      const report = await deps.scan(stopping.signal);
      deps.log.info(
        { scan: report.scan.id, summary: report.summary, graphRequests: report.graphRequests },
        'scheduled tenant scan finished',
      );
    } catch (error) {
      if (error instanceof ScanStoppedError) {
        deps.log.info('scheduled tenant scan stopped with the server; the next scan resumes it');
      } else if (isAppError(error) && error.id === 'm365_scan_busy') {
        deps.log.debug({ reason: error.message }, 'scheduled tenant scan skipped: another process is scanning');
      } else {
        deps.log.warn({ err: error }, 'scheduled tenant scan failed; the next one resumes it');
      }
    }
  };

  const look = async () => {
    const every = deps.everyMs();
    if (every === undefined) return;
    let ended: number | undefined;
    try {
      ended = await deps.lastScanEnded();
    } catch (error) {
      deps.log.warn({ err: error }, 'scheduled tenant scans could not read the last scan; looking again later');
      return;
    }
    if (ended === undefined || now() - ended >= every) await scanOnce();
  };

  const plan = () => {
    if (stopped) return;
    timer = setTimer(() => {
      timer = undefined;
      running = look().finally(() => {
        running = undefined;
        plan();
      });
    }, deps.pollMs ?? SCHEDULE_POLL_MS);
    // A waiting schedule never keeps the process alive by itself.
    timer.unref?.();
  };
  plan();

  return {
    async stop() {
      stopped = true;
      stopping.abort();
      if (timer !== undefined) clearTimer(timer);
      await running;
    },
  };
}
