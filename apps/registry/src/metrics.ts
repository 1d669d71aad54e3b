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
