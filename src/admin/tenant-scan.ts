import type { DirectoryUser } from '../directory/users.js';
import { isAppError } from '../errors.js';
import { ScanStoppedError, scanTenant } from '../m365/scan.js';
import type { Scan } from '../m365/scans.js';
import type { Services } from '../services.js';
import { recordAudit } from './audit.js';
import { connectedTenant } from './tenant-actions.js';

// "Scan now" in the console: a scan of the tenant that this server process starts in the
// background, under the scan's lease as scheduled scans and `photosync m365 scan` take it, so two
// scans never run at once, in this process or any other. The request waits only until the lease
// is this process's (or another holds it); the page then shows the scan's progress and its result.

export type ScanStart =
  | { kind: 'started'; scan: Scan; resumed: boolean; auditId: number }
  /** Another scan holds the lease (this process's, another instance's, or the command line's). */
  | { kind: 'busy' };

export interface TenantScanner {
  /** Starts a scan, or takes an interrupted one up again; records who asked. */
  start(actor: DirectoryUser): Promise<ScanStart>;
  /**
   * Stops the scans this process started at their next commit and waits for them (the server's
   * shutdown, as for scheduled ones): unfinished, with their leases free, so the next scan resumes them.
   */
  settle(): Promise<void>;
}

export function createTenantScanner(services: Services): TenantScanner {
  const running = new Set<Promise<void>>();
  const stopping = new AbortController();
  const { log } = services;

  return {
    async start(actor) {
      const connection = connectedTenant(services);
      const { db } = services.database;
      let claimed: (value: { scan: Scan; resumed: boolean }) => void = () => {};
      const holding = new Promise<{ scan: Scan; resumed: boolean }>((resolve) => (claimed = resolve));
      const scan = scanTenant(connection, db, { onClaimed: claimed, signal: stopping.signal });
      const ended = scan.then(
        (report) =>
          log.info(
            { scan: report.scan.id, summary: report.summary, graphRequests: report.graphRequests },
            'tenant scan started from the console finished',
          ),
        (error: unknown) => {
          if (isAppError(error) && error.id === 'm365_scan_busy') return;
          if (error instanceof ScanStoppedError) {
            log.info('tenant scan started from the console stopped with the server; the next scan resumes it');
            return;
          }
          log.warn({ err: error }, 'tenant scan started from the console failed; the next scan resumes it');
        },
      );
      running.add(ended);
      void ended.finally(() => running.delete(ended));
      try {
        // Settles at the claim, or with the scan's own end when it never claimed (busy, a database error).
        const first = await Promise.race([holding, scan.then(() => undefined)]);
        if (!first) throw new Error('The scan ended before it held its lease.');
        const auditId = await recordAudit(db, actor, 'tenant_scan_started', {
          scan: first.scan.id,
          resumed: first.resumed,
        });
        return { kind: 'started', ...first, auditId };
      } catch (error) {
        if (isAppError(error) && error.id === 'm365_scan_busy') return { kind: 'busy' };
        throw error;
      }
    },
    async settle() {
      stopping.abort();
      await Promise.all([...running]);
    },
  };
}
