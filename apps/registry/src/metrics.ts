import type { CollectResult } from '@regop/registry';
import type { BaseDriver } from '@regop/storage';
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics under distribution's names: registry_http_* labelled by route as its `handler`, and
 * registry_storage_action_seconds per driver operation.
 */
export function instrument(app: FastifyInstance, driver: BaseDriver): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'registry_' });
  const requests = new Counter({
    name: 'registry_http_requests_total',
    help: 'HTTP requests by handler, method and status code.',
    labelNames: ['handler', 'method', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'HTTP request latency by handler and method.',
    labelNames: ['handler', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'registry_http_in_flight_requests',
    help: 'HTTP requests being served.',
    registers: [registry],
  });
  const storage = new Histogram({
    name: 'registry_storage_action_seconds',
    help: 'Storage driver operation latency by driver and action.',
    labelNames: ['driver', 'action'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  driver.observer = (name, action, seconds) => storage.observe({ driver: name, action }, seconds);
  app.addHook('onRequest', async () => inFlight.inc());
  app.addHook('onResponse', async (request, reply) => {
    inFlight.dec();
    const handler = request.registryRoute ?? 'other';
    requests.inc({ handler, method: request.method, code: reply.statusCode });
    duration.observe({ handler, method: request.method }, reply.elapsedTime / 1000);
  });
  return registry;
}

/** What scheduled garbage collection reports to metrics. */
export interface CollectionMetrics {
  ran(result: CollectResult, seconds: number): void;
  failed(seconds: number): void;
  skipped(): void;
}

/** Scheduled collection's metrics: runs by outcome, the last run's time and duration, what it freed. */
export function collectionMetrics(registry: Registry): CollectionMetrics {
  const runs = new Counter({
    name: 'registry_gc_runs_total',
    help: 'Scheduled garbage collections by outcome (ok, failed, or skipped while another registry held the lease).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const last = new Gauge({
    name: 'registry_gc_last_run_timestamp_seconds',
    help: 'When the last scheduled collection on this registry ended.',
    registers: [registry],
  });
  const duration = new Gauge({
    name: 'registry_gc_last_run_duration_seconds',
    help: 'How long the last scheduled collection on this registry took.',
    registers: [registry],
  });
  const blobs = new Counter({
    name: 'registry_gc_blobs_deleted_total',
    help: 'Blobs deleted by scheduled collections.',
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'registry_gc_bytes_freed_total',
    help: 'Bytes freed by scheduled collections.',
    registers: [registry],
  });
  const ended = (seconds: number) => {
    last.set(Date.now() / 1000);
    duration.set(seconds);
  };
  return {
    ran(result, seconds) {
      runs.inc({ outcome: 'ok' });
      ended(seconds);
      if (!result.dryRun) {
        blobs.inc(result.blobsDeleted.length);
        bytes.inc(result.bytesFreed);
      }
    },
    failed(seconds) {
      runs.inc({ outcome: 'failed' });
      ended(seconds);
    },
    skipped() {
      runs.inc({ outcome: 'skipped' });
    },
  };
}
