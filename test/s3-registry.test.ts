import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { pushBlob, randomBytes, sha256 } from './support/http.js';
import {
  insecure,
  makeOciImage,
  ociImageBlobs,
  ociManifestDigest,
  skopeo,
  verifyOciBlobs,
} from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { type Server, stopAll } from './support/process.js';
import { REGISTRY_MAIN, startDockerRegistry, startOurRegistry } from './support/registries.js';
import { SWIFT_BINARIES, type Swift, startSwift } from './support/swift.js';

const MiB = 1024 * 1024;

describeWithPeers(
  [...SWIFT_BINARIES, 'skopeo', 'umoci', 'docker-registry'],
  'the registry on S3 (Swift s3api)',
  () => {
    let dir: string;
    let swift: Swift;
    let layout: string;
    let ours: Server;
    let theirs: Server;
    const s3 = (over: Record<string, unknown> = {}) => ({
      region: 'us-east-1',
      regionendpoint: swift.s3Endpoint,
      bucket: 'registry',
      accesskey: swift.user,
      secretkey: swift.key,
      rootdirectory: '/shared-root',
      chunksize: 5 * MiB,
      ...over,
    });
    const host = (s: Server) => new URL(s.url).host;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'regop-s3-'));
      swift = await startSwift();
      const client = new S3Client({
        endpoint: swift.s3Endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
      });
      await client.send(new CreateBucketCommand({ Bucket: 'registry' }));
      client.destroy();
      // One layer over the 5 MiB chunk size, so it spans several parts.
      layout = await makeOciImage(dir, 'v1', [12 * MiB, MiB, 4096]);
      ours = await startOurRegistry({
        root: '',
        dir: join(dir, 'ours'),
        storage: { s3: s3({ forcepathstyle: true }) },
      });
      // distribution 2.8's s3 driver has no forcepathstyle (a regionendpoint implies it) and fails to start
      // with AWS_CA_BUNDLE in its environment.
      theirs = await startDockerRegistry({
        root: '',
        dir: join(dir, 'theirs'),
        storage: { s3: s3() },
        env: { AWS_CA_BUNDLE: undefined },
      });
    }, 180_000);
    afterAll(async () => {
      await stopAll();
      await swift?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    const pull = async (server: Server, ref: string) => {
      const out = join(dir, `pull-${Math.random().toString(36).slice(2)}`);
      await skopeo('copy', ...insecure, `docker://${host(server)}/${ref}`, `oci:${out}:t`);
      expect(await ociManifestDigest(out, 't')).toBe(await ociManifestDigest(layout, 'v1'));
      expect(await verifyOciBlobs(out)).toEqual(await ociImageBlobs(layout, 'v1'));
    };

    it('round-trips an image with skopeo', async () => {
      await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host(ours)}/s3/app:v1`);
      await pull(ours, 's3/app:v1');
    });

    it('takes a chunked push (Content-Range PATCHes) across part boundaries', async () => {
      const blob = randomBytes(13 * MiB + 7);
      const post = await fetch(`${ours.url}/v2/s3/chunked/blobs/uploads/`, { method: 'POST' });
      let location = post.headers.get('location') as string;
      for (let start = 0; start < blob.length; start += 3 * MiB) {
        const part = blob.subarray(start, start + 3 * MiB);
        const res = await fetch(location, {
          method: 'PATCH',
          body: part,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${start}-${start + part.length - 1}`,
          },
        });
        expect(res.status).toBe(202);
        location = res.headers.get('location') as string;
      }
      expect((await fetch(`${location}?digest=${sha256(blob)}`, { method: 'PUT' })).status).toBe(201);
      // Pulls are redirected to a presigned URL on the object store (storage.redirect is enabled by default).
      const redirect = await fetch(`${ours.url}/v2/s3/chunked/blobs/${sha256(blob)}`, { redirect: 'manual' });
      expect(redirect.status).toBe(307);
      expect(redirect.headers.get('location')).toMatch(
        new RegExp(`^${swift.s3Endpoint}/registry/shared-root/docker/registry/v2/blobs/sha256/`),
      );
      const pulled = Buffer.from(
        await (await fetch(`${ours.url}/v2/s3/chunked/blobs/${sha256(blob)}`)).arrayBuffer(),
      );
      expect(sha256(pulled)).toBe(sha256(blob));
    });

    it('shares the bucket with docker-registry 2.8, both ways', async () => {
      await pull(theirs, 's3/app:v1');
      await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host(theirs)}/theirs/app:v1`);
      await pull(ours, 'theirs/app:v1');
      const catalog = (await (await fetch(`${ours.url}/v2/_catalog`)).json()) as { repositories: string[] };
      // s3/chunked holds a blob but no manifest: not a repository to the catalog.
      expect(catalog.repositories).toEqual(['s3/app', 'theirs/app']);
    });

    it('fails fast, naming the key, on bad credentials, a wrong endpoint or a missing bucket', async () => {
      const serve = async (over: Record<string, unknown>) => {
        const config = join(dir, `bad-${Math.random().toString(36).slice(2)}.yml`);
        await writeFile(
          config,
          stringify({ version: '0.1', storage: { s3: s3(over) }, http: { addr: '127.0.0.1:0' } }),
        );
        const result = await execa(process.execPath, [REGISTRY_MAIN, 'serve', config], {
          reject: false,
          timeout: 60_000,
        });
        expect(result.exitCode).toBe(1);
        expect(result.stderr).not.toMatch(/\n\s+at /);
        return result.stderr;
      };
      expect(await serve({ secretkey: 'wrong' })).toMatch(
        /storage\.s3\.accesskey\/secretkey: access to bucket registry denied/,
      );
      expect(await serve({ regionendpoint: 'http://127.0.0.1:1' })).toMatch(
        /storage\.s3\.regionendpoint: cannot reach/,
      );
      expect(await serve({ bucket: 'no-such-bucket' })).toMatch(
        /storage\.s3\.bucket: bucket no-such-bucket does not exist/,
      );
    });

    it('survives the Swift proxy stopping mid-upload: a clean 503, nothing visible, the push succeeds once it is back', async () => {
      const blob = randomBytes(12 * MiB);
      const digest = sha256(blob);
      const post = await fetch(`${ours.url}/v2/s3/faults/blobs/uploads/`, { method: 'POST' });
      const chunk = (start: number, end: number, url: string) =>
        fetch(url, {
          method: 'PATCH',
          body: blob.subarray(start, end),
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}` },
        });
      const first = await chunk(0, 6 * MiB, post.headers.get('location') as string);
      expect(first.status).toBe(202);

      await swift.stopProxy();
      try {
        const second = await chunk(6 * MiB, blob.length, first.headers.get('location') as string);
        expect(second.status).toBe(503);
        expect(((await second.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAVAILABLE');
      } finally {
        await swift.startProxy();
      }
      expect((await fetch(`${ours.url}/v2/s3/faults/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
      // The client starts the push again, as docker and skopeo do.
      expect((await pushBlob(ours.url, 's3/faults', blob)).status).toBe(201);
      const pulled = Buffer.from(
        await (await fetch(`${ours.url}/v2/s3/faults/blobs/${digest}`)).arrayBuffer(),
      );
      expect(sha256(pulled)).toBe(digest);
    });
  },
);
