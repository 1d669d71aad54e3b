import { createHash, randomBytes } from 'node:crypto';
import { InMemoryDriver } from '@regop/storage';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MediaType } from '../content/media-types.js';
import { Registry, type RegistryOptions } from '../content/registry.js';
import { paths } from '../paths.js';
import { Digest } from '../reference.js';
import type { RegistryHttpOptions } from './context.js';
import { registryApi } from './plugin.js';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Buffer | string) => `sha512:${createHash('sha512').update(b).digest('hex')}`;

let app: FastifyInstance;
let driver: InMemoryDriver;

async function start(options: Partial<RegistryHttpOptions> = {}, registryOptions: RegistryOptions = {}) {
  driver = new InMemoryDriver();
  app = Fastify();
  await app.register(registryApi, {
    registry: new Registry(driver, registryOptions),
    deleteEnabled: true,
    ...options,
  });
  return app;
}
afterEach(() => app?.close());

const errorCode = (res: { json(): unknown }) =>
  (res.json() as { errors: { code: string }[] }).errors[0]?.code;

async function pushBlob(name: string, content: Buffer | string): Promise<string> {
  const digest = sha256(content);
  const res = await app.inject({
    method: 'POST',
    url: `/v2/${name}/blobs/uploads/?digest=${digest}`,
    payload: content,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(res.statusCode, res.body).toBe(201);
  return digest;
}

function imageManifest(
  config: string,
  layers: { digest: string; size: number; mediaType?: string }[],
  extra: object = {},
) {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    ...extra,
  });
}

async function pushImage(name: string, tag: string, extra: object = {}) {
  const config = await pushBlob(name, '{}');
  const layer = randomBytes(1000);
  const manifest = imageManifest(
    config,
    [{ digest: await pushBlob(name, layer), size: layer.length }],
    extra,
  );
  const res = await app.inject({
    method: 'PUT',
    url: `/v2/${name}/manifests/${tag}`,
    payload: manifest,
    headers: { 'content-type': MediaType.ociManifest },
  });
  expect(res.statusCode, res.body).toBe(201);
  return { manifest, digest: sha256(manifest), res };
}

