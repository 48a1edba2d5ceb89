import type { Services } from './services.js';
import { buildApp, type App } from './app.js';
import { startBackgroundWork } from './background.js';
import { latestScan } from './m365/scans.js';
import { scanTenant } from './m365/scan.js';
import { scheduleScans, type ScanSchedule } from './m365/schedule.js';

/** Starts listening (and connect mode's scheduled scans, when turned on); stops cleanly on SIGINT/SIGTERM. */
export async function startServer(services: Services): Promise<App> {
  const app = await buildApp(services);
  await app.listen({ host: services.config.host, port: services.config.port });
  const schedule = startScheduledScans(services);
  const stopBackgroundWork = startBackgroundWork(services);
  const stop = async (signal: string) => {
    services.log.info({ signal }, 'shutting down');
    await schedule?.stop();
    await stopBackgroundWork();
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.once('SIGINT', (signal) => void stop(signal));
  process.once('SIGTERM', (signal) => void stop(signal));
  return app;
}

function startScheduledScans(services: Services): ScanSchedule | undefined {
  const connection = services.m365;
  if (!connection) return undefined;
  // The console's setting decides, read at each look (PHOTOSYNC_M365_SCAN_EVERY is its starting value).
  const everyMs = () => {
    const settings = services.settings.current();
    return settings.tenantScan ? settings.tenantScanMinutes * 60_000 : undefined;
  };
  services.log.info({ everyMinutes: (everyMs() ?? 0) / 60_000 }, 'scheduled tenant scans: 0 = off until turned on');
  return scheduleScans({
    everyMs,
    lastScanEnded: async () => {
      const last = await latestScan(services.database.db);
      return last?.status === 'running' ? undefined : (last?.finishedAt ?? undefined);
    },
    scan: (signal) => scanTenant(connection, services.database.db, { signal }),
    log: services.log,
  });
}
