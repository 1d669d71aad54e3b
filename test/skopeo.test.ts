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
  sha256File,
  skopeo,
  verifyOciBlobs,
} from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { startOurRegistry } from './support/registries.js';

const MiB = 1024 * 1024;

describeWithPeers(['skopeo', 'umoci'], 'skopeo round trips through the registry', () => {
  let dir: string;
  let registry: Server;
  let layout: string;
  let host: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-skopeo-'));
    // Four layers, 54 MiB in all: big enough to span many HTTP chunks.
    layout = await makeOciImage(dir, 'v1', [30 * MiB, 16 * MiB, 8 * MiB, 4096]);
    registry = await startOurRegistry({ root: join(dir, 'data'), dir });
    host = new URL(registry.url).host;
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('copies an OCI image in and back out with identical digests', async () => {
    const pushed = join(dir, 'oci.digest');
    await skopeo(
      'copy',
      ...insecure,
      '--digestfile',
      pushed,
      `oci:${layout}:v1`,
      `docker://${host}/apps/oci-image:v1`,
    );
    const original = await ociManifestDigest(layout, 'v1');
    expect((await readFile(pushed, 'utf8')).trim()).toBe(original);

    const out = join(dir, 'out-oci');
    await skopeo('copy', ...insecure, `docker://${host}/apps/oci-image:v1`, `oci:${out}:v1`);
    expect(await ociManifestDigest(out, 'v1')).toBe(original);
    expect(await verifyOciBlobs(out)).toEqual(await ociImageBlobs(layout, 'v1'));
  });

  it('copies a Docker schema2 image (--format v2s2) in and out unchanged', async () => {
    const pushed = join(dir, 'v2s2.digest');
    await skopeo(
      'copy',
      ...insecure,
      '--format',
      'v2s2',
      '--digestfile',
      pushed,
      `oci:${layout}:v1`,
      `docker://${host}/apps/docker-image:v2`,
    );
    const digest = (await readFile(pushed, 'utf8')).trim();

    const inspect = JSON.parse(
      (await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${host}/apps/docker-image:v2`))
        .stdout,
    );
    expect(inspect.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(inspect.layers).toHaveLength(4);

    // dir: keeps the manifest byte for byte, so its digest must be the one pushed.
    const out = join(dir, 'out-dir');
    await skopeo('copy', ...insecure, `docker://${host}/apps/docker-image:v2`, `dir:${out}`);
    expect(await sha256File(join(out, 'manifest.json'))).toBe(digest);
    for (const layer of [...inspect.layers, inspect.config] as { digest: string }[]) {
      expect(await sha256File(join(out, layer.digest.slice('sha256:'.length)))).toBe(layer.digest);
    }
  });

  it('inspects, lists tags and deletes', async () => {
    await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${host}/apps/oci-image:v1.1`);
    const info = JSON.parse(
      (await skopeo('inspect', '--tls-verify=false', `docker://${host}/apps/oci-image:v1`)).stdout,
    );
    expect(info.Digest).toBe(await ociManifestDigest(layout, 'v1'));
    expect(info.Layers).toHaveLength(4);
    const tags = JSON.parse(
      (await skopeo('list-tags', '--tls-verify=false', `docker://${host}/apps/oci-image`)).stdout,
    );
    expect(tags.Tags).toEqual(['v1', 'v1.1']);

    await skopeo('delete', '--tls-verify=false', `docker://${host}/apps/oci-image:v1`);
    // Deleting by tag deletes the manifest, and with it every tag that named it.
    const after = await skopeo('inspect', '--tls-verify=false', `docker://${host}/apps/oci-image:v1`).catch(
      (e) => e,
    );
    expect(after).toBeInstanceOf(Error);
    const left = JSON.parse(
      (await skopeo('list-tags', '--tls-verify=false', `docker://${host}/apps/oci-image`)).stdout,
    );
    expect(left.Tags).toEqual([]);
  });
});
