import { hostname } from 'node:os';
import { createDriver } from '@regop/drivers';
import {
  ConfigError,
  ignoredSections,
  type ManifestValidation,
  PullThroughCache,
  Registry,
  type RegistryConfig,
  RegistryError,
  registryApi,
  startScheduledCollection,
  startUploadPurging,
  Upstream,
  unusedKeys,
} from '@regop/registry';
import type { StorageDriver } from '@regop/storage';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { accessControllerFor } from './auth.js';
import { VERSION } from './cli.js';
import { configureDebugServer } from './debug-server.js';
import { Health, healthChecks, PeriodicCheck } from './health.js';
import { parseListenAddress } from './listen.js';
import { configureLogging } from './logging.js';
import { gcSchedule, purgeOptions } from './schedule.js';
import { NO_ROUTE_SCHEMAS } from './schemaless.js';
import { httpsOptions } from './tls-options.js';

/**
 * Request headers up to distribution's limit (Go's http.DefaultMaxHeaderBytes, 1 MiB), not Node's 16 KiB: bearer
 * tokens with many access entries run to tens of kilobytes. Past it: 431.
 */
const MAX_HEADER_BYTES = 1 << 20;
export interface ServeOptions {
  /** Overrides the driver the config names (tests). */
  driver?: StorageDriver;
  /** Where logs go (default stdout). */
  logStream?: NodeJS.WritableStream;
}

export interface RunningRegistry {
  app: FastifyInstance;
  debug?: FastifyInstance;
  /** Base URL of the API, e.g. http://127.0.0.1:5000. */
  url: string;
  close(): Promise<void>;
}

/** validation.manifests as the content model takes it: what pushed manifests may leave out (sparse content). */
function manifestValidation(config: RegistryConfig): ManifestValidation | undefined {
  const manifests = config.validation?.manifests;
  if (!manifests?.indexes && !manifests?.layers) return undefined;
  const platforms = manifests.indexes?.platforms ?? 'all';
  return {
    indexChildren: platforms === 'list' ? (manifests.indexes?.platformlist ?? []) : platforms,
    layers: manifests.layers ?? 'all',
  };
}

/** Refuses configuration this registry cannot honour yet, rather than serving without it. */
function checkSupported(config: RegistryConfig): void {
  if (config.http?.prefix && config.http.prefix !== '/')
    throw new ConfigError('http.prefix: only "/" is supported');
  if (config.http?.net === 'unix') throw new ConfigError('http.net: only tcp is supported');
  const tls = config.http?.tls;
  if (tls?.letsencrypt)
    throw new ConfigError(
      'http.tls.letsencrypt: certificates are not fetched from ACME here; give http.tls.certificate and key (the charm takes them from a TLS provider)',
    );
  if (tls && (!tls.certificate || !tls.key))
    throw new ConfigError('http.tls: both certificate and key are required');
}

