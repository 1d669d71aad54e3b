import { createDriver } from '@regop/drivers';
import type { Swift } from '@regop/peers';
import { Digest, MediaType, parseConfigText, paths, Registry } from '@regop/registry';
import type { StorageDriver } from '@regop/storage';
import { pool } from './client.js';
import { type Backend, storageConfig } from './servers.js';

/** The storage driver of the store `storageConfig` gives registry `name`, for writing its layout directly. */
export async function openStore(backend: Backend, dir: string, name: string, swift?: Swift) {
  const { storage } = parseConfigText(`version: 0.1\n${storageConfig(backend, dir, name, swift)}\n`);
  return createDriver(storage, { readOnly: false });
}

/** The name of listing store entry `i`, padded so that names sort as numbers do. */
export const entryName = (i: number) => String(i).padStart(6, '0');

/**
 * A store of `size` repositories `lib/r<entry>` of one tag each, and a repository `big/tags` of `size` tags
 * `t<entry>`, written straight through the content model and the driver (pushing them would take longer than the
 * measure). Returns the one manifest's digest, which every tag names.
 */
export async function populateListings(driver: StorageDriver, size: number): Promise<Digest> {
  // Manifests name blobs that are not stored: listings read manifests and tags, never layers.
  const registry = new Registry(driver, {
    validation: { layers: 'none', indexChildren: 'none', config: false },
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${'1'.repeat(64)}`,
        size: 2,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'2'.repeat(64)}`, size: 9 },
      ],
    }),
  );
  const { digest } = await registry.manifests.put(
    'big/tags',
    { kind: 'tag', tag: `t${entryName(0)}` },
    MediaType.ociManifest,
    manifest,
  );
  await pool(size, 64, async (i) => {
    await driver.putContent(paths.tagCurrentLink(`lib/r${entryName(i)}`, 'latest'), Buffer.from(`${digest}`));
    await driver.putContent(paths.tagCurrentLink('big/tags', `t${entryName(i)}`), Buffer.from(`${digest}`));
  });
  return digest;
}

/**
 * A store of `manifests` images of ten small blobs each in 50 repositories, one image in ten deleted (its
 * blobs garbage), written through the content model.
 */
export async function populateImages(driver: StorageDriver, manifests: number): Promise<void> {
  const registry = new Registry(driver, {
    validation: { layers: 'none', indexChildren: 'none', config: false },
  });
  const pushed: { repo: string; digest: Digest }[] = [];
  await pool(manifests, 32, async (i) => {
    const repo = `gc/r${i % 50}`;
    const blobs = Array.from({ length: 10 }, (_, j) => Buffer.from(`blob ${i}-${j} ${Math.random()}`));
    for (const blob of blobs) {
      const digest = Digest.of('sha256', blob);
      await driver.putContent(paths.blobData(digest), blob);
      await registry.blobs.link(repo, digest);
    }
    const [config, ...layers] = blobs.map((b) => ({ digest: `${Digest.of('sha256', b)}`, size: b.length }));
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
      }),
    );
    pushed.push({
      repo,
      ...(await registry.manifests.put(repo, { kind: 'tag', tag: `t${i}` }, MediaType.ociManifest, body)),
    });
  });
  await pool(Math.floor(manifests / 10), 16, async (i) => {
    const m = pushed[i] as { repo: string; digest: Digest };
    await registry.manifests.delete(m.repo, m.digest);
  });
}
