import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryOf, type Server, stopAll } from '@regop/peers';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startForwardProxy } from './support/forward-proxy.js';
import { pullDigest, pushImage, pushLargeBlob, randomBytes, sha256 } from './support/http.js';
import {
  addLayer,
  insecure,
  makeOciImage,
  ociManifestDigest,
  refusedCopy,
  skopeo,
  verifyOciBlobs,
} from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { startDockerRegistry, startOurRegistry } from './support/registries.js';

const MiB = 1024 * 1024;
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const USER = 'cache';
const PASSWORD = 'cache-password';

// proxy mode with docker-registry 2.8 as the upstream, behind htpasswd.
describeWithPeers(
  ['skopeo', 'umoci', 'docker-registry', 'htpasswd'],
  'a pull-through cache of docker-registry 2.8',
  () => {
    let dir: string;
    let upstream: Server;
    let cache: Server;
    let layout: string;
    const host = (s: Server) => new URL(s.url).host;
    const pushUpstream = (tag: string, dest: string) =>
      skopeo(
        'copy',
        ...insecure,
        '--dest-creds',
        `${USER}:${PASSWORD}`,
        `oci:${layout}:${tag}`,
        `docker://${host(upstream)}/${dest}`,
      );
    const pull = async (ref: string, name: string) => {
      const out = join(dir, name);
      await skopeo('copy', ...insecure, `docker://${host(cache)}/${ref}`, `oci:${out}:t`);
      return out;
    };
    /** Requests docker-registry logged for a path, by method. */
    const upstreamRequests = (method: string, path: string) =>
      upstream
        .output()
        .split('\n')
        .filter(
          (l) =>
            l.includes(`http.request.method=${method}`) &&
            l.includes(`http.request.uri="${path}"`) &&
            l.includes('response completed'),
        ).length;

    /** Blob GETs docker-registry answered, of any blob. */
    const upstreamBlobGets = () =>
      upstream
        .output()
        .split('\n')
        .filter(
          (l) =>
            l.includes('http.request.method=GET') &&
            l.includes('/blobs/sha256:') &&
            l.includes('response completed'),
        ).length;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'regop-proxy-'));
      const htpasswd = join(dir, 'htpasswd');
      await execa('htpasswd', ['-B', '-c', '-b', htpasswd, USER, PASSWORD]);
      layout = await makeOciImage(dir, 'v1', [2 * MiB, 4096]);
      await addLayer(layout, 'v1', 'v2', 8192);
      upstream = await startDockerRegistry({
        root: join(dir, 'upstream'),
        dir: join(dir, 'upstream-cfg'),
        extra: { auth: { htpasswd: { realm: 'upstream', path: htpasswd } } },
      });
      cache = await startOurRegistry({
        root: join(dir, 'cache'),
        dir: join(dir, 'cache-cfg'),
        extra: { proxy: { remoteurl: upstream.url, username: USER, password: PASSWORD } },
      });
      await pushUpstream('v1', 'team/app:v1');
    }, 120_000);
    afterAll(async () => {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    });

    it('fetches on the first pull, serves the next from the cache, and sees a tag moved upstream at once', async () => {
      const first = await pull('team/app:v1', 'first');
      expect(await ociManifestDigest(first, 't')).toBe(await ociManifestDigest(layout, 'v1'));
      await verifyOciBlobs(first);
      const fetched = upstreamRequests('GET', `/v2/team/app/manifests/v1`);
      const blobGets = upstreamBlobGets();

      await pull('team/app:v1', 'second');
      // Revalidated by a HEAD; neither the manifest nor any blob fetched again.
      expect(upstreamRequests('GET', `/v2/team/app/manifests/v1`)).toBe(fetched);
      expect(upstreamBlobGets()).toBe(blobGets);

      await pushUpstream('v2', 'team/app:v1');
      const moved = await pull('team/app:v1', 'moved');
      expect(await ociManifestDigest(moved, 't')).toBe(await ociManifestDigest(layout, 'v2'));
    });

    it('refuses pushes and deletes, saying it is a cache of the upstream', async () => {
      const refused = await refusedCopy(
        ...insecure,
        `oci:${layout}:v1`,
        `docker://${host(cache)}/team/pushed:v1`,
      );
      expect(String(refused)).toMatch(/405|unsupported|not allowed/i);
      const res = await fetch(`${cache.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
      expect(res.status).toBe(405);
      expect(((await res.json()) as { errors: { message: string }[] }).errors[0]?.message).toBe(
        `this registry is a pull-through cache of ${upstream.url}: push to it there`,
      );
    });

    it('fetches an uncached 256 MiB blob from upstream once for ten clients at once, its memory flat', async () => {
      const { status, digest } = await pushLargeBlob(upstream.url, 'team/big', 256 * MiB, {
        authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
      });
      expect(status).toBe(201);
      const idle = await memoryOf(cache.pid);
      const pulled = await Promise.all(
        Array.from({ length: 10 }, () => pullDigest(cache.url, 'team/big', digest)),
      );
      expect(pulled).toEqual(Array.from({ length: 10 }, () => digest));
      const after = await memoryOf(cache.pid);
      expect(upstreamRequests('GET', `/v2/team/big/blobs/${digest}`)).toBe(1);
      expect(
        after.peak - idle.rss,
        `RSS ${idle.rss >> 20} MiB idle, peak ${after.peak >> 20} MiB`,
      ).toBeLessThan(64 * MiB);
    }, 300_000);

    it('caches nothing of a blob whose upstream connection drops midway; the client sees a short body, the next pull succeeds', async () => {
      const { status, digest } = await pushLargeBlob(upstream.url, 'team/cut', 16 * MiB, {
        authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
      });
      expect(status).toBe(201);
      // A relay in front of upstream that cuts the first response to that blob after 4 MiB of body.
      let cut = false;
      const relay = createServer((req, res) => {
        const forward = httpRequest(
          `${upstream.url}${req.url}`,
          { method: req.method, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            let sent = 0;
            const cutting =
              !cut && req.method === 'GET' && up.statusCode === 200 && req.url?.endsWith(digest);
            if (cutting) cut = true;
            up.on('data', (chunk: Buffer) => {
              sent += chunk.length;
              if (cutting && sent > 4 * MiB) {
                up.destroy();
                res.socket?.destroy();
                return;
              }
              res.write(chunk);
            });
            up.on('end', () => res.end());
          },
        );
        req.pipe(forward);
      });
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      const relayUrl = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
      const root = join(dir, 'cut-cache');
      const flaky = await startOurRegistry({
        root,
        dir: join(dir, 'cut-cfg'),
        extra: { proxy: { remoteurl: relayUrl, username: USER, password: PASSWORD } },
      });
      let short: number | string;
      try {
        short = (await (await fetch(`${flaky.url}/v2/team/cut/blobs/${digest}`)).arrayBuffer()).byteLength;
      } catch (err) {
        short = (err as Error).message;
      }
      // The body ended early: the connection cut (undici's "terminated"), or fewer bytes than the blob has.
      expect(short === 'terminated' || (typeof short === 'number' && short < 16 * MiB), `${short}`).toBe(
        true,
      );
      expect(cut).toBe(true);
      const stored = await readdir(join(root, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9))).catch(
        () => [],
      );
      expect(stored).not.toContain(digest.slice(7));
      expect(await pullDigest(flaky.url, 'team/cut', digest)).toBe(digest);
      await flaky.stop();
      await new Promise((resolve) => relay.close(resolve));
    }, 120_000);

    it('expires what it cached proxy.ttl ago through the collector (whose marking keeps shared blobs), and lists tags from upstream', async () => {
      const root = join(dir, 'ttl-cache');
      const cached = await startOurRegistry({
        root,
        dir: join(dir, 'ttl-cfg'),
        extra: { proxy: { remoteurl: upstream.url, username: USER, password: PASSWORD, ttl: '3s' } },
      });
      const tags = await (await fetch(`${cached.url}/v2/team/app/tags/list`)).json();
      expect(tags).toEqual({ name: 'team/app', tags: ['v1'] });
      await skopeo(
        'copy',
        ...insecure,
        `docker://${host(cached)}/team/app:v1`,
        `oci:${join(dir, 'ttl-pull')}:t`,
      );
      const blobs = join(root, 'docker/registry/v2/blobs/sha256');
      const stored = async () =>
        (await readdir(blobs, { recursive: true })).filter((p) => p.endsWith('/data')).length;
      // The client's body ends with the upstream's; each blob is stored, verified, a moment after.
      let cachedBlobs = await stored();
      for (let i = 0; i < 50 && cachedBlobs <= 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        cachedBlobs = await stored();
      }
      expect(cachedBlobs).toBeGreaterThan(2);
      let left = await stored();
      for (let i = 0; i < 100 && left > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        left = await stored();
      }
      expect(left).toBe(0);
      expect(cached.output()).toMatch(/"garbage collection finished"/);
      // Fetched again at the next pull.
      const again = join(dir, 'ttl-again');
      await skopeo('copy', ...insecure, `docker://${host(cached)}/team/app:v1`, `oci:${again}:t`);
      expect(await ociManifestDigest(again, 't')).toBe(await ociManifestDigest(layout, 'v2'));
      await cached.stop();
    }, 120_000);

    it("reaches upstream through HTTP_PROXY when the environment names one (the charm's registry-http-proxy)", async () => {
      const forward = await startForwardProxy();
      const proxied = await startOurRegistry({
        root: join(dir, 'proxied-cache'),
        dir: join(dir, 'proxied-cfg'),
        extra: { proxy: { remoteurl: upstream.url, username: USER, password: PASSWORD } },
        env: { HTTP_PROXY: forward.url, NO_PROXY: '' },
      });
      const out = join(dir, 'proxied-pull');
      await skopeo('copy', ...insecure, `docker://${host(proxied)}/team/app:v1`, `oci:${out}:t`);
      // v1 upstream is the v2 image once the first test has moved it.
      expect([await ociManifestDigest(layout, 'v1'), await ociManifestDigest(layout, 'v2')]).toContain(
        await ociManifestDigest(out, 't'),
      );
      expect(forward.seen.length).toBeGreaterThan(0);
      expect(forward.seen.every((line) => line.includes(host(upstream)))).toBe(true);
      await proxied.stop();
      await forward.close();
    });

    it('serves what it holds with upstream gone, and says which upstream is missing for the rest', async () => {
      await upstream.stop();
      const offline = await pull('team/app:v1', 'offline');
      expect(await ociManifestDigest(offline, 't')).toBe(await ociManifestDigest(layout, 'v2'));
      const missing = await fetch(`${cache.url}/v2/team/other/manifests/v1`);
      expect(missing.status).toBe(503);
      expect(((await missing.json()) as { errors: { message: string }[] }).errors[0]?.message).toMatch(
        new RegExp(`^upstream ${upstream.url} is unavailable: ECONNREFUSED`),
      );
    });
  },
);

