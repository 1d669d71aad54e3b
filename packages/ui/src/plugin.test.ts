import { createHash } from 'node:crypto';
import { type AccessController, AuthFailure } from '@regop/auth/access';
import { Registry, registryApi } from '@regop/registry';
import { InMemoryDriver } from '@regop/storage';
import Fastify, { type FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { ASSETS } from './assets.js';
import { type RegistryUiOptions, registryUi } from './plugin.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function app(options: Partial<RegistryUiOptions> = {}): Promise<FastifyInstance> {
  const registry = new Registry(new InMemoryDriver());
  const server = Fastify();
  await server.register(registryApi, { registry, deleteEnabled: true });
  await server.register(registryUi, {
    registry,
    path: '/ui',
    title: 'Test registry',
    status: { version: '9.9.9', readOnly: false, storage: 'inmemory' },
    ...options,
  });
  return server;
}

async function pushBlob(server: FastifyInstance, repo: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob);
  const res = await server.inject({
    method: 'POST',
    url: `/v2/${repo}/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: blob,
  });
  expect(res.statusCode).toBe(201);
  return digest;
}

async function pushManifest(
  server: FastifyInstance,
  repo: string,
  ref: string,
  manifest: object,
): Promise<string> {
  const body = Buffer.from(JSON.stringify(manifest));
  const res = await server.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${ref}`,
    headers: { 'content-type': (manifest as { mediaType: string }).mediaType },
    payload: body,
  });
  expect(res.statusCode, res.body).toBe(201);
  return sha256(body);
}

/** An image whose config is `config` (any bytes), with one layer; its manifest carries `annotations`. */
async function pushImage(
  server: FastifyInstance,
  repo: string,
  tag: string,
  config: Buffer | object,
  annotations?: Record<string, string>,
): Promise<string> {
  const configBytes = Buffer.isBuffer(config) ? config : Buffer.from(JSON.stringify(config));
  const layer = Buffer.from(`layer of ${repo}:${tag}`);
  return pushManifest(server, repo, tag, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: await pushBlob(server, repo, configBytes),
      size: configBytes.length,
    },
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: await pushBlob(server, repo, layer),
        size: layer.length,
      },
    ],
    ...(annotations && { annotations }),
  });
}

const HOSTILE = [`<script>alert("x")</script>`, `"><img src=x onerror=alert(1)>`, 'javascript:alert(1)'];

