export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
];

export const isIndexType = (mediaType: string) =>
  mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;

// Layers that are never pushed (they name URLs elsewhere), so a manifest may reference them without the blob.
const NON_DISTRIBUTABLE = [
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
];
export const isNonDistributable = (mediaType: string) => NON_DISTRIBUTABLE.includes(mediaType);

/** The bare media type of a header value (`type/sub; charset=...` -> `type/sub`), lower-cased. */
export const bareMediaType = (value: string | undefined): string | undefined => {
  const bare = value?.split(';', 1)[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
};
