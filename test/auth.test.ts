import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate, type KeyPair } from '@regop/auth';
import { freePort, type Server, startServer, stopAll } from '@regop/peers';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { insecure, inspect, makeOciImage, ociManifestDigest, refusedCopy, skopeo } from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import {
  REGISTRY_MAIN,
  startDockerRegistry,
  startOurRegistry,
  startTokenServer,
} from './support/registries.js';

const KiB = 1024;
let dir: string;
let layout: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regop-auth-'));
  layout = await makeOciImage(dir, 'v1', [200 * KiB, 64 * KiB]);
});
afterAll(async () => {
  await stopAll();
  await rm(dir, { recursive: true, force: true });
});

/** skopeo copy arguments pushing the test image to `dest` as `creds` (user:password). */
const pushArgs = (creds: string, dest: string) => [
  ...insecure,
  '--dest-creds',
  creds,
  `oci:${layout}:v1`,
  dest,
];

const repoExists = async (root: string, repo: string) =>
  readdir(join(root, 'docker/registry/v2/repositories', repo)).then(
    () => true,
    () => false,
  );

describeWithPeers(['skopeo', 'umoci', 'htpasswd'], 'htpasswd authentication with skopeo', () => {
  let registry: Server;
  let root: string;
  let host: string;
  beforeAll(async () => {
    const file = join(dir, 'htpasswd');
    await execa('htpasswd', ['-B', '-c', '-b', file, 'alice', 'alice secret']);
    await execa('htpasswd', ['-m', '-b', file, 'bob', 'bob:secret']);
    root = join(dir, 'htpasswd-data');
    registry = await startOurRegistry({
      root,
      dir: join(dir, 'htpasswd-registry'),
      extra: { auth: { htpasswd: { realm: 'Test Registry', path: file } } },
    });
    host = new URL(registry.url).host;
  });

  it('pushes and pulls with users written by htpasswd -B and -m', async () => {
    await skopeo('copy', ...pushArgs('alice:alice secret', `docker://${host}/alice/app:v1`));
    await skopeo('copy', ...pushArgs('bob:bob:secret', `docker://${host}/bob/app:v1`));
    const info = await inspect(`docker://${host}/alice/app:v1`, '--creds', 'bob:bob:secret');
    expect(info.Digest).toBe(await ociManifestDigest(layout, 'v1'));
  });

  it('refuses a wrong password with 401 and writes nothing', async () => {
    const push = await refusedCopy(...pushArgs('alice:wrong', `docker://${host}/mallory/app:v1`));
    expect(push).toBeInstanceOf(Error);
    expect(String(push)).toMatch(/401|unauthorized|authentication required/i);
    expect(await repoExists(root, 'mallory/app')).toBe(false);
  });

  it('keeps answering other requests at once while a wrong-password flood is checked at cost 12', async () => {
    const file = join(dir, 'htpasswd-12');
    await execa('htpasswd', ['-B', '-C', '12', '-c', '-b', file, 'carol', 'carol secret']);
    const costly = await startOurRegistry({
      root: join(dir, 'cost12-data'),
      dir: join(dir, 'cost12-registry'),
      // Unlimited, so every guess really costs bcrypt: this is about bcrypt staying off the event loop.
      extra: { auth: { htpasswd: { realm: 'Test Registry', path: file, ratelimit: { disabled: true } } } },
    });
    const wrong = `Basic ${Buffer.from('carol:guess').toString('base64')}`;
    let flooding = true;
    const flood = Array.from({ length: 8 }, async () => {
      while (flooding) await fetch(`${costly.url}/v2/`, { headers: { authorization: wrong } });
    });
    const lags: number[] = [];
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 10; i++) {
      const started = process.hrtime.bigint();
      expect((await fetch(`${costly.url}/`)).status).toBe(200);
      lags.push(Number(process.hrtime.bigint() - started) / 1e6);
      await new Promise((r) => setTimeout(r, 50));
    }
    flooding = false;
    await Promise.all(flood);
    await costly.stop();
    expect(Math.max(...lags), lags.map((l) => l.toFixed(1)).join(' ')).toBeLessThan(100);
  });

  it('rate-limits failed logins per client (429, Retry-After, a log line) and lets the client back in', async () => {
    const file = join(dir, 'htpasswd-10');
    await execa('htpasswd', ['-B', '-C', '10', '-c', '-b', file, 'dave', 'dave secret']);
    const limited = await startOurRegistry({
      root: join(dir, 'limited-data'),
      dir: join(dir, 'limited-registry'),
      extra: {
        auth: { htpasswd: { realm: 'Test Registry', path: file, ratelimit: { burst: 3, perminute: 60 } } },
      },
    });
    const login = (password: string) =>
      fetch(`${limited.url}/v2/`, {
        headers: { authorization: `Basic ${Buffer.from(`dave:${password}`).toString('base64')}` },
      });
    for (let i = 0; i < 3; i++) expect((await login('guess')).status).toBe(401);
    const refused = await login('dave secret');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      'TOOMANYREQUESTS',
    );
    await new Promise((r) => setTimeout(r, 1100));
    expect((await login('dave secret')).status).toBe(200);
    await limited.stop();
    expect(limited.output()).toMatch(
      /failed logins rate-limited: user \\?"dave\\?" from 127\.0\.0\.1 may try again in 1s/,
    );
  });

  it('challenges anonymous clients', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="Test Registry"');
    const json = (await res.json()) as { errors: { code: string }[] };
    expect(json.errors[0]?.code).toBe('UNAUTHORIZED');
  });
});

