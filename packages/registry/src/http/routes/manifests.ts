import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { LRUCache } from 'lru-cache';
import type { StoredManifest } from '../../content/manifests.js';
import { MAX_MANIFEST_BYTES } from '../../content/manifests.js';
import { bareMediaType, isIndexType, MANIFEST_MEDIA_TYPES, MediaType } from '../../content/media-types.js';
import { RegistryError } from '../../errors.js';
import { Digest, parseReference, parseTag, type Reference } from '../../reference.js';
import { readLimited } from '../body.js';
import type { Handler, RouteContext } from '../context.js';

// Clients send a handful of distinct Accept headers, each on every pull: each is parsed once.
const acceptCache = new LRUCache<string, { types: string[] | undefined }>({ max: 64 });

function acceptedTypes(header: string | string[] | undefined): string[] | undefined {
  if (typeof header !== 'string') return parseAccept(header);
  let cached = acceptCache.get(header);
  if (!cached) {
    cached = { types: parseAccept(header) };
    acceptCache.set(header, cached);
  }
  return cached.types;
}

function parseAccept(header: string | string[] | undefined): string[] | undefined {
  const values = (Array.isArray(header) ? header : header === undefined ? [] : [header])
    .flatMap((h) => h.split(','))
    .map((v) => bareMediaType(v))
    .filter((v): v is string => v !== undefined);
  // No Accept, or a wildcard: any manifest type will do.
  return values.length === 0 || values.includes('*/*') || values.includes('application/*')
    ? undefined
    : values;
}

/**
 * Serves what the client accepts, as distribution does: a Docker manifest list to a client that takes only
 * single-image manifests is answered with its linux/amd64 image; other unacceptable types are MANIFEST_UNKNOWN.
 */
