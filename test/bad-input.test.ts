import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { memoryOf, type Server, stopAll } from '@regop/peers';
import { Digest, MediaType, Registry } from '@regop/registry';
import { FilesystemDriver } from '@regop/storage-fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, sha256 } from './support/http.js';
import { startOurRegistry } from './support/registries.js';

/** Requests sent byte for byte (no client normalises the `..` away). */
const request = (method: string, path: string, extra = '', body = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe('bad input over the wire', () => {
  let dir: string;
  let registry: Server;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-bad-'));
    registry = await startOurRegistry({ root: join(dir, 'data'), dir });
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  const traversal: [string, string, number[]][] = [
    ['GET', '/v2/../../etc/passwd/tags/list', [400]],
    ['GET', '/v2/a/../../b/tags/list', [400]],
    ['POST', '/v2/a/./b/blobs/uploads/', [400]],
    ['POST', '/v2/%2e%2e/blobs/uploads/', [400]],
    ['POST', '/v2//a/blobs/uploads/', [400]],
    ['PUT', '/v2/a/manifests/..', [400]],
    ['PUT', '/v2/a/manifests/%2e%2e%2fescape', [400]],
    ['GET', '/v2/a/blobs/sha256:..%2f..%2f..%2fetc', [400]],
    ['GET', `/v2/a/blobs/sha256:${'0'.repeat(63)}/`, [400, 404]],
    ['PATCH', '/v2/a/blobs/uploads/..', [404]],
    ['PATCH', '/v2/a/blobs/uploads/..%2F..%2F..%2Fescape', [404]],
    ['PUT', `/v2/a/blobs/uploads/../../../../escape?digest=${sha256('x')}`, [400, 404]],
    ['DELETE', '/v2/a/blobs/uploads/%2e%2e', [404]],
  ];
  it.each(traversal)('%s %s is refused with a spec error', async (method, path, statuses) => {
    const { status, response } = await rawRequest(
      registry.url,
      request(method, path, 'Content-Type: application/octet-stream\r\n', 'x'),
    );
    expect(statuses, response).toContain(status);
    expect(response).toMatch(
      /"code":"(NAME_INVALID|TAG_INVALID|DIGEST_INVALID|BLOB_UPLOAD_UNKNOWN|UNSUPPORTED)"/,
    );
  });

  it('serves zero-byte blobs, sha256 and sha512, whole and by HEAD', async () => {
    for (const algorithm of ['sha256', 'sha512']) {
      const digest = `${algorithm}:${createHash(algorithm).digest('hex')}`;
      const pushed = await fetch(`${registry.url}/v2/empty/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        body: new Uint8Array(0),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(pushed.status, digest).toBe(201);
      const head = await fetch(`${registry.url}/v2/empty/blobs/${digest}`, { method: 'HEAD' });
      expect(head.headers.get('content-length')).toBe('0');
      const get = await fetch(`${registry.url}/v2/empty/blobs/${digest}`);
      expect(get.status, digest).toBe(200);
      expect(get.headers.get('docker-content-digest')).toBe(digest);
      expect((await get.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it('answers huge headers and garbage without crashing', async () => {
    // Past distribution's 1 MiB of headers.
    const huge = await rawRequest(
      registry.url,
      request('GET', '/v2/', `X-Big: ${'a'.repeat(2 * 1024 * 1024)}\r\n`),
    );
    // Refused with 431, or cut off while the client was still sending it.
    if (!(huge.reset && huge.status === 0)) expect(huge.status).toBe(431);
    const garbage = await rawRequest(registry.url, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.status).toBe(400);
    const longName = await rawRequest(registry.url, request('GET', `/v2/${'a/'.repeat(3000)}a/tags/list`));
    expect(longName.status).toBe(400);
    const badAuth = await rawRequest(registry.url, request('GET', '/v2/', 'Authorization: Basic ::::\r\n'));
    expect(badAuth.status).toBe(200);
    expect((await fetch(`${registry.url}/v2/`)).status).toBe(200);
  });

  it('wrote nothing outside its root, and no 500 was ever logged', async () => {
    for (const entry of await readdir(dir)) expect(['data', 'ours.yml']).toContain(entry);
    expect(registry.output()).not.toMatch(/"status":5\d\d/);
  });
});

describe('a subject with thousands of referrers', () => {
  let dir: string;
  let registry: Server;
  const referrers = 2000;
  /** A small page (the default is 4 MiB), so the 20 MB list comes in about 80 answers. */
  const PAGE_BYTES = 256 * 1024;
  let subject: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-referrers-'));
    // Written in-process (2,000 pushes over HTTP would only add time): ~10 KiB of annotations each, 20 MB in all.
    const store = new Registry(new FilesystemDriver({ rootDirectory: join(dir, 'data') }));
    const empty = Buffer.from('{}');
    const upload = await store.uploads.start('sbom/app');
    await store.uploads.commit('sbom/app', upload.id, Digest.of('sha256', empty), Readable.from([empty]));
    const image = (extra: object) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: { mediaType: MediaType.ociEmpty, digest: `${Digest.of('sha256', empty)}`, size: 2 },
          layers: [],
          ...extra,
        }),
      );
    const target = image({});
    subject = `${(await store.manifests.put('sbom/app', { kind: 'tag', tag: 'v1' }, MediaType.ociManifest, target)).digest}`;
    const descriptor = { mediaType: MediaType.ociManifest, digest: subject, size: target.length };
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < referrers) {
          const body = image({
            artifactType: 'application/spdx+json',
            subject: descriptor,
            annotations: { n: String(next++), padding: 'x'.repeat(10_000) },
          });
          await store.manifests.put(
            'sbom/app',
            { kind: 'digest', digest: Digest.of('sha256', body) },
            MediaType.ociManifest,
            body,
          );
        }
      }),
    );
    registry = await startOurRegistry({
      root: join(dir, 'data'),
      dir,
      extra: { referrers: { pagesize: PAGE_BYTES } },
    });
  }, 120_000);
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('pages the referrers list with Link, never held whole: ten clients at once, every list whole, memory flat', async () => {
    const before = await memoryOf(registry.pid);
    const largest: number[] = [];
    const lists = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const numbers: number[] = [];
        for (let next: string | undefined = `/v2/sbom/app/referrers/${subject}`; next; ) {
          const res = await fetch(`${registry.url}${next}`);
          expect(res.headers.get('content-type')).toBe(MediaType.ociIndex);
          const body = await res.text();
          largest.push(body.length);
          const index = JSON.parse(body) as { manifests: { annotations: { n: string } }[] };
          numbers.push(...index.manifests.map((m) => Number(m.annotations.n)));
          next = /^<https?:\/\/[^/]+([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];
        }
        return numbers.sort((a, b) => a - b);
      }),
    );
    const after = await memoryOf(registry.pid);
    for (const list of lists) expect(list).toEqual(Array.from({ length: referrers }, (_, i) => i));
    // Each answer is one page: its descriptors within the configured size, the index's envelope around them.
    expect(Math.max(...largest)).toBeLessThanOrEqual(PAGE_BYTES + 100);
    // Built whole, each list would cost its 20 MB several times over, ten at once (it took the RSS up 375 MB).
    // Paged and streamed, read past the manifest cache, nothing outlives its descriptor; what the RSS shows is
    // V8's old generation taking in that churn's garbage up to its first full collection (node --trace-gc: about
    // 70 MB of heap, 16 MB live after each), which no answer's size changes.
    expect(after.peak - before.rss, `RSS ${before.rss >> 20} MiB, peak ${after.peak >> 20} MiB`).toBeLessThan(
      128 * 1024 * 1024,
    );
  }, 120_000);
});
