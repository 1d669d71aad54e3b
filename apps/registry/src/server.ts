import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { SecureVersion } from 'node:tls';
import { createDriver } from '@regop/drivers';
import {
  type CollectOptions,
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
import { pino } from 'pino';
import { accessControllerFor } from './auth.js';
import { Health, healthChecks } from './health.js';
import { parseListenAddress } from './listen.js';
import { textFormatter } from './log-text.js';
import { NO_ROUTE_SCHEMAS } from './schemaless.js';

const HOUR = 3_600_000;
/**
 * Request headers up to distribution's limit (Go's http.DefaultMaxHeaderBytes, 1 MiB), not Node's 16 KiB: bearer
 * tokens with many access entries run to tens of kilobytes. Past it: 431.
 */
const MAX_HEADER_BYTES = 1 << 20;
const LOG_LEVELS = {
  panic: 'fatal',
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
};
const TLS_VERSIONS: Record<string, SecureVersion> = {
  'tls1.0': 'TLSv1',
  'tls1.1': 'TLSv1.1',
  'tls1.2': 'TLSv1.2',
  'tls1.3': 'TLSv1.3',
};

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

/** Go's cipher suite names (what distribution's http.tls.ciphersuites takes) and OpenSSL's for them. */
const CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  // TLS 1.3's suites have one name everywhere.
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};

/** http.tls.ciphersuites as an OpenSSL cipher list; an unknown name is refused, naming it. */
function opensslCiphers(suites: string[]): string {
  const unknown = suites.filter((s) => !CIPHER_SUITES[s]);
  if (unknown.length)
    throw new ConfigError(
      `http.tls.ciphersuites: unknown cipher suite ${unknown.join(', ')} (use Go's names)`,
    );
  return suites.map((s) => CIPHER_SUITES[s]).join(':');
}

