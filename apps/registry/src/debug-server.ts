import type { RegistryConfig } from '@regop/registry';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Health } from './health.js';
import { NO_ROUTE_SCHEMAS } from './schemaless.js';

/**
 * distribution's debug server, when http.debug.addr asks for one: /debug/health (200, or 503 with the failing
 * checks) and, with http.debug.prometheus, the metrics at its path. Built here; the caller listens.
 */
export function configureDebugServer(
  config: RegistryConfig,
  sources: { health?: Health; metrics?: MetricsRegistry },
): FastifyInstance | undefined {
  if (!config.http?.debug?.addr) return undefined;
  const debug = Fastify({ logger: false, schemaController: NO_ROUTE_SCHEMAS });
  debug.get('/debug/health', async (_request, reply) => {
    const problems = sources.health?.status() ?? {};
    reply.code(Object.keys(problems).length ? 503 : 200).send(problems);
  });
  const { metrics } = sources;
  if (metrics) {
    debug.get(config.http.debug.prometheus?.path ?? '/metrics', async (_request, reply) =>
      reply.header('content-type', metrics.contentType).send(await metrics.metrics()),
    );
  }
  return debug;
}
