import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export const sha256File = async (path: string): Promise<string> => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
};

/** Adds a layer holding `size` random bytes on top of `from`, tagged `to` (the same tag to extend it). */
export async function addLayer(layout: string, from: string, to: string, size: number): Promise<void> {
  const bundle = `${layout}-bundle-${to}`;
  await execa('umoci', ['unpack', '--rootless', '--image', `${layout}:${from}`, bundle]);
  await mkdir(join(bundle, 'rootfs/data'), { recursive: true });
  await writeFile(join(bundle, `rootfs/data/${to}-${Date.now()}-${size}.bin`), randomBytes(size));
  await execa('umoci', ['repack', '--image', `${layout}:${to}`, bundle]);
  await rm(bundle, { recursive: true, force: true });
}

/**
 * Builds a multi-layer OCI image layout with umoci: one layer per entry of `layerSizes`, each adding a file
 * of that many random bytes (random data does not compress, so the image is as large as asked).
 */
export async function makeOciImage(dir: string, tag: string, layerSizes: number[]): Promise<string> {
  const layout = join(dir, 'layout');
  await execa('umoci', ['init', '--layout', layout]);
  await execa('umoci', ['new', '--image', `${layout}:${tag}`]);
  for (const size of layerSizes) await addLayer(layout, tag, tag, size);
  await execa('umoci', ['config', '--image', `${layout}:${tag}`, '--config.cmd', '/data']);
  return layout;
}

/** The manifest digest a tag names in an OCI layout. */
export async function ociManifestDigest(layout: string, tag: string): Promise<string> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`tag ${tag} not in ${layout}`);
  return entry.digest;
}

/** Every blob of an OCI layout, checked against its file name; returns the digests. */
export async function verifyOciBlobs(layout: string): Promise<string[]> {
  const dir = join(layout, 'blobs/sha256');
  const digests: string[] = [];
  for (const name of await readdir(dir)) {
    const actual = await sha256File(join(dir, name));
    if (actual !== `sha256:${name}`) throw new Error(`blob ${name} has digest ${actual}`);
    digests.push(actual);
  }
  return digests.sort();
}

export const skopeo = (...args: string[]) => execa('skopeo', args, { timeout: 240_000 });
export const insecure = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/** The manifest, config and layer digests of a tagged image in an OCI layout, sorted. */
export async function ociImageBlobs(layout: string, tag: string): Promise<string[]> {
  const digest = await ociManifestDigest(layout, tag);
  const manifest = JSON.parse(
    await readFile(join(layout, 'blobs/sha256', digest.slice('sha256:'.length)), 'utf8'),
  ) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  return [digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)].sort();
}

/** `skopeo inspect` of an image reference, parsed; `flags` (such as --creds) go before the reference. */
export async function inspect(
  reference: string,
  ...flags: string[]
): Promise<{ Digest: string; Layers: string[] }> {
  return JSON.parse((await skopeo('inspect', '--tls-verify=false', ...flags, reference)).stdout);
}

/** A `skopeo copy` that should be refused: resolves with its error, or undefined if it succeeded. */
export const refusedCopy = (...args: string[]): Promise<Error | undefined> =>
  skopeo('copy', ...args).then(
    () => undefined,
    (err: Error) => err,
  );