function httpsOptions(config: RegistryConfig): HttpsServerOptions | null {
  const tls = config.http?.tls;
  if (!tls?.certificate || !tls.key) return null;
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${key}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const clientCas = tls.clientcas?.map((p, i) => read(p, `http.tls.clientcas[${i}]`));
  const cert = read(tls.certificate, 'http.tls.certificate');
  const key = read(tls.key, 'http.tls.key');
  // Checked here so a bad pair is named, not an OpenSSL trace at listen time.
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`http.tls.certificate: ${tls.certificate} is not a PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(`http.tls.key: ${tls.key} is not a PEM private key`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new ConfigError(`http.tls.key: ${tls.key} does not match the certificate in http.tls.certificate`);
  return {
    cert,
    key,
    minVersion: TLS_VERSIONS[tls.minimumtls ?? 'tls1.2'],
    ...(tls.ciphersuites?.length && { ciphers: opensslCiphers(tls.ciphersuites) }),
    ...(clientCas?.length ? { ca: clientCas, requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/** File systems that hold no data, by statfs magic: Node's recursive mkdir loops for ever in /proc. */
const PSEUDO_FS = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
]);

/**
 * The filesystem root must take writes: found at start, naming the key, not at the first push as a 500. The
 * missing directories are made one at a time, so a failure names its real cause (a recursive mkdir says
 * ENOENT where the file system is read-only).
 */
async function checkWritableRoot(root: string): Promise<void> {
  const missing: string[] = [];
  let existing = resolve(root);
  while (!(await stat(existing).catch(() => undefined)) && dirname(existing) !== existing) {
    missing.unshift(existing);
    existing = dirname(existing);
  }
  const kind = PSEUDO_FS.get((await statfs(existing).catch(() => undefined))?.type ?? -1);
  if (kind)
    throw new ConfigError(`storage.filesystem.rootdirectory: ${root} is on ${kind}, which cannot hold data`);
  const probe = join(root, `.regop-write-check-${process.pid}`);
  try {
    for (const dir of missing)
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(
      `storage.filesystem.rootdirectory: cannot write to ${root} (${e.code ?? e.message})`,
    );
  }
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
  const readOnlyStore = storage.maintenance?.readonly?.enabled === true;
  if (!options.driver && storage.filesystem && !readOnlyStore)
    await checkWritableRoot(storage.filesystem.rootdirectory ?? '/var/lib/registry');
  const driver = options.driver ?? (await createDriver(storage));
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
  const readOnly = readOnlyStore;
  const level = LOG_LEVELS[config.log?.level ?? config.loglevel ?? 'info'];
  const accessLog = config.log?.accesslog?.disabled !== true;
  const https = httpsOptions(config);

  // Logs are written asynchronously (a buffered stdout), so an access line per request stays off the hot path,
  // and flushed every 100 ms, so a line shows in a terminal or log file as it happens, not 4 KiB later.
  const bufferedLog = options.logStream ? undefined : pino.destination({ sync: false, minLength: 4096 });
  if (bufferedLog)
    setInterval(() => {
      try {
        bufferedLog.flush();
      } catch {
        // Closed at shutdown: the exit path flushes what is left.
      }
    }, 100).unref();
  const logDestination = options.logStream ?? bufferedLog;
  // log.formatter as distribution's: json (the default), text (logrus's key=value lines) or logstash.
  const formatter = config.log?.formatter ?? 'json';
  const app = Fastify({
    logger: {
      level,
      base: { pid: process.pid, ...(config.log?.fields ?? {}) },
      stream: formatter === 'text' && logDestination ? textFormatter(logDestination) : logDestination,
      // Level names ("info"), as distribution writes them, not pino's numbers.
      formatters: { level: (label: string) => ({ level: label }) },
      // ISO 8601 times, as distribution's logs have them (pino's default is epoch milliseconds).
      ...(formatter === 'logstash'
        ? {
            messageKey: 'message',
            timestamp: () => `,"@timestamp":"${new Date().toISOString()}","@version":"1"`,
          }
        : { timestamp: () => `,"time":"${new Date().toISOString()}"` }),
    },
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

  const debugAddr = config.http?.debug?.addr;
  const prometheus = config.http?.debug?.prometheus;
  // prom-client is loaded only when metrics are asked for.
  const metrics =
    debugAddr && prometheus?.enabled
      ? (await import('./metrics.js')).instrument(app, registry.driver)
      : undefined;

  // While draining, answers close their connection so the process can exit as soon as they are sent.
  let closing = false;
  // A callback hook, not an async one: it runs on every answer, and a promise each is measurable.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  // Load balancers probe the root.
  app.get('/', async (_request, reply) => reply.header('content-type', 'text/plain').send(''));
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
    ...(config.http?.host && { host: config.http.host }),
    ...(config.http?.headers && { headers: config.http.headers }),
    ...(accessController && { accessController }),
  });

  const addr = config.http?.addr ?? ':5000';
  const { host, port } = parseListenAddress(addr, 'http.addr');
  await listenOn(app, addr, 'http.addr');
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;

  let debug: FastifyInstance | undefined;
  if (debugAddr) {
    debug = Fastify({ logger: false, schemaController: NO_ROUTE_SCHEMAS });
    debug.get('/debug/health', async (_request, reply) => {
      const problems = health?.status() ?? {};
      reply.code(Object.keys(problems).length ? 503 : 200).send(problems);
    });
    if (metrics) {
      debug.get(prometheus?.path ?? '/metrics', async (_request, reply) =>
        reply.header('content-type', metrics.contentType).send(await metrics.metrics()),
      );
    }
    await listenOn(debug, debugAddr, 'http.debug.addr');
  }

  const purging = storage.maintenance?.uploadpurging;
  const stopPurging =
    !readOnly && purging?.enabled !== false
      ? startUploadPurging(registry.uploads, {
          ageMs: purging?.age ?? 168 * HOUR,
          intervalMs: purging?.interval ?? 24 * HOUR,
          dryRun: purging?.dryrun === true,
          firstRunDelayMs: Math.floor(Math.random() * 60) * 60_000,
          onPurged: (purged, dryRun) =>
            app.log.info({ uploads: purged.length, dryRun }, 'purged stale uploads'),
          onError: (err) => app.log.error({ err }, 'upload purging failed'),
        })
      : undefined;

  const gc = storage.maintenance?.garbagecollect;
  // A pull-through cache expires what it cached proxy.ttl ago (168h by default, as distribution's) through the
  // collector's rules, so a blob another cached image still uses is never deleted.
  const ttl = config.proxy ? (config.proxy.ttl ?? 168 * HOUR) : undefined;
  const schedule: { intervalMs: number; collect: CollectOptions } | undefined = gc?.enabled
    ? {
        intervalMs: gc.interval ?? 24 * HOUR,
        collect: {
          dryRun: gc.dryrun === true,
          deleteUntagged: gc.deleteuntagged === true,
          graceMs: gc.grace ?? HOUR,
          ...(gc.retention && { retention: gc.retention }),
        },
      }
    : ttl !== undefined
      ? {
          intervalMs: Math.min(24 * HOUR, Math.max(1000, ttl / 4)),
          collect: {
            graceMs: Math.min(HOUR, ttl),
            retention: [{ repositories: '**', tagsolderthan: ttl, untaggedolderthan: ttl }],
          },
        }
      : undefined;
  const gcMetrics = metrics && (await import('./metrics.js')).collectionMetrics(metrics);
  const stopCollecting =
    !readOnly && schedule
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
      bufferedLog?.flushSync();
    },
  };
}
