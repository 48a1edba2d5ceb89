import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { imageQueue, type MediaEvent } from './media/media.js';

/** One registry per app instance, so tests and several apps in one process never share counts. */
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'photosync_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'photosync_http_requests_total',
      help: 'Requests answered, by method, route (its pattern, e.g. /admin/users/:upn; "unmatched" for an address no route has) and status. Pictures answered from memory are counted in photosync_picture_answers_from_memory_total instead.',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'photosync_http_request_duration_seconds',
      help: 'From the request to its answer sent, by method and route (as photosync_http_requests_total).',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    photoBytesRead: new Counter({
      name: 'photosync_photo_bytes_read_total',
      help: 'Photo bytes read from the photo store (masters and renditions).',
      registers: [registry],
    }),
    picturesFromMemory: new Counter({
      name: 'photosync_picture_answers_from_memory_total',
      help: 'Picture requests given a kept answer before routing (the same credential, address and If-None-Match as an earlier request, nothing committed since).',
      registers: [registry],
    }),
    graphThrottled: new Counter({
      name: 'photosync_graph_throttled_total',
      help: 'Graph requests answered 429 because their app was over PHOTOSYNC_GRAPH_APP_LIMIT.',
      registers: [registry],
    }),
    renders: new Counter({
      name: 'photosync_renditions_rendered_total',
      help:
        'Sets of S/M/L site renditions a sync switched to, by when they were rendered: when the mail photo was set ' +
        '(when_set) or at the sync (at_sync: a photo set at other sizes, or by a path that keeps none).',
      labelNames: ['source', 'made'] as const,
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
    // The image queue is one per process, so these describe the process, whichever app asks.
    imageQueueWaiting: new Gauge({
      name: 'photosync_image_queue_waiting',
      help: 'Image decodes and encodes waiting for their turn.',
      registers: [registry],
      collect() {
        this.set(imageQueue().load().waiting);
      },
    }),
    imageQueueRunning: new Gauge({
      name: 'photosync_image_queue_running',
      help: 'Image decodes and encodes running now.',
      registers: [registry],
      collect() {
        this.set(imageQueue().load().running);
      },
    }),
    imageQueueWaitSeconds: new Histogram({
      name: 'photosync_image_queue_wait_seconds',
      help: 'Time image work waited in line before it started, by weight (light: renders and small uploads).',
      labelNames: ['weight'] as const,
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    imageWorkSeconds: new Histogram({
      name: 'photosync_image_work_seconds',
      help: 'Time image work ran (decode, resize and encode), by weight.',
      labelNames: ['weight'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers: [registry],
    }),
    imageDecodes: new Counter({
      name: 'photosync_image_decodes_total',
      help: 'Compressed images decoded: uploads and downloaded photos (upload), or pictures from our own store (stored).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    imageRefusals: new Counter({
      name: 'photosync_image_refusals_total',
      help: 'Uploads refused by the image pipeline, by reason (busy = the waiting line was full; too_slow = past the deadline).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}

/** Counts what the media module reports (see watchMedia). */
export function recordMediaEvent(metrics: Metrics, event: MediaEvent): void {
  switch (event.type) {
    case 'started':
      metrics.imageQueueWaitSeconds.observe({ weight: event.light ? 'light' : 'heavy' }, event.waitedSeconds);
      return;
    case 'finished':
      metrics.imageWorkSeconds.observe({ weight: event.light ? 'light' : 'heavy' }, event.seconds);
      return;
    case 'decoded':
      metrics.imageDecodes.inc({ source: event.source });
      return;
    case 'refused':
      metrics.imageRefusals.inc({ reason: event.reason });
      return;
  }
}

export type Metrics = ReturnType<typeof createMetrics>;
