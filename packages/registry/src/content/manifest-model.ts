import * as z from 'zod';
import { RegistryError } from '../errors.js';
import { Digest } from '../reference.js';
import { isIndexType, MANIFEST_MEDIA_TYPES, MediaType } from './media-types.js';

const digestString = z.string().refine(
  (value) => {
    try {
      Digest.parse(value);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid sha256 or sha512 digest' },
);

const descriptor = z.looseObject({
  mediaType: z.string().min(1),
  digest: digestString,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: z
    .looseObject({ architecture: z.string(), os: z.string(), variant: z.string().optional() })
    .optional(),
});

const imageManifest = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptor,
  layers: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const imageIndex = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export type DescriptorJson = z.infer<typeof descriptor>;

export interface ParsedManifest {
  mediaType: string;
  /** Blobs the repository must hold: config and distributable layers. */
  blobs: DescriptorJson[];
  /** An image manifest's config (also in `blobs`). */
  config?: DescriptorJson;
  /** Manifests the repository must hold: an index's children. */
  children: DescriptorJson[];
  subject?: DescriptorJson;
  artifactType?: string;
  annotations?: Record<string, string>;
}

// Content types that say nothing about the manifest: its own mediaType decides.
const GENERIC_TYPES = ['application/json', 'application/octet-stream'];

const invalid = (message: string, detail?: unknown) => new RegistryError('MANIFEST_INVALID', message, detail);

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Media type of stored manifest JSON, for serving it (bodies were validated when pushed). */
export function storedMediaType(json: unknown): string {
  const body = json as { mediaType?: unknown; manifests?: unknown };
  if (typeof body?.mediaType === 'string') return body.mediaType;
  return Array.isArray(body?.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
}

/** Nesting Go's encoding/json refuses past, so distribution refuses it too. */
export const MAX_JSON_DEPTH = 10_000;

/** The deepest nesting of objects and arrays in JSON text (brackets inside strings do not count). */
export function jsonDepth(body: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      // A backslash escapes the next byte.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * What the referrers API reports of a stored manifest besides its digest and size: its media type, artifactType
 * (an image's falls back to its config's media type) and annotations. Stored manifests were validated when
 * pushed, so this only reads them: validating thousands again per referrers request cost hundreds of MB of garbage.
 */
export function referrerFields(content: Buffer): {
  mediaType: string;
  artifactType?: string;
  annotations?: Record<string, string>;
} {
  let json: { artifactType?: string; config?: { mediaType?: string }; annotations?: Record<string, string> };
  try {
    json = JSON.parse(content.toString('utf8'));
  } catch {
    throw invalid('a stored referrer is not JSON');
  }
  const artifactType = json.artifactType ?? json.config?.mediaType;
  return {
    mediaType: storedMediaType(json),
    ...(artifactType && { artifactType }),
    ...(json.annotations && { annotations: json.annotations }),
  };
}

/**
 * Parses and validates a pushed manifest against its declared media type: the Content-Type header, or the
 * body's own mediaType when the header is generic (application/json). A PUT without Content-Type is refused,
 * as distribution refuses it.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  if (!contentType)
    throw invalid('a manifest PUT needs a Content-Type header naming the manifest media type');
  if (jsonDepth(body) > MAX_JSON_DEPTH)
    throw invalid(`manifest JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalid(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw invalid('manifest must be a JSON object');
  const bodyType = (json as { mediaType?: unknown }).mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string') throw invalid('mediaType must be a string');
  if (
    !MANIFEST_MEDIA_TYPES.includes(contentType) &&
    !GENERIC_TYPES.includes(contentType) &&
    contentType !== MediaType.dockerSchema1 &&
    contentType !== MediaType.dockerSchema1Signed
  ) {
    throw invalid(`unsupported manifest Content-Type ${contentType}`);
  }
  const headerType = MANIFEST_MEDIA_TYPES.includes(contentType) ? contentType : undefined;
  if (
    contentType === MediaType.dockerSchema1 ||
    contentType === MediaType.dockerSchema1Signed ||
    bodyType === MediaType.dockerSchema1 ||
    bodyType === MediaType.dockerSchema1Signed ||
    (json as { schemaVersion?: unknown }).schemaVersion === 1
  ) {
    throw invalid('Docker schema1 manifests are not supported; push schema2 or OCI');
  }
  if (headerType && bodyType && headerType !== bodyType) {
    throw invalid(`Content-Type ${headerType} does not match the manifest's mediaType ${bodyType}`);
  }
  const mediaType = headerType ?? bodyType;
  if (!mediaType)
    throw invalid(
      `manifest Content-Type ${contentType} says nothing of its type and the body has no mediaType`,
    );
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType))
    throw invalid(`unsupported manifest media type ${mediaType}`);
  if (
    (mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerManifestList) &&
    bodyType !== mediaType
  ) {
    throw invalid(`a ${mediaType} manifest must carry mediaType ${mediaType}`);
  }

  if (isIndexType(mediaType)) {
    if ('config' in json || 'layers' in json)
      throw invalid(`a ${mediaType} has manifests, not config or layers`);
    const parsed = imageIndex.safeParse(json);
    if (!parsed.success) throw invalid(`invalid ${mediaType}: ${describeIssues(parsed.error)}`);
    const m = parsed.data;
    return {
      mediaType,
      blobs: [],
      children: m.manifests,
      ...(m.subject && { subject: m.subject }),
      ...(m.artifactType && { artifactType: m.artifactType }),
      ...(m.annotations && { annotations: m.annotations }),
    };
  }
  if ('manifests' in json) throw invalid(`a ${mediaType} has config and layers, not manifests`);
  const parsed = imageManifest.safeParse(json);
  if (!parsed.success) throw invalid(`invalid ${mediaType}: ${describeIssues(parsed.error)}`);
  const m = parsed.data;
  return {
    mediaType,
    blobs: [m.config, ...m.layers],
    config: m.config,
    children: [],
    ...(m.subject && { subject: m.subject }),
    // The referrers API reports an image's artifactType, falling back to its config's media type.
    artifactType: m.artifactType ?? m.config.mediaType,
    ...(m.annotations && { annotations: m.annotations }),
  };
}
