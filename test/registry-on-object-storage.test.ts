import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { memoryOf, type Server, SWIFT_BINARIES, type Swift, startSwift, stopAll } from '@regop/peers';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { pullDigest, pushBlob, pushImage, pushLargeBlob, randomBytes, sha256 } from './support/http.js';
import {
  insecure,
  makeOciImage,
  ociImageBlobs,
  ociManifestDigest,
  skopeo,
  verifyOciBlobs,
} from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { REGISTRY_MAIN, startDockerRegistry, startOurRegistry } from './support/registries.js';

const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;

/** How one object store is configured for this registry and for distribution 2.8, on the one Swift. */
interface Backend {
  ours(over?: Record<string, unknown>): Record<string, unknown>;
  theirs(): Record<string, unknown>;
  /** distribution 2.8's environment (its s3 driver fails to start with AWS_CA_BUNDLE set). */
  env?: NodeJS.ProcessEnv;
  prepare?(): Promise<void>;
  /** Where a pull of a small blob is redirected to. */
  redirect(): RegExp;
  /** Bad settings and the message `registry serve` must fail with. */
  bad: [Record<string, unknown>, RegExp][];
}

describeWithPeers(
  [...SWIFT_BINARIES, 'skopeo', 'umoci', 'docker-registry'],
  'the registry on object storage (OpenStack Swift, through its Swift and S3 APIs)',
  () => {
    let dir: string;
    let swift: Swift;
    let layout: string;

    const s3 = (over: Record<string, unknown> = {}) => ({
      region: 'us-east-1',
      regionendpoint: swift.s3Endpoint,
      bucket: 'registry',
      accesskey: swift.user,
      secretkey: swift.key,
      rootdirectory: '/shared-root',
      chunksize: CHUNK,
      ...over,
    });
    const swiftParams = (over: Record<string, unknown> = {}) => ({
      authurl: swift.authUrl,
      username: swift.user,
      password: swift.key,
      // Not the S3 bucket (s3api serves containers as buckets); it does not exist yet: the registry creates it.
      container: 'swift-registry',
      prefix: '/shared-prefix',
      chunksize: CHUNK,
      ...over,
    });
    const backends: Record<'s3' | 'swift', Backend> = {
      s3: {
        // distribution 2.8's s3 driver has no forcepathstyle: a regionendpoint implies it.
        ours: (over) => ({ s3: s3({ forcepathstyle: true, ...over }) }),
        theirs: () => ({ s3: s3() }),
        env: { AWS_CA_BUNDLE: undefined },
        // Both drivers need the bucket to exist.
        async prepare() {
          const client = new S3Client({
            endpoint: swift.s3Endpoint,
            region: 'us-east-1',
            forcePathStyle: true,
            credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
          });
          await client.send(new CreateBucketCommand({ Bucket: 'registry' }));
          client.destroy();
        },
        redirect: () =>
          new RegExp(`^${swift.s3Endpoint}/registry/shared-root/docker/registry/v2/blobs/sha256/`),
        bad: [
          [{ secretkey: 'wrong' }, /storage\.s3\.accesskey\/secretkey: access to bucket registry denied/],
          [{ regionendpoint: 'http://127.0.0.1:1' }, /storage\.s3\.regionendpoint: cannot reach/],
          [{ bucket: 'no-such-bucket' }, /storage\.s3\.bucket: bucket no-such-bucket does not exist/],
        ],
      },
      swift: {
        ours: (over) => ({ swift: swiftParams(over) }),
        theirs: () => ({ swift: swiftParams() }),
        redirect: () =>
          new RegExp(
            `^${swift.s3Endpoint}/v1/AUTH_test/swift-registry/shared-prefix/files/docker/registry/v2/blobs/sha256/.*temp_url_sig=`,
          ),
        bad: [
          [
            { password: 'wrong' },
            /storage\.swift\.username\/password: .* refused the credentials of test:tester/,
          ],
          [{ authurl: 'http://127.0.0.1:1/auth/v1.0' }, /storage\.swift\.authurl: cannot reach/],
          [{ chunksize: 1000 }, /storage\.swift\.chunksize: must be at least 1 MiB/],
        ],
      },
    };

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'regop-objects-'));
      swift = await startSwift();
      // One layer over the chunk size, so it spans several parts or segments.
      layout = await makeOciImage(dir, 'v1', [12 * MiB, MiB, 4096]);
    }, 180_000);
    afterAll(async () => {
      await stopAll();
      await swift?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    for (const [name, backend] of Object.entries(backends)) {
      describe(name, () => {
        let ours: Server;
        let theirs: Server;
        const host = (s: Server) => new URL(s.url).host;
        const pull = async (server: Server, ref: string) => {
          const out = join(dir, `pull-${Math.random().toString(36).slice(2)}`);
          await skopeo('copy', ...insecure, `docker://${host(server)}/${ref}`, `oci:${out}:t`);
          expect(await ociManifestDigest(out, 't')).toBe(await ociManifestDigest(layout, 'v1'));
          expect(await verifyOciBlobs(out)).toEqual(await ociImageBlobs(layout, 'v1'));
        };

        beforeAll(async () => {
          await backend.prepare?.();
          ours = await startOurRegistry({
            root: '',
            dir: join(dir, `${name}-ours`),
            storage: backend.ours(),
            extra: { health: { storagedriver: { enabled: true, interval: '200ms', threshold: 1 } } },
          });
          theirs = await startDockerRegistry({
            root: '',
            dir: join(dir, `${name}-theirs`),
            storage: backend.theirs(),
            ...(backend.env && { env: backend.env }),
          });
        }, 120_000);
        afterAll(async () => {
          await Promise.all([ours?.stop(), theirs?.stop()]);
        });

        it('is healthy on an empty store (distribution answers 503 until something is written)', async () => {
          // Several health checks have run against the empty store by now.
          await new Promise((r) => setTimeout(r, 1000));
          const catalog = await fetch(`${ours.url}/v2/_catalog`);
          expect(catalog.status).toBe(200);
          expect(await catalog.json()).toEqual({ repositories: [] });
        });

        it('round-trips an image with skopeo', async () => {
          await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host(ours)}/${name}/app:v1`);
          await pull(ours, `${name}/app:v1`);
        });

        it('takes a chunked push (Content-Range PATCHes) across chunk boundaries and redirects pulls', async () => {
          const blob = randomBytes(13 * MiB + 7);
          const post = await fetch(`${ours.url}/v2/${name}/chunked/blobs/uploads/`, { method: 'POST' });
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
          // storage.redirect is enabled by default: the client fetches from the object store.
          const url = `${ours.url}/v2/${name}/chunked/blobs/${sha256(blob)}`;
          const redirect = await fetch(url, { redirect: 'manual' });
          expect(redirect.status).toBe(307);
          expect(redirect.headers.get('location')).toMatch(backend.redirect());
          expect(await pullDigest(ours.url, `${name}/chunked`, sha256(blob))).toBe(sha256(blob));
        });

        it('shares the store with docker-registry 2.8, both ways', async () => {
          await pull(theirs, `${name}/app:v1`);
          await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host(theirs)}/theirs/app:v1`);
          await pull(ours, 'theirs/app:v1');
          const catalog = (await (await fetch(`${ours.url}/v2/_catalog`)).json()) as {
            repositories: string[];
          };
          // <name>/chunked holds a blob but no manifest: not a repository to the catalog.
          expect(catalog.repositories).toEqual([`${name}/app`, 'theirs/app']);
        });

        it('fails fast, naming the key, on bad credentials or a wrong endpoint', async () => {
          for (const [over, message] of backend.bad) {
            const config = join(dir, `bad-${Math.random().toString(36).slice(2)}.yml`);
            await writeFile(
              config,
              stringify({ version: '0.1', storage: backend.ours(over), http: { addr: '127.0.0.1:0' } }),
            );
            const result = await execa(process.execPath, [REGISTRY_MAIN, 'serve', config], {
              reject: false,
              timeout: 60_000,
            });
            expect(result.exitCode).toBe(1);
            expect(result.stderr).not.toMatch(/\n\s+at /);
            expect(result.stderr).toMatch(message);
          }
        });

        it('survives the Swift proxy stopping mid-upload: a clean 503, nothing visible, the push succeeds once it is back', async () => {
          const blob = randomBytes(12 * MiB);
          const digest = sha256(blob);
          const post = await fetch(`${ours.url}/v2/${name}/faults/blobs/uploads/`, { method: 'POST' });
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
            expect(((await second.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
              'UNAVAILABLE',
            );
          } finally {
            await swift.startProxy();
          }
          // The health check saw the store down; the registry answers again once it has seen it back.
          for (let i = 0; i < 50 && (await fetch(`${ours.url}/v2/`)).status === 503; i++)
            await new Promise((r) => setTimeout(r, 100));
          expect(
            (await fetch(`${ours.url}/v2/${name}/faults/blobs/${digest}`, { method: 'HEAD' })).status,
          ).toBe(404);
          // The client starts the push again, as docker and skopeo do.
          expect((await pushBlob(ours.url, `${name}/faults`, blob)).status).toBe(201);
          expect(await pullDigest(ours.url, `${name}/faults`, digest)).toBe(digest);
        });

        it('streams a 1 GiB blob in and out with the registry memory flat', async () => {
          const before = await memoryOf(ours.pid);
          const { status, digest } = await pushLargeBlob(ours.url, `${name}/large`, 1024 * MiB);
          expect(status).toBe(201);
          expect(await pullDigest(ours.url, `${name}/large`, digest)).toBe(digest);
          const after = await memoryOf(ours.pid);
          console.log(
            `${name}: registry RSS ${before.rss >> 20} MiB before 1 GiB push+pull, peak ${after.peak >> 20} MiB (peak before: ${before.peak >> 20} MiB)`,
          );
          // Holding the blob would cost 1 GiB; streaming keeps a chunk or two in flight.
          expect(after.peak - before.rss).toBeLessThan(128 * MiB);
        }, 300_000);
      });
    }

    describe('scheduled collection on two registries sharing one Swift container', () => {
      it('collects on one registry at a time (the lease) and loses no image pushed while it runs', async () => {
        // No grace: the quarantine and rescan alone must keep pushes in flight safe.
        const storage = {
          ...backends.swift.ours({ container: 'scheduled-gc', prefix: '' }),
          maintenance: { garbagecollect: { enabled: true, interval: '1s', grace: '0s' } },
        };
        const units = await Promise.all(
          ['a', 'b'].map((name) =>
            startOurRegistry({ root: '', dir: join(dir, `scheduled-${name}`), storage }),
          ),
        );
        const pool = Array.from({ length: 4 }, () => randomBytes(64 * 1024));
        const tagged = new Map<string, string>();
        let retries = 0;
        // 20 clients push at once (a shared layer and one of their own); half delete theirs straight away,
        // leaving garbage for the collections running meanwhile.
        await Promise.all(
          Array.from({ length: 20 }, async (_, w) => {
            const unit = units[w % 2] as Server;
            const tag = `w${w}`;
            for (let attempt = 1; ; attempt++) {
              try {
                tagged.set(
                  tag,
                  await pushImage(unit.url, 'scheduled/app', tag, [pool[w % 4] as Buffer, randomBytes(4096)]),
                );
                break;
              } catch (err) {
                // A push that raced a sweep is refused cleanly; clients retry it.
                if (attempt === 5) throw err;
                retries++;
              }
            }
            if (w % 4 >= 2) {
              const res = await fetch(`${unit.url}/v2/scheduled/app/manifests/${tagged.get(tag)}`, {
                method: 'DELETE',
              });
              expect(res.status).toBe(202);
              tagged.delete(tag);
            }
          }),
        );
        // Wait for a run that began after the last push and delete (it frees what was deleted), then check.
        const settled = Date.now();
        const finishedSince = () =>
          units.some((u) =>
            u
              .output()
              .split('\n')
              .some(
                (l) =>
                  l.includes('"garbage collection finished"') &&
                  Date.parse((JSON.parse(l) as { gc: { lease: { heldFrom: string } } }).gc.lease.heldFrom) >
                    settled,
              ),
          );
        for (let i = 0; i < 300 && !finishedSince(); i++) await new Promise((r) => setTimeout(r, 100));
        expect(finishedSince()).toBe(true);
        for (const [tag, digest] of tagged) {
          const unit = units[Number(tag.slice(1)) % 2] as Server;
          const res = await fetch(`${unit.url}/v2/scheduled/app/manifests/${tag}`, {
            headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
          });
          expect(res.status, tag).toBe(200);
          expect(res.headers.get('docker-content-digest'), tag).toBe(digest);
          const manifest = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
          for (const blob of [manifest.config, ...manifest.layers])
            expect(await pullDigest(unit.url, 'scheduled/app', blob.digest), tag).toBe(blob.digest);
        }
        await Promise.all(units.map((u) => u.stop()));

        // Each finished run's hold on the lease, from both logs: no two overlap.
        const runs = units.flatMap((u, n) =>
          u
            .output()
            .split('\n')
            .filter((l) => l.includes('"garbage collection finished"'))
            .map((l) => {
              const { gc } = JSON.parse(l) as {
                gc: { blobsDeleted: number; lease: { heldFrom: string; heldUntil: string } };
              };
              return {
                unit: n,
                start: Date.parse(gc.lease.heldFrom),
                end: Date.parse(gc.lease.heldUntil),
                freed: gc.blobsDeleted,
              };
            }),
        );
        const byUnit = [0, 1].map((n) => runs.filter((r) => r.unit === n).length);
        console.log(`scheduled runs per registry: ${byUnit.join(' and ')}; client retries: ${retries}`);
        expect(runs.length).toBeGreaterThanOrEqual(2);
        expect(runs.reduce((n, r) => n + r.freed, 0)).toBeGreaterThan(0);
        const sorted = runs.sort((x, y) => x.start - y.start);
        for (let i = 1; i < sorted.length; i++)
          expect(sorted[i]?.start, 'a run began before the previous one ended').toBeGreaterThanOrEqual(
            sorted[i - 1]?.end as number,
          );
        expect(units.every((u) => !u.output().includes('"garbage collection failed"'))).toBe(true);
      }, 300_000);
    });
  },
);
