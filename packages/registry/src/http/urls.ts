import type { FastifyRequest } from 'fastify';
import type { RegistryHttpOptions } from './context.js';

const first = (value: string | string[] | undefined) =>
  (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();

/**
 * Builds URLs for Location and Link headers as distribution does: relative when configured, else under
 * http.host, else from the request (honouring X-Forwarded-Proto/Host from a proxy such as haproxy).
 */
export function urlFor(request: FastifyRequest, options: RegistryHttpOptions, path: string): string {
  if (options.relativeUrls) return path;
  if (options.host) return `${options.host.replace(/\/+$/, '')}${path}`;
  const proto = first(request.headers['x-forwarded-proto']) ?? request.protocol;
  const host = first(request.headers['x-forwarded-host']) ?? request.headers.host ?? 'localhost';
  return `${proto}://${host}${path}`;
}
