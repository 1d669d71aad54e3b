// The access module alone: the package's index would load bcrypt, jose and node-forge into every registry.
import { AuthFailure } from '@regop/auth/access';
import { BackendUnavailableError } from '@regop/storage';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, RegistryError } from '../errors.js';
import { parseName } from '../reference.js';
import type { RegistryHttpOptions, RouteContext } from './context.js';
import { type Method, matchRoute, requiredAccess } from './router.js';
import { urlFor } from './urls.js';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The registry route that served the request (for logs and metrics). */
    registryRoute?: string;
    /** Who the access controller authenticated. */
    registryUser?: string;
  }
}

function sendError(reply: FastifyReply, err: RegistryError): void {
  reply.code(err.status).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(err));
}

/**
 * The OCI distribution / Docker v2 API as an encapsulated fastify plugin. Bodies are not parsed by fastify:
 * blob routes stream `request.raw` straight to storage, and manifest routes read it with a size limit.
 */
export async function registryApi(fastify: FastifyInstance, options: RegistryHttpOptions): Promise<void> {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const extraHeaders = Object.entries(options.headers ?? {});
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.header('docker-distribution-api-version', 'registry/2.0');
    for (const [header, values] of extraHeaders) reply.header(header, values);
    done();
  });

  fastify.setErrorHandler((error: FastifyError | RegistryError, request, reply) => {
    if (error instanceof RegistryError) {
      if (error.status >= 500) request.log.error({ err: error }, 'registry error');
      return sendError(reply, error);
    }
    const status = (error as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return sendError(reply, new RegistryError('UNSUPPORTED', error.message, undefined, status));
    }
    // The request's own line says what failed: for a storage error, the operation, path and errno.
    const { code, syscall, path } = error as NodeJS.ErrnoException;
    request.log.error({ err: error, ...(code && { failed: { code, syscall, path } }) }, 'unexpected error');
    // Every driver sits behind the base wrapper, so a backend's failure always arrives typed.
    if (error instanceof BackendUnavailableError) {
      return sendError(
        reply,
        new RegistryError('UNAVAILABLE', `storage backend unavailable: ${error.message}`),
      );
    }
    sendError(reply, new RegistryError('UNKNOWN', ERROR_CODES.UNKNOWN.message));
  });

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?', 1)[0] as string;
    const match = matchRoute(path);
    if (!match)
      throw new RegistryError(
        'UNSUPPORTED',
        `no such endpoint: ${request.method} ${path.slice(0, 200)}`,
        undefined,
        404,
      );
    request.registryRoute = match.route.id;
    const method = request.method as Method;
    const handler =
      match.route.handlers[method] ?? (method === 'HEAD' ? match.route.handlers.GET : undefined);
    if (!handler) {
      reply.header('allow', Object.keys(match.route.handlers).join(', '));
      throw new RegistryError('UNSUPPORTED', `${method} is not allowed on ${match.route.id}`);
    }
    const { name: rawName, ...params } = match.params;
    const name = rawName === undefined ? '' : parseName(rawName);
    if (options.accessController) {
      const query = request.query as Record<string, unknown>;
      const access = requiredAccess(match.route, method, name, query);
      try {
        request.registryUser = (
          await options.accessController.authorize(
            { headers: request.headers, address: request.ip, protocol: request.protocol },
            access,
          )
        ).user;
      } catch (err) {
        if (!(err instanceof AuthFailure)) throw err;
        if (err.challenge) reply.header('www-authenticate', err.challenge);
        if (err.retryAfterSeconds) reply.header('retry-after', err.retryAfterSeconds);
        // distribution's detail: the access that was refused.
        const detail = access.flatMap((a) =>
          a.actions.map((action) => ({ Type: a.type, Class: '', Name: a.name, Action: action })),
        );
        throw new RegistryError(err.code, err.message, detail.length ? detail : undefined, err.status);
      }
    }
    if (options.proxy && WRITES.has(method)) {
      reply.header('allow', 'GET, HEAD');
      throw new RegistryError(
        'UNSUPPORTED',
        `this registry is a pull-through cache of ${options.proxy.upstream.url}: push to it there`,
      );
    }
    if (options.readOnly && WRITES.has(method)) {
      reply.header('allow', 'GET, HEAD');
      throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode');
    }
    if (method === 'DELETE' && !options.deleteEnabled && match.route.id !== 'upload') {
      throw new RegistryError('UNSUPPORTED', 'deletion is disabled (storage.delete.enabled is false)');
    }
    const ctx: RouteContext = {
      registry: options.registry,
      options,
      request,
      reply,
      name,
      params,
      query: request.query as Record<string, string | undefined>,
      url: (p) => urlFor(request, options, p),
      notify: (action, describe) =>
        options.events?.({
          action,
          target: { ...describe(), repository: name },
          request: {
            id: request.id,
            addr: `${request.ip}:${request.socket.remotePort ?? 0}`,
            host: request.headers.host ?? '',
            method: request.method,
            useragent: request.headers['user-agent'] ?? '',
          },
          actor: request.registryUser ? { name: request.registryUser } : {},
        }),
    };
    await handler(ctx);
    return reply;
  };

  fastify.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2', handler: handle });
  fastify.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2/*', handler: handle });
}
