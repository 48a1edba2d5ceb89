import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance, so tests and several apps in one process never share counts. */
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'photosync_' });
  return {
    registry,
    photoBytesRead: new Counter({
      name: 'photosync_photo_bytes_read_total',
      help: 'Photo bytes read from the photo store (masters and renditions).',
      registers: [registry],
    }),
    renders: new Counter({
      name: 'photosync_renditions_rendered_total',
      help: 'Sets of S/M/L site renditions rendered.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    syncs: new Counter({
      name: 'photosync_sync_attempts_total',
      help: 'Sync attempts by trigger and outcome.',
      labelNames: ['trigger', 'outcome'] as const,
      registers: [registry],
    }),
    syncSeconds: new Histogram({
      name: 'photosync_sync_duration_seconds',
      help: 'Time from a user action to the sites being in step.',
      labelNames: ['outcome'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
