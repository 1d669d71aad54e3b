/**
 * A real OpenStack Swift (Debian's packages) on 127.0.0.1 for the object-store tests: proxy with tempauth
 * and s3api (one server, both APIs), account/container/object servers with one-replica rings, memcached.
 * Everything lives in one temporary directory (on /tmp, which has the user xattrs Swift needs); every
 * process is started and stopped by its PID.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePort, type Server, startServer } from './process.js';

export const SWIFT_BINARIES = [
  'swift-proxy-server',
  'swift-object-server',
  'swift-ring-builder',
  'memcached',
];

export interface Swift {
  /** Swift v1 auth endpoint (tempauth). */
  authUrl: string;
  user: string;
  key: string;
  /** The same proxy, speaking S3 (s3api): access key `user`, secret `key`. */
  s3Endpoint: string;
  /** Forgets every auth token (they live in memcached), as when tokens expire. */
  flushTokens(): Promise<void>;
  /** Stops and restarts the proxy alone (fault tests). */
  stopProxy(): Promise<void>;
  startProxy(): Promise<void>;
  stop(): Promise<void>;
}

const FILTERS = [
  'catch_errors',
  'gatekeeper',
  'healthcheck',
  'proxy-logging',
  'cache',
  'listing_formats',
  'bulk',
  'tempurl',
  'ratelimit',
  's3api',
  'tempauth',
  'copy',
  'container-quotas',
  'account-quotas',
  'slo',
  'dlo',
  'versioned_writes',
  'symlink',
  'proxy-logging',
];
const EGG: Record<string, string> = { cache: 'memcache' };

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

export async function startSwift(): Promise<Swift> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-swift-'));
  const etc = join(dir, 'etc');
  await mkdir(join(dir, 'node/d1'), { recursive: true });
  await mkdir(etc);
  const ports = {
    object: await freePort(),
    container: await freePort(),
    account: await freePort(),
    proxy: await freePort(),
    memcached: await freePort(),
  };
  await writeFile(
    join(etc, 'swift.conf'),
    '[swift-hash]\nswift_hash_path_suffix = regop\nswift_hash_path_prefix = regop\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n',
  );
  const common = (port: number) =>
    `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${port}\nswift_dir = ${etc}\nworkers = 0\nuser = ${process.env.USER ?? 'root'}\nlog_level = WARNING\n`;
  const servers: Server[] = [];
  const spawnServer = async (name: string, args: string[], ready: () => Promise<boolean>) => {
    const server = await startServer(name, args, { url: '', name, ready, timeoutMs: 60_000 });
    servers.push(server);
    return server;
  };

  for (const kind of ['account', 'container', 'object'] as const) {
    const builder = join(etc, `${kind}.builder`);
    await execa('swift-ring-builder', [builder, 'create', '10', '1', '1']);
    await execa('swift-ring-builder', [builder, 'add', `r1z1-127.0.0.1:${ports[kind]}/d1`, '1']);
    await execa('swift-ring-builder', [builder, 'rebalance']);
    await writeFile(
      join(etc, `${kind}-server.conf`),
      `${common(ports[kind])}devices = ${join(dir, 'node')}\nmount_check = false\n[pipeline:main]\npipeline = ${kind}-server\n[app:${kind}-server]\nuse = egg:swift#${kind}\n`,
    );
  }
  const filters = [...new Set(FILTERS)]
    .map((f) => `[filter:${f}]\nuse = egg:swift#${EGG[f] ?? f.replace(/-/g, '_')}\n`)
    .join('');
  await writeFile(
    join(etc, 'proxy-server.conf'),
    `${common(ports.proxy)}[pipeline:main]\npipeline = ${FILTERS.join(' ')} proxy-server\n` +
      '[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n' +
      `${filters.replace('use = egg:swift#memcache\n', `use = egg:swift#memcache\nmemcache_servers = 127.0.0.1:${ports.memcached}\n`).replace('use = egg:swift#tempauth\n', 'use = egg:swift#tempauth\nuser_test_tester = testing .admin\n')}`,
  );

  await spawnServer(
    'memcached',
    ['-l', '127.0.0.1', '-p', String(ports.memcached), '-U', '0', '-u', process.env.USER ?? 'root'],
    () => portOpen(ports.memcached),
  );
  for (const kind of ['account', 'container', 'object'] as const) {
    await spawnServer(`swift-${kind}-server`, [join(etc, `${kind}-server.conf`)], () =>
      portOpen(ports[kind]),
    );
  }
  const proxyUrl = `http://127.0.0.1:${ports.proxy}`;
  const authUrl = `${proxyUrl}/auth/v1.0`;
  const user = 'test:tester';
  const key = 'testing';
  // Ready once tempauth answers, and the account can hold a container.
  const authReady = async () => {
    const auth = await fetch(authUrl, { headers: { 'x-auth-user': user, 'x-auth-key': key } });
    if (auth.status !== 200) return false;
    const put = await fetch(`${auth.headers.get('x-storage-url')}/ready`, {
      method: 'PUT',
      headers: { 'x-auth-token': auth.headers.get('x-auth-token') ?? '' },
    });
    return put.status < 300;
  };
  let proxy = await spawnServer('swift-proxy-server', [join(etc, 'proxy-server.conf')], authReady);

  return {
    authUrl,
    user,
    key,
    s3Endpoint: proxyUrl,
    flushTokens: () =>
      new Promise((resolve, reject) => {
        const socket = connect(ports.memcached, '127.0.0.1', () => socket.write('flush_all\r\n'));
        socket.on('data', (d) => {
          socket.end();
          if (d.toString().startsWith('OK')) resolve();
          else reject(new Error(`memcached: ${d}`));
        });
        socket.on('error', reject);
      }),
    async stopProxy() {
      await proxy.stop();
    },
    async startProxy() {
      proxy = await spawnServer('swift-proxy-server', [join(etc, 'proxy-server.conf')], authReady);
    },
    async stop() {
      await Promise.all([...servers].reverse().map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
