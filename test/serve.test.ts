import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { freePort, startServer, stopAll } from '@regop/peers';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPatch, pushBlob, randomBytes, sha256 } from './support/http.js';
import { REGISTRY_MAIN, startOurRegistry } from './support/registries.js';

describe('registry serve', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-serve-'));
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers / for load balancers, serves /debug/health and Prometheus metrics, logs JSON lines', async () => {
    const debugPort = await freePort();
    const registry = await startOurRegistry({
      root: join(dir, 'data1'),
      dir: join(dir, 'one'),
      extra: {
        http: { debug: { addr: `127.0.0.1:${debugPort}`, prometheus: { enabled: true } } },
        health: { storagedriver: { enabled: true, interval: '1s', threshold: 1 } },
      },
      // http.addr comes from the environment, as REGISTRY_* overrides allow.
      env: { REGISTRY_LOG_FIELDS_UNIT: 'registry/0' },
    });
    expect((await fetch(`${registry.url}/`)).status).toBe(200);
    const health = await fetch(`http://127.0.0.1:${debugPort}/debug/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({});
    await fetch(`${registry.url}/v2/nothing/tags/list`);
    const metrics = await (await fetch(`http://127.0.0.1:${debugPort}/metrics`)).text();
    expect(metrics).toMatch(/registry_http_requests_total\{handler="tags",method="GET",code="404"\} 1/);
    // Every storage operation is timed, under distribution's metric name.
    expect(metrics).toMatch(
      /registry_storage_action_seconds_count\{driver="filesystem",action="List"\} [1-9]/,
    );
    await registry.stop();
    const lines = registry
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(2);
    // No deprecation warning from fastify (FSTDEP023) or anything else on start.
    expect(registry.output()).not.toMatch(/DeprecationWarning|FSTDEP/);
    for (const line of lines)
      expect(JSON.parse(line)).toMatchObject({
        level: expect.stringMatching(/^(info|warn)$/),
        // ISO 8601, as distribution's logs have it.
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        unit: 'registry/0',
      });
    expect(lines.some((l) => JSON.parse(l).http?.route === 'tags')).toBe(true);
  });

  it('drains an upload in flight on SIGTERM, then exits 0', async () => {
    const registry = await startOurRegistry({ root: join(dir, 'data2'), dir: join(dir, 'two') });
    const blob = randomBytes(4 * 1024 * 1024);
    const post = await fetch(`${registry.url}/v2/drain/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location') as string;
    const patch = openPatch(location);
    patch.req.write(blob.subarray(0, 1024 * 1024));
    await new Promise((r) => setTimeout(r, 200));
    process.kill(registry.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    patch.req.end(blob.subarray(1024 * 1024));
    expect((await patch.response).status).toBe(202);
    expect(await registry.exited).toBe(0);
  });

  it('refuses a bad config naming the key, without a stack trace', async () => {
    const config = join(dir, 'bad.yml');
    await writeFile(
      config,
      'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\nhttp:\n  addr: 127.0.0.1:1\n  relativeurls: maybe\n',
    );
    const result = await execa(process.execPath, [REGISTRY_MAIN, 'serve', config], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/http\.relativeurls: .*boolean/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const unsupported = await execa(process.execPath, [REGISTRY_MAIN, 'serve', config], {
      reject: false,
      env: {
        REGISTRY_HTTP_RELATIVEURLS: 'true',
        REGISTRY_AUTH_HTPASSWD_REALM: 'r',
        REGISTRY_AUTH_HTPASSWD_PATH: '/x',
      },
    });
    expect(unsupported.stderr).toMatch(/auth\.htpasswd\.path: cannot read \/x/);
  });

  it('writes each log line as it happens, not when a buffer fills', async () => {
    const registry = await startOurRegistry({ root: join(dir, 'data-logs'), dir: join(dir, 'logs') });
    await fetch(`${registry.url}/v2/fresh-line/tags/list`);
    const seen = Date.now();
    while (!registry.output().includes('/v2/fresh-line/tags/list') && Date.now() - seen < 5000)
      await new Promise((r) => setTimeout(r, 20));
    // Well within a second (the flush runs every 100 ms); the bound only guards against a stuck buffer.
    expect(registry.output()).toContain('"uri":"/v2/fresh-line/tags/list"');
    expect(Date.now() - seen).toBeLessThan(1000);
    await registry.stop();
  });

  it('says each error in one line without a stack: usage (exit 2), address in use, key not matching, unwritable root', async () => {
    const run = (...args: string[]) => execa(process.execPath, [REGISTRY_MAIN, ...args], { reject: false });
    const bogus = await run('garbage-collect', '--bogus');
    expect([bogus.exitCode, bogus.stderr]).toEqual([2, "registry: Unknown option '--bogus' (see --help)"]);
    const help = await run('serve', '--help');
    expect([help.exitCode, help.stdout.split('\n')[0]]).toEqual([0, 'Usage: registry serve [CONFIG]']);
    expect((await run('help', 'serve')).stdout).toBe(help.stdout);
    expect((await run('help', 'garbage-collect')).stdout.split('\n')[0]).toMatch(
      /^Usage: registry garbage-collect CONFIG/,
    );
    // The general help lists the commands; each one's own help is asked for.
    const general = await run('--help');
    expect(general.stdout).toContain('help [COMMAND]');
    expect(general.stdout).not.toContain('--delete-untagged');
    for (const command of [
      ['--version'],
      ['version'],
      ['garbage-collect', '--version'],
      ['serve', '--version'],
    ])
      expect((await run(...command)).stdout).toMatch(/^registry \d+\.\d+\.\d+$/);
    expect((await run('token-server', 'init', '--help')).exitCode).toBe(0);

    const port = await freePort();
    const config = (body: string) => {
      const file = join(dir, `${Math.random().toString(36).slice(2)}.yml`);
      return writeFile(file, body).then(() => file);
    };
    const noVersion = await run('serve', await config('storage:\n  inmemory: {}\n'));
    expect(noVersion.stderr).toContain('version: must be 0.1');

    const registry = await startOurRegistry({ root: join(dir, 'data-busy'), dir: join(dir, 'busy') });
    const busyAddr = new URL(registry.url).host;
    const busy = await run(
      'serve',
      await config(`version: 0.1\nstorage:\n  inmemory: {}\nhttp:\n  addr: ${busyAddr}\n`),
    );
    expect([busy.exitCode, busy.stderr]).toEqual([
      1,
      `registry: http.addr: ${busyAddr} is already in use (EADDRINUSE)`,
    ]);
    await registry.stop();

    const { createCertificateAuthority, issueCertificate } = await import('@regop/auth');
    const ca = createCertificateAuthority({ commonName: 'CA' });
    const [one, two] = [
      issueCertificate(ca, { commonName: 'one' }),
      issueCertificate(ca, { commonName: 'two' }),
    ];
    await writeFile(join(dir, 'one.crt'), one.certPem);
    await writeFile(join(dir, 'two.key'), two.keyPem);
    const mismatch = await run(
      'serve',
      await config(
        `version: 0.1\nstorage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:${port}\n  tls:\n    certificate: ${join(dir, 'one.crt')}\n    key: ${join(dir, 'two.key')}\n`,
      ),
    );
    expect(mismatch.stderr).toBe(
      `registry: http.tls.key: ${join(dir, 'two.key')} does not match the certificate in http.tls.certificate`,
    );

    // A root that cannot take writes is found at start (a file stands where a directory must be).
    await writeFile(join(dir, 'a-file'), '');
    const unwritable = await run(
      'serve',
      await config(
        `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'a-file/data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
      ),
    );
    expect([unwritable.exitCode, unwritable.stderr]).toEqual([
      1,
      `registry: storage.filesystem.rootdirectory: cannot write to ${join(dir, 'a-file/data')} (ENOTDIR)`,
    ]);
    // A root under /proc is refused at once (Node's recursive mkdir would loop there for ever).
    const proc = await run(
      'serve',
      await config(
        `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /proc/anything\nhttp:\n  addr: 127.0.0.1:${port}\n`,
      ),
    );
    expect([proc.exitCode, proc.stderr]).toEqual([
      1,
      'registry: storage.filesystem.rootdirectory: /proc/anything is on procfs, which cannot hold data',
    ]);
  });

  it('logs what a storage error was (operation, path, errno) on the failing request', async () => {
    const root = join(dir, 'data-broken');
    const registry = await startOurRegistry({ root, dir: join(dir, 'broken') });
    // A file where the repository's directory must be: every write below it fails with ENOTDIR.
    await mkdir(join(root, 'docker/registry/v2/repositories'), { recursive: true });
    await writeFile(join(root, 'docker/registry/v2/repositories/broken'), '');
    const post = await fetch(`${registry.url}/v2/broken/blobs/uploads/`, { method: 'POST' });
    expect(post.status).toBe(500);
    await registry.stop();
    const line = registry
      .output()
      .split('\n')
      .filter((l) => l.includes('"unexpected error"'))
      .map((l) => JSON.parse(l))[0];
    expect(line).toMatchObject({
      level: 'error',
      failed: { code: 'ENOTDIR', path: expect.stringContaining('/broken/') },
    });
  });

  it('pnpm start runs the registry in place of its shell: SIGTERM to pnpm stops it', async () => {
    const port = await freePort();
    const started = await startServer('pnpm', ['start'], {
      url: `http://127.0.0.1:${port}`,
      cwd: join(import.meta.dirname, '..'),
      env: {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'start'),
      },
      timeoutMs: 60_000,
    });
    await started.stop();
    await expect(fetch(`${started.url}/v2/`)).rejects.toThrow();
  });

  it("takes request headers up to distribution's 1 MiB (a 12 KB bearer token) and refuses larger with 431", async () => {
    const registry = await startOurRegistry({ root: join(dir, 'data-headers'), dir: join(dir, 'headers') });
    const status = (headerBytes: number) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${registry.url}/v2/`, {
          headers: { authorization: `Bearer ${'a'.repeat(headerBytes)}` },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await status(12 * 1024)).toBe(200);
    expect(await status(64 * 1024)).toBe(200);
    expect(await status(2 * 1024 * 1024)).toBe(431);
    await registry.stop();
  });

  it("starts with Debian's stock config.yml, whose htpasswd path is a directory, refusing every login", async () => {
    const stock = await readFile('/etc/docker/registry/config.yml', 'utf8').catch(
      () =>
        'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\nhttp:\n  addr: :5000\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: /etc/docker/registry\n',
    );
    await mkdir(join(dir, 'etc-docker-registry'), { recursive: true });
    const port = await freePort();
    const config = join(dir, 'stock.yml');
    await writeFile(
      config,
      stock
        .replace(/rootdirectory: .*/, `rootdirectory: ${join(dir, 'stock-data')}`)
        .replace(/addr: .*/, `addr: 127.0.0.1:${port}`)
        .replace(/path: \/etc\/docker\/registry\b/, `path: ${join(dir, 'etc-docker-registry')}`),
    );
    const registry = await startServer(process.execPath, [REGISTRY_MAIN, 'serve', config], {
      url: `http://127.0.0.1:${port}`,
    });
    expect((await fetch(`${registry.url}/v2/`)).status).toBe(401);
    const auth = `Basic ${Buffer.from('docker:anything').toString('base64')}`;
    expect((await fetch(`${registry.url}/v2/`, { headers: { authorization: auth } })).status).toBe(401);
    await registry.stop();
    expect(registry.output()).toContain('is a directory, not an htpasswd file: every login is refused');
  });

  it('serves from memory with REGISTRY_STORAGE=inmemory, writing nothing to disk', async () => {
    const port = await freePort();
    const registry = await startServer(process.execPath, [REGISTRY_MAIN, 'serve'], {
      url: `http://127.0.0.1:${port}`,
      cwd: dir,
      env: { REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_STORAGE: 'inmemory' },
    });
    const blob = randomBytes(1000);
    expect((await pushBlob(registry.url, 'mem/app', blob)).status).toBe(201);
    const pulled = Buffer.from(
      await (await fetch(`${registry.url}/v2/mem/app/blobs/${sha256(blob)}`)).arrayBuffer(),
    );
    expect(pulled.equals(blob)).toBe(true);
    expect(await readdir(dir)).not.toContain('data');
    await registry.stop();
  });

  it('serves the built-in config with REGISTRY_HTTP_ADDR and REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', async () => {
    const port = await freePort();
    const registry = await startServer(process.execPath, [REGISTRY_MAIN, 'serve'], {
      url: `http://127.0.0.1:${port}`,
      cwd: dir,
      env: {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data3'),
      },
    });
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    await registry.stop();
  });

  describe('registry:2 keys nothing drops silently', () => {
    it('honours log.formatter text and logstash', async () => {
      for (const formatter of ['text', 'logstash']) {
        const registry = await startOurRegistry({
          root: join(dir, `log-${formatter}`),
          dir: join(dir, `log-${formatter}-cfg`),
          extra: { log: { formatter, level: 'info', fields: { service: 'registry' } } },
        });
        await fetch(`${registry.url}/v2/`);
        await registry.stop();
        const lines = registry.output().split('\n');
        if (formatter === 'text') {
          expect(lines).toContainEqual(
            expect.stringMatching(
              /^time="\d{4}-\d\d-\d\dT[^"]+Z" level=info msg="registry listening" .*service=registry/,
            ),
          );
          expect(lines).toContainEqual(
            expect.stringMatching(
              /level=info msg="response completed" .*http\.method=GET .*http\.status=200/,
            ),
          );
        } else {
          const entry = JSON.parse(lines.find((l) => l.includes('registry listening')) as string);
          expect(entry).toMatchObject({
            '@version': '1',
            level: 'info',
            message: 'registry listening',
            service: 'registry',
          });
          expect(Date.parse(entry['@timestamp'])).toBeGreaterThan(Date.now() - 60_000);
        }
      }
    });

    it('honours health file, http and tcp checks: /v2 answers 503 while one fails, and says which', async () => {
      const debugPort = await freePort();
      const drain = join(dir, 'drain-me');
      const closedPort = await freePort();
      const registry = await startOurRegistry({
        root: join(dir, 'health-data'),
        dir: join(dir, 'health-cfg'),
        extra: {
          http: { debug: { addr: `127.0.0.1:${debugPort}` } },
          health: {
            file: [{ file: drain, interval: '100ms' }],
            tcp: [{ addr: `127.0.0.1:${debugPort}`, interval: '100ms', timeout: '1s' }],
          },
        },
        // /v2/ answers 503 until the checks pass; the root answers load balancers regardless.
        readyPath: '/',
      });
      const status = () => fetch(`${registry.url}/v2/`).then((r) => r.status);
      const settle = () => new Promise((r) => setTimeout(r, 400));
      await settle();
      expect(await status()).toBe(200);
      await writeFile(drain, '');
      await settle();
      const unhealthy = await fetch(`${registry.url}/v2/`);
      expect(unhealthy.status).toBe(503);
      expect(((await unhealthy.json()) as { errors: { detail: unknown }[] }).errors[0]?.detail).toEqual({
        [drain]: 'file exists',
      });
      expect(await (await fetch(`http://127.0.0.1:${debugPort}/debug/health`)).json()).toEqual({
        [drain]: 'file exists',
      });
      await rm(drain);
      await settle();
      expect(await status()).toBe(200);
      await registry.stop();

      // An http check against a downstream that answers the wrong status, and a tcp check nobody answers.
      const checked = await startOurRegistry({
        root: join(dir, 'health-data2'),
        dir: join(dir, 'health-cfg2'),
        extra: {
          health: {
            http: [{ uri: `${registry.url}/nowhere`, statuscode: 200, interval: '100ms', threshold: 1 }],
            tcp: [{ addr: `127.0.0.1:${closedPort}`, interval: '100ms', timeout: '1s' }],
          },
        },
        readyPath: '/',
      });
      await settle();
      const down = await fetch(`${checked.url}/v2/`);
      expect(down.status).toBe(503);
      const detail =
        ((await down.json()) as { errors: { detail: Record<string, string> }[] }).errors[0]?.detail ?? {};
      expect(Object.keys(detail).sort()).toEqual(
        [`${registry.url}/nowhere`, `127.0.0.1:${closedPort}`].sort(),
      );
      await checked.stop();
    });

    it('honours http.tls.ciphersuites and auth.token.autoredirect; refuses letsencrypt; warns by name for the rest', async () => {
      const { createCertificateAuthority, issueCertificate } = await import('@regop/auth');
      const ca = createCertificateAuthority({ commonName: 'Cipher CA' });
      const server = issueCertificate(ca, { commonName: '127.0.0.1', altNames: ['127.0.0.1'] });
      await writeFile(join(dir, 'c.crt'), server.certPem);
      await writeFile(join(dir, 'c.key'), server.keyPem);
      await writeFile(join(dir, 'c-ca.crt'), ca.certPem);
      const tls = {
        certificate: join(dir, 'c.crt'),
        key: join(dir, 'c.key'),
        minimumtls: 'tls1.2',
        ciphersuites: ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
      };
      const registry = await startOurRegistry({
        root: join(dir, 'keys-data'),
        dir: join(dir, 'keys-cfg'),
        extra: {
          http: { tls, secret: 'not-needed', http2: { disabled: false } },
          log: { hooks: [{ type: 'mail' }] },
          auth: {
            token: {
              realm: 'https://elsewhere.example/token',
              service: 'registry',
              issuer: 'issuer',
              rootcertbundle: join(dir, 'c-ca.crt'),
              autoredirect: true,
            },
          },
        },
        ready: (port) =>
          new Promise((resolve) => {
            const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem }, () => {
              socket.destroy();
              resolve(true);
            });
            socket.on('error', () => resolve(false));
          }),
      });
      const port = new URL(registry.url).port;
      const cipher = (ciphers: string) =>
        new Promise<string>((resolve) => {
          const socket = connect(
            { host: '127.0.0.1', port: Number(port), ca: ca.certPem, ciphers, maxVersion: 'TLSv1.2' },
            () => {
              resolve(socket.getCipher().standardName);
              socket.destroy();
            },
          );
          socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        });
      expect(await cipher('ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256')).toBe(
        'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      );
      expect(await cipher('ECDHE-RSA-AES128-GCM-SHA256')).toMatch(/ECONNRESET|HANDSHAKE|ALERT/);
      const challenge = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          `https://127.0.0.1:${port}/v2/`,
          { ca: ca.certPem, headers: { host: `registry.example:${port}` }, servername: '127.0.0.1' },
          (res) => {
            res.resume();
            resolve(String(res.headers['www-authenticate']));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(challenge).toBe(`Bearer realm="https://registry.example:${port}/auth/token",service="registry"`);
      await registry.stop();
      const warned = registry.output();
      for (const key of ['http.secret', 'http.http2', 'log.hooks'])
        expect(warned, key).toMatch(new RegExp(`"level":"warn".*"msg":"${key.replace('.', '\\.')}: `));

      const refused = await execa(
        process.execPath,
        [REGISTRY_MAIN, 'serve', join(dir, 'keys-cfg', 'ours.yml')],
        { reject: false, env: { REGISTRY_HTTP_TLS_LETSENCRYPT_CACHEFILE: '/tmp/le.cache' } },
      );
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(
        /^registry: http\.tls\.letsencrypt: certificates are not fetched from ACME/,
      );
      const badCipher = await execa(
        process.execPath,
        [REGISTRY_MAIN, 'serve', join(dir, 'keys-cfg', 'ours.yml')],
        {
          reject: false,
          env: { REGISTRY_HTTP_TLS_CIPHERSUITES: '[TLS_FANCY_NEW_CIPHER]' },
        },
      );
      expect(badCipher.stderr).toMatch(/http\.tls\.ciphersuites: unknown cipher suite TLS_FANCY_NEW_CIPHER/);
    });
  });
});