// This registry as the upstream: the referrers API and an index with its children, through a cache of it.
describe('a pull-through cache of this registry', () => {
  let dir: string;
  it('passes referrers on and fetches an index and its children when asked for them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-proxy-self-'));
    const upstream = await startOurRegistry({ root: join(dir, 'up'), dir: join(dir, 'up-cfg') });
    const cache = await startOurRegistry({
      root: join(dir, 'cache'),
      dir: join(dir, 'cache-cfg'),
      extra: { proxy: { remoteurl: upstream.url } },
    });
    try {
      const amd64 = await pushImage(upstream.url, 'self/app', 'amd64', [randomBytes(300)]);
      const arm64 = await pushImage(upstream.url, 'self/app', 'arm64', [randomBytes(300)]);
      const size = async (digest: string) =>
        Number(
          (
            await fetch(`${upstream.url}/v2/self/app/manifests/${digest}`, {
              method: 'HEAD',
              headers: { accept: OCI },
            })
          ).headers.get('content-length'),
        );
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: INDEX,
        manifests: [
          {
            mediaType: OCI,
            digest: amd64,
            size: await size(amd64),
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: OCI,
            digest: arm64,
            size: await size(arm64),
            platform: { os: 'linux', architecture: 'arm64' },
          },
        ],
      });
      expect(
        (
          await fetch(`${upstream.url}/v2/self/app/manifests/multi`, {
            method: 'PUT',
            body: index,
            headers: { 'content-type': INDEX },
          })
        ).status,
      ).toBe(201);
      // A signature-like referrer of the amd64 image.
      const empty = await pushBlobTo(upstream.url, 'self/app', Buffer.from('{}'));
      const referrer = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI,
        artifactType: 'application/vnd.example.signature',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
        layers: [],
        subject: { mediaType: OCI, digest: amd64, size: await size(amd64) },
      });
      const pushed = await fetch(`${upstream.url}/v2/self/app/manifests/${sha256(referrer)}`, {
        method: 'PUT',
        body: referrer,
        headers: { 'content-type': OCI },
      });
      expect(pushed.status).toBe(201);

      const listed = (await (await fetch(`${cache.url}/v2/self/app/referrers/${amd64}`)).json()) as {
        manifests: { digest: string; artifactType: string }[];
      };
      expect(listed.manifests).toEqual([
        expect.objectContaining({
          digest: sha256(referrer),
          artifactType: 'application/vnd.example.signature',
        }),
      ]);
      const got = await fetch(`${cache.url}/v2/self/app/manifests/multi`, { headers: { accept: INDEX } });
      expect(got.status).toBe(200);
      expect(await got.text()).toBe(index);
      for (const child of [amd64, arm64]) {
        const res = await fetch(`${cache.url}/v2/self/app/manifests/${child}`, { headers: { accept: OCI } });
        expect(res.status).toBe(200);
        const manifest = (await res.json()) as { layers: { digest: string }[] };
        const layer = manifest.layers[0]?.digest as string;
        expect(await pullDigest(cache.url, 'self/app', layer)).toBe(layer);
      }
    } finally {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function pushBlobTo(base: string, repo: string, blob: Buffer): Promise<string> {
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
    method: 'POST',
    body: blob,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(res.status).toBe(201);
  return sha256(blob);
}
