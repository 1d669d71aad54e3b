import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Server, stopAll } from '@regop/peers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  insecure,
  makeOciImage,
  ociImageBlobs,
  ociManifestDigest,
  skopeo,
  verifyOciBlobs,
} from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { startDockerRegistry, startOurRegistry } from './support/registries.js';

const MiB = 1024 * 1024;

describeWithPeers(
  ['skopeo', 'umoci', 'docker-registry'],
  'one data directory shared with docker-registry 2.8',
  () => {
    let dir: string;
    let ours: Server;
    let theirs: Server;
    let layout: string;
    const host = (s: Server) => new URL(s.url).host;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'regop-interop-'));
      layout = await makeOciImage(dir, 'v1', [6 * MiB, 2 * MiB, 1024]);
      const root = join(dir, 'data');
      // Both serve the same root at once.
      ours = await startOurRegistry({ root, dir });
      theirs = await startDockerRegistry({ root, dir });
    });
    afterAll(async () => {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    });

    async function pullAndVerify(server: Server, repo: string, expected: string[], manifestDigest: string) {
      const out = join(dir, `pulled-${repo.replace(/\W/g, '-')}-${Date.now()}`);
      await skopeo('copy', ...insecure, `docker://${host(server)}/${repo}`, `oci:${out}:t`);
      expect(await ociManifestDigest(out, 't')).toBe(manifestDigest);
      expect(await verifyOciBlobs(out)).toEqual(expected);
    }

    it('docker-registry serves unchanged what this registry wrote (OCI and schema2)', async () => {
      await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host(ours)}/ours/oci:v1`);
      await pullAndVerify(
        theirs,
        'ours/oci:v1',
        await ociImageBlobs(layout, 'v1'),
        await ociManifestDigest(layout, 'v1'),
      );

      const digestFile = join(dir, 'v2s2.digest');
      await skopeo(
        'copy',
        ...insecure,
        '--format',
        'v2s2',
        '--digestfile',
        digestFile,
        `oci:${layout}:v1`,
        `docker://${host(ours)}/ours/docker:v1`,
      );
      const pushed = (await readFile(digestFile, 'utf8')).trim();
      const theirInspect = JSON.parse(
        (await skopeo('inspect', '--tls-verify=false', `docker://${host(theirs)}/ours/docker:v1`)).stdout,
      );
      expect(theirInspect.Digest).toBe(pushed);
      const raw = await fetch(`${theirs.url}/v2/ours/docker/manifests/v1`, {
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      expect(raw.headers.get('docker-content-digest')).toBe(pushed);

      const catalog = (await (await fetch(`${theirs.url}/v2/_catalog`)).json()) as { repositories: string[] };
      expect(catalog.repositories).toEqual(expect.arrayContaining(['ours/docker', 'ours/oci']));
      const tags = (await (await fetch(`${theirs.url}/v2/ours/oci/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toEqual(['v1']);
    });

    it('this registry serves what docker-registry wrote, chunks, tags and all', async () => {
      await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host(theirs)}/theirs/oci:v1`);
      await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host(theirs)}/theirs/oci:also`);
      await pullAndVerify(
        ours,
        'theirs/oci:v1',
        await ociImageBlobs(layout, 'v1'),
        await ociManifestDigest(layout, 'v1'),
      );
      const tags = JSON.parse(
        (await skopeo('list-tags', '--tls-verify=false', `docker://${host(ours)}/theirs/oci`)).stdout,
      );
      expect(tags.Tags).toEqual(['also', 'v1']);
      const catalog = (await (await fetch(`${ours.url}/v2/_catalog`)).json()) as { repositories: string[] };
      expect(catalog.repositories).toEqual(['ours/docker', 'ours/oci', 'theirs/oci']);
    });

    it('mounts across repositories written by the other registry', async () => {
      const manifest = JSON.parse(
        (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${host(theirs)}/theirs/oci:v1`))
          .stdout,
      );
      const layer = manifest.layers[0].digest as string;
      const res = await fetch(`${ours.url}/v2/mounted/blobs/uploads/?mount=${layer}&from=theirs/oci`, {
        method: 'POST',
      });
      expect(res.status).toBe(201);
      const head = await fetch(`${theirs.url}/v2/mounted/blobs/${layer}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
    });
  },
);