describe('base and errors', () => {
  it('answers /v2/ with the API version header, also on errors', async () => {
    await start();
    const res = await app.inject('/v2/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const missing = await app.inject('/v2/a/nothing/here/at-all');
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('answers an unsupported method with 405 and Allow', async () => {
    await start();
    const res = await app.inject({ method: 'PATCH', url: '/v2/a/manifests/latest' });
    expect(res.statusCode).toBe(405);
    expect(errorCode(res)).toBe('UNSUPPORTED');
    expect(res.headers.allow).toBe('GET, HEAD, PUT, DELETE');
  });
});

describe('blobs', () => {
  it('pushes monolithically and pulls with HEAD, GET and Range', async () => {
    await start();
    const content = randomBytes(10_000);
    const digest = await pushBlob('a/b', content);
    const head = await app.inject({ method: 'HEAD', url: `/v2/a/b/blobs/${digest}` });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('10000');
    expect(head.headers['docker-content-digest']).toBe(digest);
    const get = await app.inject(`/v2/a/b/blobs/${digest}`);
    expect(get.rawPayload.equals(content)).toBe(true);
    const part = await app.inject({ url: `/v2/a/b/blobs/${digest}`, headers: { range: 'bytes=100-199' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/10000');
    expect(part.rawPayload.equals(content.subarray(100, 200))).toBe(true);
    const suffix = await app.inject({ url: `/v2/a/b/blobs/${digest}`, headers: { range: 'bytes=-10' } });
    expect(suffix.rawPayload.equals(content.subarray(9990))).toBe(true);
    const bad = await app.inject({ url: `/v2/a/b/blobs/${digest}`, headers: { range: 'bytes=20000-' } });
    expect(bad.statusCode).toBe(416);
    expect(bad.headers['content-range']).toBe('bytes */10000');
    expect(errorCode(bad)).toBe('RANGE_INVALID');
  });

  it('hides a blob from repositories that do not link it', async () => {
    await start();
    const digest = await pushBlob('a', 'content');
    const res = await app.inject({ method: 'HEAD', url: `/v2/other/blobs/${digest}` });
    expect(res.statusCode).toBe(404);
  });

  it('pushes in chunks with Content-Range and refuses a gap with 416 and the current Range', async () => {
    await start();
    const content = randomBytes(30_000);
    const post = await app.inject({ method: 'POST', url: '/v2/chunky/blobs/uploads/' });
    expect(post.statusCode).toBe(202);
    const location = new URL(post.headers.location as string).pathname;
    expect(post.headers.range).toBe('0-0');
    const patch = (start: number, end: number) =>
      app.inject({
        method: 'PATCH',
        url: location,
        payload: content.subarray(start, end + 1),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}` },
      });
    expect((await patch(0, 9_999)).headers.range).toBe('0-9999');
    const gap = await patch(15_000, 19_999);
    expect(gap.statusCode).toBe(416);
    expect(gap.headers.range).toBe('0-9999');
    expect((await patch(10_000, 19_999)).statusCode).toBe(202);
    const status = await app.inject(location);
    expect(status.statusCode).toBe(204);
    expect(status.headers.range).toBe('0-19999');
    const put = await app.inject({
      method: 'PUT',
      url: `${location}?digest=${sha256(content)}`,
      payload: content.subarray(20_000),
      headers: { 'content-type': 'application/octet-stream', 'content-range': '20000-29999' },
    });
    expect(put.statusCode, put.body).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha256(content));
    expect((await app.inject(`/v2/chunky/blobs/${sha256(content)}`)).rawPayload.equals(content)).toBe(true);
    // The upload is gone once committed.
    expect((await app.inject(location)).statusCode).toBe(404);
  });

  it('accepts a streamed PATCH without Content-Range, then PUT without a body', async () => {
    await start();
    const content = randomBytes(5000);
    const post = await app.inject({ method: 'POST', url: '/v2/s/blobs/uploads/' });
    const location = new URL(post.headers.location as string).pathname;
    await app.inject({
      method: 'PATCH',
      url: location,
      payload: content,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const put = await app.inject({ method: 'PUT', url: `${location}?digest=${sha256(content)}` });
    expect(put.statusCode).toBe(201);
  });

  it('verifies sha512 digests and reports them back', async () => {
    await start();
    const content = randomBytes(4096);
    const res = await app.inject({
      method: 'POST',
      url: `/v2/s/blobs/uploads/?digest=${sha512(content)}`,
      payload: content,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['docker-content-digest']).toBe(sha512(content));
    expect((await app.inject(`/v2/s/blobs/${sha512(content)}`)).rawPayload.equals(content)).toBe(true);
    expect(await driver.stat(paths.blobData(Digest.parse(sha512(content))))).toMatchObject({ size: 4096 });
  });

  it('refuses a wrong digest and leaves nothing behind', async () => {
    await start();
    const content = Buffer.from('the real content');
    const wrong = sha256('something else');
    const post = await app.inject({ method: 'POST', url: '/v2/w/blobs/uploads/' });
    const location = new URL(post.headers.location as string).pathname;
    const put = await app.inject({
      method: 'PUT',
      url: `${location}?digest=${wrong}`,
      payload: content,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.statusCode).toBe(400);
    expect(errorCode(put)).toBe('DIGEST_INVALID');
    expect((await app.inject(location)).statusCode).toBe(404);
    expect((await app.inject({ method: 'HEAD', url: `/v2/w/blobs/${wrong}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'HEAD', url: `/v2/w/blobs/${sha256(content)}` })).statusCode).toBe(
      404,
    );
    await expect(driver.list('/docker/registry/v2/blobs')).rejects.toThrow(/not found/);
  });

  it('mounts across repositories, with and without from', async () => {
    await start();
    const digest = await pushBlob('src', 'shared layer');
    const withFrom = await app.inject({
      method: 'POST',
      url: `/v2/dst/blobs/uploads/?mount=${digest}&from=src`,
    });
    expect(withFrom.statusCode).toBe(201);
    expect(withFrom.headers.location).toMatch(new RegExp(`/v2/dst/blobs/${digest}$`));
    const withoutFrom = await app.inject({ method: 'POST', url: `/v2/dst2/blobs/uploads/?mount=${digest}` });
    expect(withoutFrom.statusCode).toBe(201);
    // Nothing to mount: a plain upload starts instead.
    const missing = await app.inject({
      method: 'POST',
      url: `/v2/dst/blobs/uploads/?mount=${sha256('nope')}&from=src`,
    });
    expect(missing.statusCode).toBe(202);
  });

  it('cancels uploads and deletes blob links', async () => {
    await start();
    const post = await app.inject({ method: 'POST', url: '/v2/c/blobs/uploads/' });
    const location = new URL(post.headers.location as string).pathname;
    expect((await app.inject({ method: 'DELETE', url: location })).statusCode).toBe(204);
    expect((await app.inject(location)).statusCode).toBe(404);
    const digest = await pushBlob('c', 'x');
    expect((await app.inject({ method: 'DELETE', url: `/v2/c/blobs/${digest}` })).statusCode).toBe(202);
    expect((await app.inject({ method: 'HEAD', url: `/v2/c/blobs/${digest}` })).statusCode).toBe(404);
  });

  it('uses http.host and relativeurls for Location', async () => {
    await start({ host: 'https://registry.example.com' });
    const post = await app.inject({ method: 'POST', url: '/v2/h/blobs/uploads/' });
    expect(post.headers.location).toMatch(/^https:\/\/registry\.example\.com\/v2\/h\/blobs\/uploads\//);
    await app.close();
    await start({ relativeUrls: true });
    const rel = await app.inject({ method: 'POST', url: '/v2/h/blobs/uploads/' });
    expect(rel.headers.location).toMatch(/^\/v2\/h\/blobs\/uploads\//);
    await app.close();
    await start();
    const proxied = await app.inject({
      method: 'POST',
      url: '/v2/h/blobs/uploads/',
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'lb.example' },
    });
    expect(proxied.headers.location).toMatch(/^https:\/\/lb\.example\/v2\/h\/blobs\/uploads\//);
  });
});

describe('manifests', () => {
  it('puts by tag, then gets and heads by tag and by digest', async () => {
    await start();
    const { manifest, digest, res } = await pushImage('img', 'v1');
    expect(res.headers['docker-content-digest']).toBe(digest);
    expect(res.headers.location).toMatch(new RegExp(`/v2/img/manifests/${digest}$`));
    for (const ref of ['v1', digest]) {
      const get = await app.inject({
        url: `/v2/img/manifests/${ref}`,
        headers: { accept: MediaType.ociManifest },
      });
      expect(get.statusCode).toBe(200);
      expect(get.body).toBe(manifest);
      expect(get.headers['content-type']).toBe(MediaType.ociManifest);
      expect(get.headers['docker-content-digest']).toBe(digest);
      const head = await app.inject({ method: 'HEAD', url: `/v2/img/manifests/${ref}` });
      expect(head.statusCode).toBe(200);
      expect(head.headers['content-length']).toBe(String(manifest.length));
    }
  });

  it('stores and serves a manifest by a sha512 digest', async () => {
    await start();
    const config = await pushBlob('x', '{}');
    const manifest = imageManifest(config, []);
    const put = await app.inject({
      method: 'PUT',
      url: `/v2/x/manifests/${sha512(manifest)}`,
      payload: manifest,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(put.statusCode).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha512(manifest));
    const get = await app.inject(`/v2/x/manifests/${sha512(manifest)}`);
    expect(get.headers['docker-content-digest']).toBe(sha512(manifest));
  });

  it('tags a manifest pushed by digest with each ?tag=, answering an OCI-Tag per tag, sha512 too', async () => {
    await start();
    const config = await pushBlob('t', '{}');
    const manifest = imageManifest(config, []);
    const digest = sha512(manifest);
    const tags = Array.from({ length: 12 }, (_, i) => `v${i}`);
    const res = await app.inject({
      method: 'PUT',
      url: `/v2/t/manifests/${digest}?${tags.map((t) => `tag=${t}`).join('&')}`,
      payload: manifest,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['docker-content-digest']).toBe(digest);
    // One header line each (an array here).
    expect(res.headers['oci-tag']).toEqual(tags);
    expect((await app.inject('/v2/t/tags/list')).json().tags).toEqual([...tags].sort());
    const byTag = await app.inject({
      url: '/v2/t/manifests/v11',
      headers: { accept: MediaType.ociManifest },
    });
    expect(byTag.body).toBe(manifest);

    const tooMany = await app.inject({
      method: 'PUT',
      url: `/v2/t/manifests/${digest}?${Array.from({ length: 101 }, (_, i) => `tag=x${i}`).join('&')}`,
      payload: manifest,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(tooMany.statusCode).toBe(414);
    const bad = await app.inject({
      method: 'PUT',
      url: `/v2/t/manifests/${digest}?tag=ok&tag=-bad`,
      payload: manifest,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(errorCode(bad)).toBe('TAG_INVALID');
    expect((await app.inject('/v2/t/tags/list')).json().tags).not.toContain('ok');
  });

  describe('sparse content (validation.manifests)', () => {
    const index = (children: { digest: string; size: number; arch: string }[]) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: children.map((c) => ({
          mediaType: MediaType.ociManifest,
          digest: c.digest,
          size: c.size,
          platform: { os: 'linux', architecture: c.arch },
        })),
      });
    const put = (ref: string, body: string, type: string) =>
      app.inject({
        method: 'PUT',
        url: `/v2/s/manifests/${ref}`,
        payload: body,
        headers: { 'content-type': type },
      });
    const absent = (arch: string) => ({ digest: sha256(`never pushed ${arch}`), size: 100, arch });

    it('refuses a missing layer and a missing index child by default', async () => {
      await start();
      const config = await pushBlob('s', '{}');
      const sparseImage = imageManifest(config, [{ digest: sha256('no layer'), size: 8 }]);
      expect(errorCode(await put('img', sparseImage, MediaType.ociManifest))).toBe('MANIFEST_BLOB_UNKNOWN');
      expect(errorCode(await put('idx', index([absent('amd64')]), MediaType.ociIndex))).toBe(
        'MANIFEST_BLOB_UNKNOWN',
      );
      expect((await app.inject('/v2/s/tags/list')).json().tags ?? []).toEqual([]);
    });

    it('accepts what platforms none, a platform list, and layers none let be absent', async () => {
      await start({}, { validation: { indexChildren: 'none', layers: 'none' } });
      const config = await pushBlob('s', '{}');
      const sparseImage = imageManifest(config, [{ digest: sha256('no layer'), size: 8 }]);
      expect((await put('img', sparseImage, MediaType.ociManifest)).statusCode).toBe(201);
      // The config is still needed, and what is present must be the size it is said to be.
      const noConfig = imageManifest(sha256('no config'), []);
      expect(errorCode(await put('noconfig', noConfig, MediaType.ociManifest))).toBe('MANIFEST_BLOB_UNKNOWN');
      const present = { digest: sha256(sparseImage), size: sparseImage.length + 1, arch: 'arm64' };
      expect(errorCode(await put('badsize', index([present]), MediaType.ociIndex))).toBe('MANIFEST_INVALID');
      const sparseIndex = index([absent('amd64'), { ...present, size: sparseImage.length }]);
      expect((await put('idx', sparseIndex, MediaType.ociIndex)).statusCode).toBe(201);
      const got = await app.inject({ url: '/v2/s/manifests/idx', headers: { accept: MediaType.ociIndex } });
      expect(got.body).toBe(sparseIndex);

      await app.close();
      await start({}, { validation: { indexChildren: [{ os: 'linux', architecture: 'amd64' }] } });
      await pushBlob('s', '{}');
      expect(errorCode(await put('idx', index([absent('amd64')]), MediaType.ociIndex))).toBe(
        'MANIFEST_BLOB_UNKNOWN',
      );
      expect((await put('idx', index([absent('arm64')]), MediaType.ociIndex)).statusCode).toBe(201);
    });
  });

  it('refuses manifests naming unknown blobs, but not non-distributable layers', async () => {
    await start();
    const config = await pushBlob('m', '{}');
    const unknown = imageManifest(config, [{ digest: sha256('never pushed'), size: 12 }]);
    const res = await app.inject({
      method: 'PUT',
      url: '/v2/m/manifests/v1',
      payload: unknown,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(res.statusCode).toBe(400);
    expect(errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((await app.inject('/v2/m/tags/list')).json()).toEqual({ name: 'm', tags: [] });
    const foreign = imageManifest(config, [
      {
        digest: sha256('foreign'),
        size: 7,
        mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      },
    ]);
    const ok = await app.inject({
      method: 'PUT',
      url: '/v2/m/manifests/v1',
      payload: foreign,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(ok.statusCode).toBe(201);
  });

  it('refuses malformed, mismatched and oversized manifests', async () => {
    await start();
    const config = await pushBlob('m', '{}');
    const put = (payload: string | Buffer, contentType: string, ref = 'v1') =>
      app.inject({
        method: 'PUT',
        url: `/v2/m/manifests/${ref}`,
        payload,
        headers: { 'content-type': contentType },
      });
    const cases: [string | Buffer, string][] = [
      ['{"schemaVersion": 2, ', MediaType.ociManifest],
      ['[]', MediaType.ociManifest],
      [imageManifest(config, []), MediaType.dockerManifest],
      [
        JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: 'no' }),
        MediaType.ociIndex,
      ],
      [
        JSON.stringify({
          schemaVersion: 2,
          config: { digest: 'sha256:zz', size: 1, mediaType: 'x' },
          layers: [],
        }),
        MediaType.ociManifest,
      ],
      [
        JSON.stringify({ schemaVersion: 1, name: 'm', tag: 'v1', fsLayers: [] }),
        MediaType.dockerSchema1Signed,
      ],
      [imageManifest(config, []), 'text/plain'.replace('text/plain', 'application/vnd.unknown+json')],
    ];
    for (const [payload, type] of cases) {
      const res = await put(payload, type);
      expect(res.statusCode, `${type} ${payload}`).toBe(400);
      expect(errorCode(res)).toBe('MANIFEST_INVALID');
    }
    const huge = await put(Buffer.alloc(5 * 1024 * 1024, 32), MediaType.ociManifest);
    expect(huge.statusCode).toBe(413);
    const wrongDigest = await put(imageManifest(config, []), MediaType.ociManifest, sha256('other'));
    expect(errorCode(wrongDigest)).toBe('DIGEST_INVALID');
    expect(await driver.list(paths.repository('m'))).toEqual([`${paths.repository('m')}/_layers`]);
  });

  it('refuses wrong descriptor sizes, a missing Content-Type and deep nesting, storing nothing', async () => {
    await start();
    const config = await pushBlob('m', '{}');
    const layer = randomBytes(4096);
    const layerDigest = await pushBlob('m', layer);
    const put = (payload: string, headers: Record<string, string>) =>
      app.inject({ method: 'PUT', url: '/v2/m/manifests/v1', payload, headers });
    const wrongSize = await put(imageManifest(config, [{ digest: layerDigest, size: 1 }]), {
      'content-type': MediaType.ociManifest,
    });
    expect(wrongSize.statusCode).toBe(400);
    expect(errorCode(wrongSize)).toBe('MANIFEST_INVALID');
    expect(wrongSize.json().errors[0].detail).toEqual({ digest: layerDigest, size: 1, actual: 4096 });

    const good = imageManifest(config, [{ digest: layerDigest, size: 4096 }]);
    const noType = await put(good, {});
    expect(noType.statusCode).toBe(400);
    expect(errorCode(noType)).toBe('MANIFEST_INVALID');
    expect(noType.json().errors[0].message).toMatch(/Content-Type/);

    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const nested = good.replace(/}$/, `,"x":${deep}}`);
    const tooDeep = await put(nested, { 'content-type': MediaType.ociManifest });
    expect(tooDeep.statusCode).toBe(400);
    expect(tooDeep.json().errors[0].message).toMatch(/nested deeper/);
    // Brackets inside strings are not nesting.
    const quoted = await put(good.replace(/}$/, `,"annotations":{"x":"${'['.repeat(20_000)}"}}`), {
      'content-type': MediaType.ociManifest,
    });
    expect(quoted.statusCode, quoted.body).toBe(201);
    await app.inject({ method: 'DELETE', url: `/v2/m/manifests/${quoted.headers['docker-content-digest']}` });

    // An index whose child is listed at the wrong size.
    const child = await put(good, { 'content-type': MediaType.ociManifest });
    expect(child.statusCode).toBe(201);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ mediaType: MediaType.ociManifest, digest: sha256(good), size: good.length + 1 }],
    });
    const badIndex = await app.inject({
      method: 'PUT',
      url: '/v2/m/manifests/list',
      payload: index,
      headers: { 'content-type': MediaType.ociIndex },
    });
    expect(errorCode(badIndex)).toBe('MANIFEST_INVALID');
    const tags = await app.inject('/v2/m/tags/list');
    expect(tags.json().tags).toEqual(['v1']);
    const revisions = await driver.list(`${paths.revisionsDir('m')}/sha256`);
    expect(revisions).toEqual([paths.revisionDir('m', Digest.parse(sha256(good)))]);
  });

  it('needs an index child in the repository and negotiates a Docker list down to linux/amd64', async () => {
    await start();
    const { digest, manifest } = await pushImage('multi', 'amd64');
    const child = {
      mediaType: MediaType.ociManifest,
      digest,
      size: manifest.length,
      platform: { os: 'linux', architecture: 'amd64' },
    };
    const missingChild = { ...child, digest: sha256('missing') };
    const list = (children: object[]) =>
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: children });
    const bad = await app.inject({
      method: 'PUT',
      url: '/v2/multi/manifests/all',
      payload: list([child, missingChild]),
      headers: { 'content-type': MediaType.dockerManifestList },
    });
    expect(errorCode(bad)).toBe('MANIFEST_BLOB_UNKNOWN');
    const good = await app.inject({
      method: 'PUT',
      url: '/v2/multi/manifests/all',
      payload: list([child]),
      headers: { 'content-type': MediaType.dockerManifestList },
    });
    expect(good.statusCode).toBe(201);
    const single = await app.inject({
      url: '/v2/multi/manifests/all',
      headers: { accept: MediaType.ociManifest },
    });
    expect(single.headers['docker-content-digest']).toBe(digest);
    const whole = await app.inject({
      url: '/v2/multi/manifests/all',
      headers: { accept: `${MediaType.dockerManifestList}, ${MediaType.ociManifest}` },
    });
    expect(whole.headers['content-type']).toBe(MediaType.dockerManifestList);
    const refused = await app.inject({
      url: '/v2/multi/manifests/amd64',
      headers: { accept: MediaType.dockerManifest },
    });
    expect(refused.statusCode).toBe(404);
    expect(errorCode(refused)).toBe('MANIFEST_UNKNOWN');
  });

  it('deletes tags, and manifests with the tags that point at them', async () => {
    await start();
    const { digest } = await pushImage('d', 'v1');
    await pushImage('d', 'v2');
    await app.inject({
      method: 'PUT',
      url: '/v2/d/manifests/also-v1',
      payload: (await app.inject(`/v2/d/manifests/${digest}`)).body,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect((await app.inject({ method: 'DELETE', url: '/v2/d/manifests/v2' })).statusCode).toBe(202);
    expect((await app.inject('/v2/d/tags/list')).json()).toEqual({ name: 'd', tags: ['also-v1', 'v1'] });
    expect((await app.inject({ method: 'DELETE', url: `/v2/d/manifests/${digest}` })).statusCode).toBe(202);
    expect((await app.inject('/v2/d/tags/list')).json()).toEqual({ name: 'd', tags: [] });
    expect((await app.inject({ method: 'HEAD', url: `/v2/d/manifests/${digest}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `/v2/d/manifests/${digest}` })).statusCode).toBe(404);
  });
});

describe('referrers', () => {
  it('accepts a referrer before its subject and lists it, filtered by artifactType', async () => {
    await start();
    const subject = sha256('a subject not pushed yet');
    const empty = await pushBlob('r', '{}');
    const artifact = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: 'application/vnd.example.sbom',
      config: { mediaType: MediaType.ociEmpty, digest: empty, size: 2 },
      layers: [],
      subject: { mediaType: MediaType.ociManifest, digest: subject, size: 123 },
      annotations: { 'org.example': 'yes' },
    });
    const put = await app.inject({
      method: 'PUT',
      url: `/v2/r/manifests/${sha256(artifact)}`,
      payload: artifact,
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(put.statusCode).toBe(201);
    expect(put.headers['oci-subject']).toBe(subject);
    const list = await app.inject(`/v2/r/referrers/${subject}`);
    expect(list.statusCode).toBe(200);
    expect(list.headers['content-type']).toBe(MediaType.ociIndex);
    expect(list.json().manifests).toEqual([
      {
        mediaType: MediaType.ociManifest,
        digest: sha256(artifact),
        size: artifact.length,
        artifactType: 'application/vnd.example.sbom',
        annotations: { 'org.example': 'yes' },
      },
    ]);
    const filtered = await app.inject(`/v2/r/referrers/${subject}?artifactType=application/vnd.other`);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(filtered.json().manifests).toEqual([]);
    const none = await app.inject(`/v2/r/referrers/${sha256('nothing refers here')}`);
    expect(none.statusCode).toBe(200);
    expect(none.json()).toEqual({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    await app.inject({ method: 'DELETE', url: `/v2/r/manifests/${sha256(artifact)}` });
    expect((await app.inject(`/v2/r/referrers/${subject}`)).json().manifests).toEqual([]);
  });

  it('pages a list larger than referrers.pagesize with Link, each page within it, the filter kept', async () => {
    await start({ referrersPageBytes: 2048 });
    const subject = sha256('a subject with many referrers');
    const empty = await pushBlob('p', '{}');
    const pushed: string[] = [];
    for (let i = 0; i < 12; i++) {
      const artifact = JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType: i % 2 === 0 ? 'application/vnd.example.sig' : 'application/vnd.example.sbom',
        config: { mediaType: MediaType.ociEmpty, digest: empty, size: 2 },
        layers: [],
        subject: { mediaType: MediaType.ociManifest, digest: subject, size: 123 },
        annotations: { n: String(i), padding: 'x'.repeat(200) },
      });
      const put = await app.inject({
        method: 'PUT',
        url: `/v2/p/manifests/${sha256(artifact)}`,
        payload: artifact,
        headers: { 'content-type': MediaType.ociManifest },
      });
      expect(put.statusCode).toBe(201);
      pushed.push(sha256(artifact));
    }
    /** Follows the Link headers from `url`; every page's digests, in order, and each page's body size. */
    const follow = async (url: string) => {
      const pages: { digests: string[]; bytes: number }[] = [];
      for (let next: string | undefined = url; next; ) {
        const res = await app.inject(next);
        expect(res.statusCode).toBe(200);
        const manifests = (res.json() as { manifests: { digest: string }[] }).manifests;
        pages.push({ digests: manifests.map((m) => m.digest), bytes: res.rawPayload.length });
        next = /^<https?:\/\/[^/]+([^>]+)>; rel="next"$/.exec(String(res.headers.link ?? ''))?.[1];
      }
      return pages;
    };
    const pages = await follow(`/v2/p/referrers/${subject}`);
    // Unfiltered, a page is planned from the referrers' stored sizes (about 650 bytes, plus 256 for the fields a
    // descriptor adds): two to a page of 2,048 bytes. Filtered, from the descriptors (about 435 bytes): four.
    expect(pages.map((p) => p.digests.length)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(pages.flatMap((p) => p.digests)).toEqual([...pushed].sort());
    for (const page of pages) expect(page.bytes).toBeLessThan(2048 + 100);
    const signatures = await follow(`/v2/p/referrers/${subject}?artifactType=application/vnd.example.sig`);
    expect(signatures.flatMap((p) => p.digests)).toEqual(pushed.filter((_, i) => i % 2 === 0).sort());
    expect(signatures.map((p) => p.digests.length)).toEqual([4, 2]);
    const bad = await app.inject(`/v2/p/referrers/${subject}?last=nope`);
    expect(bad.statusCode).toBe(400);
    expect(errorCode(bad)).toBe('DIGEST_INVALID');
  });
});

describe('listing', () => {
  it('paginates tags with n, last and Link', async () => {
    await start();
    const { manifest } = await pushImage('t', 'a');
    for (const tag of ['b', 'c', 'd', 'e']) {
      await app.inject({
        method: 'PUT',
        url: `/v2/t/manifests/${tag}`,
        payload: manifest,
        headers: { 'content-type': MediaType.ociManifest },
      });
    }
    const page1 = await app.inject('/v2/t/tags/list?n=2');
    expect(page1.json().tags).toEqual(['a', 'b']);
    expect(page1.headers.link).toMatch(
      /<http:\/\/localhost(:80)?\/v2\/t\/tags\/list\?last=b&n=2>; rel="next"/,
    );
    const page3 = await app.inject('/v2/t/tags/list?n=2&last=d');
    expect(page3.json().tags).toEqual(['e']);
    expect(page3.headers.link).toBeUndefined();
    expect((await app.inject('/v2/t/tags/list?n=2&last=bb')).json().tags).toEqual(['c', 'd']);
    expect((await app.inject('/v2/t/tags/list?last=c')).json().tags).toEqual(['d', 'e']);
    expect((await app.inject('/v2/t/tags/list?last=z')).json().tags).toEqual([]);
    expect(errorCode(await app.inject('/v2/t/tags/list?n=-1'))).toBe('PAGINATION_NUMBER_INVALID');
    const unknown = await app.inject('/v2/nothing/tags/list');
    expect(unknown.statusCode).toBe(404);
    expect(errorCode(unknown)).toBe('NAME_UNKNOWN');
  });

  it('paginates the catalog in distribution order', async () => {
    await start();
    for (const name of ['b', 'a/z', 'a', 'a-b', 'c/d/e']) await pushImage(name, 'v1');
    await pushBlob('only-blobs', 'x');
    expect((await app.inject('/v2/_catalog')).json().repositories).toEqual(['a', 'a/z', 'a-b', 'b', 'c/d/e']);
    const page = await app.inject('/v2/_catalog?n=2&last=a');
    expect(page.json().repositories).toEqual(['a/z', 'a-b']);
    expect(page.headers.link).toMatch(/\/v2\/_catalog\?last=a-b&n=2>; rel="next"/);
    expect((await app.inject('/v2/_catalog?n=10&last=a-b')).json().repositories).toEqual(['b', 'c/d/e']);
    expect((await app.inject('/v2/_catalog?n=10&last=a/z')).json().repositories).toEqual([
      'a-b',
      'b',
      'c/d/e',
    ]);
    expect((await app.inject('/v2/_catalog?n=10&last=c/d')).json().repositories).toEqual(['c/d/e']);
    expect((await app.inject('/v2/_catalog?n=10&last=bb')).json().repositories).toEqual(['c/d/e']);
  });
});

describe('modes', () => {
  it('answers every write with 405 in read-only mode and writes nothing', async () => {
    await start({ readOnly: true });
    const requests = [
      { method: 'POST', url: '/v2/ro/blobs/uploads/' },
      { method: 'PUT', url: '/v2/ro/manifests/v1', payload: '{}' },
      { method: 'PATCH', url: '/v2/ro/blobs/uploads/00000000-0000-4000-8000-000000000000', payload: 'x' },
      { method: 'DELETE', url: `/v2/ro/blobs/${sha256('x')}` },
    ] as const;
    for (const r of requests) {
      const res = await app.inject({ ...r, headers: { 'content-type': 'application/octet-stream' } });
      expect(res.statusCode, r.method).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
      expect(errorCode(res)).toBe('UNSUPPORTED');
    }
    expect(await driver.list('/')).toEqual([]);
    expect((await app.inject('/v2/')).statusCode).toBe(200);
  });

  it('answers DELETE with 405 when deletes are disabled', async () => {
    await start({ deleteEnabled: false });
    const { digest } = await pushImage('nd', 'v1');
    const res = await app.inject({ method: 'DELETE', url: `/v2/nd/manifests/${digest}` });
    expect(res.statusCode).toBe(405);
    expect(errorCode(res)).toBe('UNSUPPORTED');
    expect((await app.inject({ method: 'HEAD', url: `/v2/nd/manifests/${digest}` })).statusCode).toBe(200);
  });
});

describe('bad input', () => {
  // (`a/../b` and `..` are normalised away by inject; test/bad-input.test.ts sends them raw.)
  const names = ['Upper', 'a//b', '/a', '-a', 'a-', 'a/', `${'a'.repeat(256)}`, 'a%2Fb', 'a b'];
  it.each(names)(
    'refuses the repository name %j with NAME_INVALID or 404, never touching storage',
    async (name) => {
      await start();
      for (const url of [
        `/v2/${name}/tags/list`,
        `/v2/${name}/manifests/latest`,
        `/v2/${name}/blobs/uploads/`,
      ]) {
        const res = await app.inject({ method: url.endsWith('uploads/') ? 'POST' : 'GET', url });
        expect([400, 404], `${url} -> ${res.statusCode}`).toContain(res.statusCode);
        if (res.statusCode === 400) expect(errorCode(res)).toBe('NAME_INVALID');
      }
      expect(await driver.list('/')).toEqual([]);
    },
  );

  it('accepts a name of exactly 255 characters', async () => {
    await start();
    const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    expect(name.length).toBe(255);
    expect((await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` })).statusCode).toBe(202);
  });

  it.each(['-bad', '.bad', 'a'.repeat(129), 'bad%2F..', 'ta g'])('refuses the tag %j', async (tag) => {
    await start();
    const res = await app.inject({
      method: 'PUT',
      url: `/v2/t/manifests/${tag}`,
      payload: '{}',
      headers: { 'content-type': MediaType.ociManifest },
    });
    expect(res.statusCode).toBe(400);
    expect(errorCode(res)).toBe('TAG_INVALID');
  });

  it.each([
    'sha256:abc',
    `sha256:${'A'.repeat(64)}`,
    'md5:d41d8cd98f00b204e9800998ecf8427e',
    'sha256:../../../etc/passwd',
    `sha512:${'a'.repeat(64)}`,
  ])('refuses the digest %j with DIGEST_INVALID', async (digest) => {
    await start();
    for (const req of [
      { method: 'GET', url: `/v2/d/blobs/${digest}` },
      { method: 'GET', url: `/v2/d/manifests/${digest}` },
      { method: 'POST', url: `/v2/d/blobs/uploads/?digest=${encodeURIComponent(digest)}` },
      { method: 'GET', url: `/v2/d/referrers/${digest}` },
    ] as const) {
      const res = await app.inject({
        ...req,
        headers: { 'content-type': 'application/octet-stream' },
        ...(req.method === 'POST' && { payload: 'x' }),
      });
      // A digest with a slash no longer matches the route at all.
      if (digest.includes('/')) expect([400, 404]).toContain(res.statusCode);
      else {
        expect(res.statusCode, `${req.method} ${req.url}`).toBe(400);
        expect(errorCode(res)).toBe('DIGEST_INVALID');
      }
    }
    expect(await driver.list('/').then((l) => l.length)).toBeLessThanOrEqual(1);
  });

  it.each([
    'not-a-uuid',
    '00000000-0000-4000-8000-000000000000',
    '..%2F..%2Fetc',
    'ABCDEF00-0000-4000-8000-000000000000',
  ])('answers the unknown upload id %j with BLOB_UPLOAD_UNKNOWN', async (id) => {
    await start();
    for (const method of ['GET', 'PATCH', 'PUT', 'DELETE'] as const) {
      const res = await app.inject({
        method,
        url: `/v2/u/blobs/uploads/${id}?digest=${sha256('x')}`,
        payload: method === 'PATCH' ? 'x' : undefined,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(res.statusCode, method).toBe(404);
      expect(errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
    }
    expect(await driver.list('/')).toEqual([]);
  });

  it('refuses malformed Content-Range and a missing digest on PUT', async () => {
    await start();
    const post = await app.inject({ method: 'POST', url: '/v2/u/blobs/uploads/' });
    const location = new URL(post.headers.location as string).pathname;
    const bad = await app.inject({
      method: 'PATCH',
      url: location,
      payload: 'abc',
      headers: { 'content-type': 'application/octet-stream', 'content-range': 'zero-two' },
    });
    expect(bad.statusCode).toBe(400);
    expect(errorCode(bad)).toBe('BLOB_UPLOAD_INVALID');
    const mismatch = await app.inject({
      method: 'PATCH',
      url: location,
      payload: 'abc',
      headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9' },
    });
    expect(mismatch.statusCode).toBe(416);
    const noDigest = await app.inject({ method: 'PUT', url: location });
    expect(errorCode(noDigest)).toBe('DIGEST_INVALID');
  });
});
