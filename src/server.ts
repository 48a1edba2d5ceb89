import type { Services } from './services.js';
import { buildApp, type App } from './app.js';
import { startBackgroundWork } from './background.js';

/** Starts listening and stops cleanly on SIGINT/SIGTERM. */
export async function startServer(services: Services): Promise<App> {
  const app = await buildApp(services);
  await app.listen({ host: services.config.host, port: services.config.port });
  const stopBackgroundWork = startBackgroundWork(services);
  const stop = async (signal: string) => {
    services.log.info({ signal }, 'shutting down');
    await stopBackgroundWork();
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.once('SIGINT', (signal) => void stop(signal));
  process.once('SIGTERM', (signal) => void stop(signal));
  return app;
}
