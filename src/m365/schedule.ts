import type { Logger } from 'pino';
import { isAppError } from '../errors.js';
import type { ScanReport } from './scan.js';

// Scheduled scans, for an administrator who turned them on (PHOTOSYNC_M365_SCAN_EVERY; off by
// default, since a scan reads every user of the tenant). One scan at a time per process; the next
// one is timed from the end of the last, so a slow scan never piles up behind itself. Between
// processes the scan's lease decides: a process that finds another one scanning leaves it be.

export interface ScanSchedule {
  /** Stops the schedule and waits for a scan in progress to finish. */
  stop(): Promise<void>;
}

export interface ScheduleDeps {
  everyMs: number;
  scan: () => Promise<ScanReport>;
  log: Logger;
  setTimer?: (run: () => void, ms: number) => { unref?: () => unknown };
  clearTimer?: (timer: unknown) => void;
}

export function scheduleScans(deps: ScheduleDeps): ScanSchedule {
  const setTimer = deps.setTimer ?? ((run, ms) => setTimeout(run, ms));
  const clearTimer = deps.clearTimer ?? ((timer) => clearTimeout(timer as NodeJS.Timeout));
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimer> | undefined;

  const runOnce = async () => {
    try {
      const report = await deps.scan();
      deps.log.info(
        { scan: report.scan.id, summary: report.summary, graphRequests: report.graphRequests },
        'scheduled tenant scan finished',
      );
    } catch (error) {
      if (isAppError(error) && error.id === 'm365_scan_busy') {
        deps.log.info({ reason: error.message }, 'scheduled tenant scan skipped: another process is scanning');
      } else {
        deps.log.warn({ err: error }, 'scheduled tenant scan failed; the next one resumes it');
      }
    }
  };

  const plan = () => {
    if (stopped) return;
    timer = setTimer(() => {
      timer = undefined;
      running = runOnce().finally(() => {
        running = undefined;
        plan();
      });
    }, deps.everyMs);
    // A waiting schedule never keeps the process alive by itself.
    timer.unref?.();
  };
  plan();

  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimer(timer);
      await running;
    },
  };
}