async function negotiate(ctx: RouteContext, manifest: StoredManifest): Promise<StoredManifest> {
  const accepted = acceptedTypes(ctx.request.headers.accept);
  if (
    !accepted ||
    accepted.includes(manifest.mediaType) ||
    !MANIFEST_MEDIA_TYPES.some((t) => accepted.includes(t))
  ) {
    return manifest;
  }
  if (manifest.mediaType === MediaType.dockerManifestList) {
    const list = JSON.parse(manifest.content.toString('utf8')) as {
      manifests: { digest: string; platform?: { os?: string; architecture?: string } }[];
    };
    const child = list.manifests.find(
      (m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64',
    );
    if (child) {
      const image = await ctx.registry.manifests.get(ctx.name, {
        kind: 'digest',
        digest: Digest.parse(child.digest),
      });
      if (accepted.includes(image.mediaType)) return image;
    }
  }
  const what = isIndexType(manifest.mediaType) ? 'an index' : 'a manifest';
  throw new RegistryError(
    'MANIFEST_UNKNOWN',
    `found ${what} of type ${manifest.mediaType}, but the Accept header does not allow it`,
    { mediaType: manifest.mediaType },
  );
}

const manifestTarget = (ctx: RouteContext, mediaType: string, size: number, digest: string) => ({
  mediaType,
  size,
  digest,
  length: size,
  url: ctx.url(`/v2/${ctx.name}/manifests/${digest}`),
});

/** The digest to report: in the algorithm the client asked by, when it asked by digest. */
const reportedDigest = (reference: Reference, manifest: StoredManifest) =>
  reference.kind === 'digest' && manifest.digest.equals(reference.digest)
    ? reference.digest
    : manifest.digest;

export const getManifest: Handler = async (ctx) => {
  const reference = parseReference(ctx.params.reference as string);
  const stored = ctx.options.proxy
    ? await ctx.options.proxy.manifest(ctx.name, reference)
    : await ctx.registry.manifests.get(ctx.name, reference);
  const manifest = await negotiate(ctx, stored);
  const digest = `${reportedDigest(reference, manifest)}`;
  const etag = `"${digest}"`;
  ctx.reply
    .header('docker-content-digest', digest)
    .header('etag', etag)
    .header('content-type', manifest.mediaType);
  if (ctx.request.headers['if-none-match'] === etag) return void ctx.reply.code(304).send();
  ctx.reply.header('content-length', manifest.content.length);
  // distribution counts a HEAD as a pull too.
  ctx.notify('pull', () => ({
    ...manifestTarget(ctx, manifest.mediaType, manifest.content.length, digest),
    ...(reference.kind === 'tag' && { tag: reference.tag }),
  }));
  ctx.reply.send(ctx.request.method === 'HEAD' ? undefined : manifest.content);
};

/** Tags a manifest PUT may carry as `?tag=` parameters. */
export const MAX_TAGS_PER_PUT = 100;

/** The `?tag=` parameters of a manifest PUT, validated; 414 past the limit. */
function tagParameters(query: unknown): string[] {
  const value = (query as { tag?: string | string[] }).tag;
  const tags = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (tags.length > MAX_TAGS_PER_PUT)
    throw new RegistryError('TAG_INVALID', `at most ${MAX_TAGS_PER_PUT} tags a request`, undefined, 414);
  return tags.map(parseTag);
}

export const putManifest: Handler = async (ctx) => {
  const reference = parseReference(ctx.params.reference as string);
  const extraTags = tagParameters(ctx.request.query);
  const body = await readLimited(ctx.request.raw, MAX_MANIFEST_BYTES, 'manifest');
  const contentType = bareMediaType(ctx.request.headers['content-type']);
  const result = await ctx.registry.manifests.put(ctx.name, reference, contentType, body, extraTags);
  if (result.subject) ctx.reply.header('oci-subject', `${result.subject}`);
  // One OCI-Tag header per tag the request created (the spec's answer to `?tag=`).
  if (extraTags.length > 0) ctx.reply.header('oci-tag', result.tags);
  const target = manifestTarget(ctx, result.mediaType, body.length, `${result.digest}`);
  if (result.tags.length === 0) ctx.notify('push', () => target);
  for (const tag of result.tags) ctx.notify('push', () => ({ ...target, tag }));
  ctx.reply
    .code(201)
    .header('location', ctx.url(`/v2/${ctx.name}/manifests/${result.digest}`))
    .header('docker-content-digest', `${result.digest}`)
    .header('content-length', 0)
    .send();
};

export const deleteManifest: Handler = async (ctx) => {
  const reference = parseReference(ctx.params.reference as string);
  if (reference.kind === 'tag') {
    await ctx.registry.tags.untag(ctx.name, reference.tag);
    ctx.notify('delete', () => ({ tag: reference.tag }));
  } else {
    const tags = await ctx.registry.manifests.delete(ctx.name, reference.digest);
    // As distribution: the manifest's deletion, then one for each tag that went with it.
    ctx.notify('delete', () => ({ digest: `${reference.digest}` }));
    for (const tag of tags) ctx.notify('delete', () => ({ tag }));
  }
  ctx.reply.code(202).header('content-length', 0).send();
};

/** How many bytes of descriptors a referrers answer carries before the rest goes to a next page. */
export const REFERRERS_PAGE_BYTES = 4 * 1024 * 1024;
/** What a descriptor adds to the fields it takes from its manifest: its digest, size, media type, a comma. */
const DESCRIPTOR_FIELDS_BYTES = 256;

export const getReferrers: Handler = async (ctx) => {
  const subject = Digest.parse(ctx.params.digest as string);
  const artifactType = ctx.query.artifactType;
  // A pull-through cache passes upstream's list on while upstream answers.
  const upstream = await ctx.options.proxy?.referrers(ctx.name, subject, artifactType);
  if (upstream) {
    const filters = upstream.headers.get('oci-filters-applied');
    if (filters) ctx.reply.header('oci-filters-applied', filters);
    return void ctx.reply
      .header('content-type', MediaType.ociIndex)
      .send(Readable.fromWeb(upstream.body as WebReadableStream<Uint8Array>));
  }
  const last = ctx.query.last === undefined ? undefined : Digest.parse(ctx.query.last);
  if (artifactType !== undefined) ctx.reply.header('oci-filters-applied', 'artifactType');
  const { manifests } = ctx.registry;
  // Where this page ends, worked out before the body: the spec lets a registry page a list larger than it wants to
  // send at once, naming the next page in a Link header. Unfiltered, from the referrers' stored sizes (bounds of
  // their descriptors; nothing read); filtered, from the descriptors themselves (none kept).
  const pageBytes = ctx.options.referrersPageBytes ?? REFERRERS_PAGE_BYTES;
  const sizes =
    artifactType === undefined
      ? manifests.referrerSizes(ctx.name, subject, last)
      : manifests.referrers(ctx.name, subject, artifactType, last);
  let bytes = 0;
  let end: string | undefined;
  for await (const found of sizes) {
    const size =
      'mediaType' in found
        ? Buffer.byteLength(JSON.stringify(found)) + 1
        : found.size + DESCRIPTOR_FIELDS_BYTES;
    if (end !== undefined && bytes + size > pageBytes) {
      const query = new URLSearchParams({ ...(artifactType !== undefined && { artifactType }), last: end });
      ctx.reply.header('link', `<${ctx.url(`/v2/${ctx.name}/referrers/${subject}?${query}`)}>; rel="next"`);
      break;
    }
    bytes += size;
    end = `${found.digest}`;
  }
  // The image index, streamed a descriptor at a time (memory stays flat however many referrers there are).
  async function* index() {
    yield `{"schemaVersion":2,"mediaType":"${MediaType.ociIndex}","manifests":[`;
    if (end !== undefined) {
      let first = true;
      for await (const descriptor of manifests.referrers(ctx.name, subject, artifactType, last)) {
        if (descriptor.digest > (end as string)) break;
        yield `${first ? '' : ','}${JSON.stringify(descriptor)}`;
        first = false;
      }
    }
    yield ']}';
  }
  ctx.reply.header('content-type', MediaType.ociIndex).send(Readable.from(index()));
};