describe('the web UI', () => {
  let server: FastifyInstance;
  beforeAll(async () => {
    server = await app();
  });

  it('renders hostile labels, annotations, history and artifact types as text', async () => {
    const subject = await pushImage(
      server,
      'evil/app',
      'latest',
      {
        architecture: 'amd64',
        os: 'linux',
        config: {
          Labels: Object.fromEntries(HOSTILE.map((h, i) => [`label${i}`, h])),
          Env: [`X=${HOSTILE[1]}`],
        },
        history: HOSTILE.map((h) => ({ created_by: h })),
      },
      Object.fromEntries(HOSTILE.map((h, i) => [h, `value ${i} ${h}`])),
    );
    const empty = await pushBlob(server, 'evil/app', Buffer.from('{}'));
    await pushManifest(server, 'evil/app', 'sig', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: `application/vnd.${HOSTILE[1]}`,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 1 },
      annotations: { note: HOSTILE[0] as string },
    });
    for (const url of ['/ui', '/ui/repositories/evil/app', '/ui/repositories/evil/app/_manifests/latest']) {
      const res = await server.inject(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.body).not.toMatch(/<script>alert|<img src=x|href="javascript:/);
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    const page = (await server.inject('/ui/repositories/evil/app/_manifests/latest')).body;
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    // The referrer is listed under its (escaped) artifact type, linked by digest.
    expect(page).toContain('application/vnd.&quot;&gt;&lt;img');
    expect(page).toContain('Referrers <span class="muted">(1)</span>');
  });

  it('clips a 1 MB label and a history of 10,000 steps, and says so', async () => {
    const digest = await pushImage(server, 'big/app', 'v1', {
      config: { Labels: { huge: 'x'.repeat(1024 * 1024) } },
      history: Array.from({ length: 10_000 }, (_, i) => ({ created_by: `RUN step ${i}` })),
    });
    const res = await server.inject(`/ui/repositories/big/app/_manifests/${digest}`);
    expect(res.statusCode).toBe(200);
    expect(res.body.length).toBeLessThan(200 * 1024);
    expect(res.body).toContain('1,046,576 more characters not shown');
    expect(res.body).toContain('9,500 more steps not shown');
  });

  it('says what is wrong with a config that does not parse instead of failing', async () => {
    await pushImage(server, 'broken/app', 'v1', Buffer.from('{not json'));
    const res = await server.inject('/ui/repositories/broken/app/_manifests/v1');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('the image config is not JSON');
  });

  it('pages tags 50 at a time, newest push first, with a filter', async () => {
    const paged = await app();
    for (let i = 0; i < 120; i++)
      await pushImage(paged, 'many/tags', `t${String(i).padStart(3, '0')}`, { n: i });
    await new Promise((r) => setTimeout(r, 20));
    await pushImage(paged, 'many/tags', 'newest', { n: 'last' });
    const rows = (body: string) => [...body.matchAll(/_manifests\/([^"]+)">/g)].map((m) => m[1]);
    const first = await paged.inject('/ui/repositories/many/tags');
    expect(rows(first.body)).toHaveLength(50);
    expect(rows(first.body)[0]).toBe('newest');
    expect(first.body).toContain('page 1 of 3');
    const last = await paged.inject('/ui/repositories/many/tags?page=3');
    expect(rows(last.body)).toHaveLength(21);
    const filtered = await paged.inject('/ui/repositories/many/tags?q=T11');
    expect(rows(filtered.body).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `t11${i}`));
  }, 30_000);

  it('pages repositories by the catalog and searches them by substring, ignoring case', async () => {
    const listed = await app();
    for (let i = 0; i < 60; i++) await pushImage(listed, `lib/r${String(i).padStart(2, '0')}`, 'v1', { i });
    const names = (body: string) =>
      [...body.matchAll(/href="\/ui\/repositories\/([^"]+)"/g)].map((m) => m[1]);
    const first = await listed.inject('/ui');
    expect(names(first.body)).toHaveLength(50);
    const next = first.body.match(/href="([^"]+)" rel="next"|rel="next" href="([^"]+)"/);
    const nextUrl = (next?.[1] ?? next?.[2])?.replaceAll('&amp;', '&');
    expect(nextUrl).toBe('/ui?last=lib%2Fr49');
    const second = await listed.inject(nextUrl as string);
    expect(names(second.body)).toEqual(Array.from({ length: 10 }, (_, i) => `lib/r${50 + i}`));
    expect(second.body).not.toContain('rel="next"');
    const found = await listed.inject('/ui?q=R5');
    expect(names(found.body)).toEqual(Array.from({ length: 10 }, (_, i) => `lib/r5${i}`));
  }, 30_000);

  it('shows only what the access controller lets the viewer pull, and answers as the API would', async () => {
    const onlyTeam: AccessController = {
      async authorize(request, access) {
        if (request.headers.authorization !== 'Basic dTpw')
          throw new AuthFailure('UNAUTHORIZED', 'authentication required', 'Basic realm="test"');
        if (access.some((a) => !a.name.startsWith('team/'))) throw new AuthFailure('DENIED', 'not yours');
        return { user: 'u' };
      },
    };
    const guarded = await app({ accessController: onlyTeam });
    // Content pushed around the controller: the API plugin in this app has none.
    await pushImage(guarded, 'team/app', 'v1', {});
    await pushImage(guarded, 'other/app', 'v1', {});
    const anonymous = await guarded.inject('/ui');
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="test"');
    const headers = { authorization: 'Basic dTpw' };
    const list = await guarded.inject({ url: '/ui', headers });
    expect(list.body).toContain('team/app');
    expect(list.body).not.toContain('other/app');
    const denied = await guarded.inject({ url: '/ui/repositories/other/app/_manifests/v1', headers });
    expect(denied.statusCode).toBe(403);
    expect(denied.body).not.toContain('sha256:');
    // The same answer for a repository that does not exist: its existence is not told.
    expect((await guarded.inject({ url: '/ui/repositories/other/nothing', headers })).statusCode).toBe(403);
    expect((await guarded.inject({ url: '/ui/repositories/team/nothing', headers })).statusCode).toBe(404);
    expect(
      (await guarded.inject({ url: '/ui/repositories/team/app/_manifests/v1', headers })).statusCode,
    ).toBe(200);
  });

  it('names the host the browser used in pull commands; a proxy’s only when relativeurls says one is in front', async () => {
    const page = async (server: FastifyInstance) =>
      (
        await server.inject({
          url: '/ui/repositories/team/app/_manifests/v1',
          headers: {
            host: 'unit.internal:5000',
            'x-forwarded-host': 'registry.example.org',
            'x-forwarded-proto': 'https',
          },
        })
      ).body;
    const direct = await app();
    await pushImage(direct, 'team/app', 'v1', {});
    expect(await page(direct)).toContain('docker pull unit.internal:5000/team/app:v1');
    expect(await page(direct)).toContain('podman pull --tls-verify=false unit.internal:5000/team/app:v1');
    const proxied = await app({ trustForwarded: true });
    await pushImage(proxied, 'team/app', 'v1', {});
    expect(await page(proxied)).toContain('podman pull registry.example.org/team/app:v1');
    const named = await app({ host: 'https://registry.example.com:8443/', trustForwarded: true });
    await pushImage(named, 'team/app', 'v1', {});
    expect(await page(named)).toContain('docker pull registry.example.com:8443/team/app:v1');
  });

  it('says a pull-through cache shows what it has cached, and the status line never names paths', async () => {
    const cache = await app({
      status: { version: '9.9.9', readOnly: true, storage: 'swift', proxyOf: 'https://registry-1.docker.io' },
    });
    const body = (await cache.inject('/ui')).body;
    expect(body).toContain('A pull-through cache of <span class="mono">https://registry-1.docker.io</span>');
    expect(body).toContain('regop 9.9.9 · read-only · storage: swift · pull-through cache');
  });

  it('with token sign-in, answers odd requests with a clear page, never a 500', async () => {
    const refuseAll: AccessController = {
      async authorize() {
        throw new AuthFailure('UNAUTHORIZED', 'authentication required', 'Bearer realm="x"');
      },
    };
    // An issuer nobody answers at.
    const signed = await app({
      accessController: refuseAll,
      signIn: { realm: 'http://127.0.0.1:9/token', service: 'registry' },
    });
    await pushImage(signed, 'team/app', 'v1', {});
    const down = await signed.inject({ url: '/ui', headers: { cookie: 'regop_ui_session=%E0%A4%A' } });
    expect(down.statusCode).toBe(503);
    expect(down.body).toContain('the token issuer at http://127.0.0.1:9/token did not answer');
    const form = (origin?: string) =>
      signed.inject({
        method: 'POST',
        url: '/ui/sign-in',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          host: 'reg:5000',
          ...(origin && { origin }),
        },
        payload: 'username=&password=&next=%2Fui%2F%00',
      });
    expect((await form('not a url')).statusCode).toBe(403);
    expect((await form('http://evil.example')).statusCode).toBe(403);
    const refused = await form('http://reg:5000');
    expect(refused.statusCode).toBe(401);
    expect(refused.body).toContain('<input type="hidden" name="next" value="/ui">');
    const multipart = await signed.inject({
      method: 'POST',
      url: '/ui/sign-in',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      payload: '--x--',
    });
    expect(multipart.statusCode).toBe(415);
    const signIn = await signed.inject('/ui/sign-in?next=https://evil.example/');
    expect(signIn.body).toContain('name="next" value="/ui"');
  });

  it('answers 404 for what is not there and serves its assets for good', async () => {
    expect((await server.inject('/ui/repositories/no/such')).statusCode).toBe(404);
    expect((await server.inject('/ui/repositories/Bad..Name')).statusCode).toBe(404);
    expect((await server.inject('/ui/repositories/evil/app/_manifests/nope')).statusCode).toBe(404);
    const css = await server.inject(`/ui/assets/${ASSETS.style.name}`);
    expect(css.statusCode).toBe(200);
    expect(css.headers['cache-control']).toContain('immutable');
    expect(css.headers['content-type']).toContain('text/css');
    const again = await server.inject({
      url: `/ui/assets/${ASSETS.style.name}`,
      headers: { 'if-none-match': css.headers.etag as string },
    });
    expect(again.statusCode).toBe(304);
    expect((await server.inject('/ui/assets/ui.0000.css')).statusCode).toBe(404);
  });
});