describeWithPeers(
  ['skopeo', 'umoci', 'htpasswd', 'docker-registry'],
  'token authentication through the issuer',
  () => {
    let tokenUrl: string;
    let authConfig: Record<string, unknown>;
    let root: string;
    let host: string;

    beforeAll(async () => {
      const tokens = await startTokenServer(
        join(dir, 'tokens'),
        'registry.test',
        [
          ['alice', 'alice-pw'],
          ['bob', 'bob-pw'],
        ],
        [
          { account: 'alice', name: '**', actions: ['pull', 'push'] },
          { account: 'bob', name: 'team/**', actions: ['pull'] },
          { anonymous: true, name: 'public/*', actions: ['pull'] },
        ],
      );
      tokenUrl = tokens.url;
      authConfig = tokens.auth;
      root = join(dir, 'token-data');
      const registry = await startOurRegistry({
        root,
        dir: join(dir, 'token-registry'),
        extra: { auth: authConfig },
      });
      host = new URL(registry.url).host;
    });

    it('lets a user with push push, and anonymous clients pull where the ACL allows', async () => {
      await skopeo('copy', ...pushArgs('alice:alice-pw', `docker://${host}/team/app:v1`));
      await skopeo('copy', ...pushArgs('alice:alice-pw', `docker://${host}/public/base:v1`));
      const anonymous = await inspect(`docker://${host}/public/base:v1`);
      expect(anonymous.Digest).toBe(await ociManifestDigest(layout, 'v1'));
      const refused = await skopeo('inspect', '--tls-verify=false', `docker://${host}/team/app:v1`).catch(
        (e: Error) => e,
      );
      expect(refused).toBeInstanceOf(Error);
    });

    it('refuses a pull-only user’s push and writes nothing', async () => {
      const bobPull = await inspect(`docker://${host}/team/app:v1`, '--creds', 'bob:bob-pw');
      expect(bobPull.Digest).toBe(await ociManifestDigest(layout, 'v1'));
      const push = await refusedCopy(...pushArgs('bob:bob-pw', `docker://${host}/team/app:v2`));
      expect(push).toBeInstanceOf(Error);
      expect(await readdir(join(root, 'docker/registry/v2/repositories/team/app/_manifests/tags'))).toEqual([
        'v1',
      ]);
      const challenge = await fetch(`http://${host}/v2/team/app/tags/list`);
      expect(challenge.headers.get('www-authenticate')).toBe(
        `Bearer realm="${tokenUrl}/token",service="registry.test",scope="repository:team/app:pull"`,
      );
    });

    it('issues tokens docker-registry 2.8 accepts', async () => {
      const theirs = await startDockerRegistry({
        root: join(dir, 'token-dist'),
        dir: join(dir, 'token-dist-cfg'),
        extra: { auth: authConfig },
      });
      const theirHost = new URL(theirs.url).host;
      await skopeo('copy', ...pushArgs('alice:alice-pw', `docker://${theirHost}/team/app:v1`));
      const info = await inspect(`docker://${theirHost}/team/app:v1`, '--creds', 'bob:bob-pw');
      expect(info.Digest).toBe(await ociManifestDigest(layout, 'v1'));
      const bobPush = await refusedCopy(...pushArgs('bob:bob-pw', `docker://${theirHost}/team/app:v2`));
      expect(bobPush).toBeInstanceOf(Error);

      // A pull-through cache of it, logging in upstream with the Docker token flow as bob (pull only).
      const cacheRoot = join(dir, 'token-cache');
      const cache = await startOurRegistry({
        root: cacheRoot,
        dir: join(dir, 'token-cache-cfg'),
        extra: { proxy: { remoteurl: theirs.url, username: 'bob', password: 'bob-pw' } },
      });
      const cached = await inspect(`docker://${new URL(cache.url).host}/team/app:v1`);
      expect(cached.Digest).toBe(await ociManifestDigest(layout, 'v1'));
      const out = join(dir, 'token-cache-pull');
      await skopeo('copy', ...insecure, `docker://${new URL(cache.url).host}/team/app:v1`, `oci:${out}:t`);
      expect(await ociManifestDigest(out, 't')).toBe(await ociManifestDigest(layout, 'v1'));
      await theirs.stop();
      // Served from the cache with the upstream gone.
      const again = await inspect(`docker://${new URL(cache.url).host}/team/app:v1`);
      expect(again.Digest).toBe(await ociManifestDigest(layout, 'v1'));
      await cache.stop();
    });
  },
);

