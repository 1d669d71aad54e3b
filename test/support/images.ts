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

/**
 * An OCI layout whose `tag` names an image index of one image per architecture (linux), each a layer of its
 * own: what `docker buildx` pushes for a multi-arch image. Returns the layout and the children's digests.
 */
export async function makeMultiArchLayout(
  dir: string,
  tag: string,
  architectures: string[],
): Promise<{ layout: string; children: Record<string, string> }> {
  const layout = join(dir, 'multiarch');
  await execa('umoci', ['init', '--layout', layout]);
  const children: Record<string, string> = {};
  const descriptors = [];
  for (const arch of architectures) {
    await execa('umoci', ['new', '--image', `${layout}:${arch}`]);
    await addLayer(layout, arch, arch, 16 * 1024);
    await execa('umoci', ['config', '--image', `${layout}:${arch}`, '--architecture', arch, '--os', 'linux']);
    const digest = await ociManifestDigest(layout, arch);
    const size = (await readFile(join(layout, 'blobs/sha256', digest.slice(7)))).length;
    children[arch] = digest;
    descriptors.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size,
      platform: { architecture: arch, os: 'linux' },
    });
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: descriptors,
    }),
  );
  const digest = createHash('sha256').update(index).digest('hex');
  await writeFile(join(layout, 'blobs/sha256', digest), index);
  const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: unknown[] };
  top.manifests.push({
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest: `sha256:${digest}`,
    size: index.length,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  await writeFile(join(layout, 'index.json'), JSON.stringify(top));
  return { layout, children };
}