/** Listens, naming the config key when the address cannot be had (in use, not ours, not permitted). */
async function listenOn(app: FastifyInstance, addr: string, key: string): Promise<void> {
  const { host, port } = parseListenAddress(addr, key);
  try {
    await app.listen({ host, port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why: Record<string, string> = {
      EADDRINUSE: 'is already in use',
      EADDRNOTAVAIL: 'is not an address of this machine',
      EACCES: 'is not permitted to this user',
    };
    if (e.code && why[e.code]) throw new ConfigError(`${key}: ${addr} ${why[e.code]} (${e.code})`);
    throw err;
  }
}

/** Starts the registry (and its debug server) as `registry serve` does. */
export async function serve(config: RegistryConfig, options: ServeOptions = {}): Promise<RunningRegistry> {
  checkSupported(config);
  const storage = config.storage;
  const readOnly = storage.maintenance?.readonly?.enabled === true;
  const driver = options.driver ?? (await createDriver(storage, { readOnly }));
  // A pull-through cache stores manifests before what they name, which it fetches when asked for.
  const validation: ManifestValidation | undefined = config.proxy
    ? { layers: 'none', indexChildren: 'none', config: false }
    : manifestValidation(config);
  const registry = new Registry(driver, validation ? { validation } : {});
  const proxy = config.proxy
    ? new PullThroughCache(
        registry,
        new Upstream({
          remoteurl: config.proxy.remoteurl,
          ...(config.proxy.username && { username: config.proxy.username }),
          ...(config.proxy.password && { password: config.proxy.password }),
        }),
      )
    : undefined;
  const accessLog = config.log?.accesslog?.disabled !== true;
  const https = httpsOptions(config);
  const logging = configureLogging(config, options.logStream);
  const app = Fastify({
    logger: logging.logger,
    // The access log below replaces fastify's own request lines.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    schemaController: NO_ROUTE_SCHEMAS,
    // Repository names and upload URLs are long; the wildcard parameter must hold them.
    routerOptions: { maxParamLength: 8192 },
    ...(https
      ? { https: { ...https, maxHeaderSize: MAX_HEADER_BYTES } }
      : { http: { maxHeaderSize: MAX_HEADER_BYTES } }),
  } as FastifyServerOptions);

  for (const section of ignoredSections(config))
    app.log.warn({ section }, `configuration section ${section} is accepted but not used`);
  for (const message of unusedKeys(config)) app.log.warn({ key: message.split(':')[0] }, message);
  const accessController = await accessControllerFor(config.auth, (message) => app.log.warn(message));

  // distribution's health checks: any failing one makes /v2 answer 503 (load balancers take the unit out).
  const checks = healthChecks(config.health, driver);
  // The user directory's reachability is reported, not gated on: users it signed in keep working while it is down.
  const probe = accessController?.probe?.bind(accessController);
  if (probe)
    checks.push(new PeriodicCheck('ldap', probe, { intervalMs: 10_000, threshold: 1, gates: false }));
  const health = checks.length ? new Health(checks) : undefined;
  if (health) {
    health.start();
    app.addHook('onRequest', async (request, reply) => {
      if (!health.healthy && request.url.startsWith('/v2')) {
        const problems = health.status();
        const err = new RegistryError(
          'UNAVAILABLE',
          `unhealthy: ${Object.keys(problems).join(', ')}`,
          problems,
        );
        reply.code(503).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(err));
        return reply;
      }
    });
  }

  if (accessLog) {
    app.addHook('onResponse', async (request, reply) => {
      request.log.info(
        {
          http: {
            method: request.method,
            uri: request.url,
            status: reply.statusCode,
            route: request.registryRoute,
            remoteaddr: request.ip,
            useragent: request.headers['user-agent'],
            user: request.registryUser,
            duration_ms: Math.round(reply.elapsedTime * 100) / 100,
          },
        },
        'response completed',
      );
    });
  }

  // prom-client is loaded only when metrics are asked for.
  const metrics =
    config.http?.debug?.addr && config.http.debug.prometheus?.enabled
      ? (await import('./metrics.js')).instrument(app, registry.driver)
      : undefined;

  // While draining, answers close their connection so the process can exit as soon as they are sent.
  let closing = false;
  // A callback hook, not an async one: it runs on every answer, and a promise each is measurable.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  const ui = config.ui?.enabled
    ? { path: config.ui.path ?? '/ui', title: config.ui.title ?? 'Container registry' }
    : undefined;
  // Load balancers probe the root; with the UI on, a browser asking for a page is sent to it.
  app.get('/', async (request, reply) => {
    if (ui && /\btext\/html\b/.test(request.headers.accept ?? '')) return reply.redirect(ui.path, 302);
    return reply.header('content-type', 'text/plain').send('');
  });
  // Events go to notifications.endpoints, each queued in memory and retried, never slowing a request.
  const endpoints = config.notifications?.endpoints ?? [];
  const notifier = endpoints.some((e) => !e.disabled)
    ? new (await import('./notifications.js')).Notifier(
        endpoints,
        `${hostname()}:${parseListenAddress(config.http?.addr ?? ':5000', 'http.addr').port}`,
        app.log,
      )
    : undefined;
  await app.register(registryApi, {
    registry,
    ...(notifier && { events: notifier.publish }),
    ...(proxy && { proxy }),
    readOnly,
    deleteEnabled: storage.delete?.enabled === true,
    redirect: storage.redirect?.disable !== true,
    relativeUrls: config.http?.relativeurls === true,
    ...(config.referrers?.pagesize && { referrersPageBytes: config.referrers.pagesize }),
    ...(config.http?.host && { host: config.http.host }),
    ...(config.http?.headers && { headers: config.http.headers }),
    ...(accessController && { accessController }),
  });

  if (ui) {
    // Loaded only when the config turns the UI on.
    const { registryUi } = await import('@regop/ui');
    const token = config.auth?.token;
    await app.register(registryUi, {
      registry,
      ...ui,
      status: {
        version: VERSION,
        readOnly,
        storage: driver.name,
        ...(config.proxy && { proxyOf: config.proxy.remoteurl }),
      },
      ...(accessController && { accessController }),
      ...(token && { signIn: { realm: token.realm, service: token.service } }),
      ...(config.http?.host && { host: config.http.host }),
      trustForwarded: config.http?.relativeurls === true,
    });
  }

  const addr = config.http?.addr ?? ':5000';
  const { host, port } = parseListenAddress(addr, 'http.addr');
  await listenOn(app, addr, 'http.addr');
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;

  const debug = configureDebugServer(config, { ...(health && { health }), ...(metrics && { metrics }) });
  if (debug) await listenOn(debug, config.http?.debug?.addr as string, 'http.debug.addr');

  const purge = purgeOptions(config);
  const stopPurging = purge
    ? startUploadPurging(registry.uploads, {
        ...purge,
        firstRunDelayMs: Math.floor(Math.random() * 60) * 60_000,
        onPurged: (purged, dryRun) =>
          app.log.info({ uploads: purged.length, dryRun }, 'purged stale uploads'),
        onError: (err) => app.log.error({ err }, 'upload purging failed'),
      })
    : undefined;

  const schedule = gcSchedule(config);
  const gcMetrics = metrics && (await import('./metrics.js')).collectionMetrics(metrics);
  const stopCollecting = schedule
    ? startScheduledCollection(registry.driver, {
        intervalMs: schedule.intervalMs,
        // Units started together would all try at once: spread them over the first tenth of the interval.
        firstRunDelayMs: Math.floor(Math.random() * schedule.intervalMs * 0.1),
        collect: { ...schedule.collect, lease: { owner: `${hostname()}:${process.pid} (${url})` } },
        onRun: (result, seconds) => {
          gcMetrics?.ran(result, seconds);
          app.log.info(
            {
              gc: {
                dryRun: result.dryRun,
                seconds: Math.round(seconds * 1000) / 1000,
                blobsDeleted: result.blobsDeleted.length,
                bytesFreed: result.bytesFreed,
                manifestsDeleted: result.manifestsDeleted.length,
                tagsRemoved: result.retention.reduce((n, r) => n + r.tagsRemoved.length, 0),
                ...(result.lease && { lease: result.lease }),
              },
            },
            'garbage collection finished',
          );
        },
        onSkipped: (holder) => {
          gcMetrics?.skipped();
          app.log.info(
            { gc: { heldBy: holder.owner } },
            'garbage collection skipped: another registry holds the lease',
          );
        },
        onError: (err, seconds) => {
          gcMetrics?.failed(seconds);
          app.log.error({ err }, 'garbage collection failed');
        },
      })
    : undefined;

  app.log.info({ url, storage: driver.name, readOnly }, 'registry listening');
  return {
    app,
    ...(debug && { debug }),
    url,
    async close() {
      closing = true;
      stopPurging?.();
      notifier?.stop();
      await stopCollecting?.();
      health?.stop();
      await Promise.all([app.close(), debug?.close()]);
      logging.flush();
    },
  };
}