/** GET over HTTPS with the given CA and optional client certificate; the status, or the error's code. */
function tlsGet(url: string, ca: string, client?: KeyPair): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      url,
      { ca, ...(client && { cert: client.certPem, key: client.keyPem }) },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

describeWithPeers(['skopeo', 'umoci'], 'HTTPS', () => {
  let ca: KeyPair;
  let certs: string;
  beforeAll(async () => {
    ca = createCertificateAuthority({ commonName: 'Test CA' });
    const server = issueCertificate(ca, { commonName: '127.0.0.1', altNames: ['127.0.0.1', 'localhost'] });
    certs = join(dir, 'tls');
    await mkdir(certs, { recursive: true });
    await writeFile(join(certs, 'server.crt'), server.certPem);
    await writeFile(join(certs, 'server.key'), server.keyPem, { mode: 0o600 });
    await writeFile(join(certs, 'ca.pem'), ca.certPem);
  });

  it('serves skopeo with certificate verification on', async () => {
    const port = await freePort();
    const config = join(dir, 'https.yml');
    await writeFile(
      config,
      stringify({
        version: '0.1',
        storage: { filesystem: { rootdirectory: join(dir, 'https-data') } },
        http: {
          addr: `127.0.0.1:${port}`,
          tls: { certificate: join(certs, 'server.crt'), key: join(certs, 'server.key') },
        },
      }),
    );
    await startTls(config, port, ca.certPem);
    const certDir = join(dir, 'skopeo-certs');
    await mkdir(certDir, { recursive: true });
    await writeFile(join(certDir, 'ca.crt'), ca.certPem);
    await skopeo(
      'copy',
      '--dest-cert-dir',
      certDir,
      `oci:${layout}:v1`,
      `docker://127.0.0.1:${port}/secure/app:v1`,
    );
    const info = JSON.parse(
      (await skopeo('inspect', '--cert-dir', certDir, `docker://127.0.0.1:${port}/secure/app:v1`)).stdout,
    );
    expect(info.Digest).toBe(await ociManifestDigest(layout, 'v1'));
    // Without the CA, verification fails.
    const unverified = await skopeo('inspect', `docker://127.0.0.1:${port}/secure/app:v1`).catch(
      (e: Error) => e,
    );
    expect(String(unverified)).toMatch(/certificate|x509/i);
  });

  it('with clientcas, refuses clients without a certificate from those CAs', async () => {
    const port = await freePort();
    const config = join(dir, 'mtls.yml');
    await writeFile(
      config,
      stringify({
        version: '0.1',
        storage: { filesystem: { rootdirectory: join(dir, 'mtls-data') } },
        http: {
          addr: `127.0.0.1:${port}`,
          tls: {
            certificate: join(certs, 'server.crt'),
            key: join(certs, 'server.key'),
            clientcas: [join(certs, 'ca.pem')],
          },
        },
      }),
    );
    const client = issueCertificate(ca, { commonName: 'client' });
    await startTls(config, port, ca.certPem, client);
    const url = `https://127.0.0.1:${port}/v2/`;
    expect(await tlsGet(url, ca.certPem, client)).toBe(200);
    expect(await tlsGet(url, ca.certPem)).not.toBe(200);
    const stranger = issueCertificate(createCertificateAuthority({ commonName: 'Other CA' }), {
      commonName: 'stranger',
    });
    expect(await tlsGet(url, ca.certPem, stranger)).not.toBe(200);
    const certDir = join(dir, 'skopeo-client');
    await mkdir(certDir, { recursive: true });
    await writeFile(join(certDir, 'ca.crt'), ca.certPem);
    await writeFile(join(certDir, 'client.cert'), client.certPem);
    await writeFile(join(certDir, 'client.key'), client.keyPem);
    await skopeo(
      'copy',
      '--dest-cert-dir',
      certDir,
      `oci:${layout}:v1`,
      `docker://127.0.0.1:${port}/mtls/app:v1`,
    );
  });
});

/** Starts `registry serve` on TLS; ready once it answers over HTTPS with the test CA. */
function startTls(config: string, port: number, ca: string, client?: KeyPair): Promise<Server> {
  const url = `https://127.0.0.1:${port}`;
  return startServer(process.execPath, [REGISTRY_MAIN, 'serve', config], {
    url,
    name: 'registry serve (TLS)',
    ready: async () => (await tlsGet(`${url}/`, ca, client)) === 200,
  });
}
