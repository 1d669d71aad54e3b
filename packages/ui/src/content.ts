import { Digest, type Reference, type Registry, type TagPush } from '@regop/registry';
import { mapLimited } from '@regop/storage';
import { LRUCache } from 'lru-cache';
import * as z from 'zod';
import { platformName } from './format.js';

/**
 * What the pages show, read through the content model and nothing else: the UI never builds a storage path and
 * never writes. Stored manifests and configs were written by clients and are read leniently: what does not
 * parse is reported, not thrown.
 */

const platform = z.object({
  os: z.string().optional(),
  architecture: z.string().optional(),
  variant: z.string().optional(),
});
const strings = z.record(z.string(), z.string());
const descriptor = z.object({
  mediaType: z.string().optional(),
  digest: z.string(),
  size: z.number(),
  platform: platform.optional(),
  annotations: strings.optional(),
  artifactType: z.string().optional(),
});
const manifestView = z.object({
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptor.optional(),
  layers: z.array(descriptor).optional(),
  manifests: z.array(descriptor).optional(),
  subject: descriptor.optional(),
  annotations: strings.optional(),
});
const stringList = z.array(z.string()).nullable().optional();
const configView = z.object({
  created: z.string().optional(),
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
  author: z.string().optional(),
  config: z
    .object({
      User: z.string().optional(),
      Entrypoint: stringList,
      Cmd: stringList,
      Env: stringList,
      WorkingDir: z.string().optional(),
      ExposedPorts: z.record(z.string(), z.unknown()).nullable().optional(),
      Labels: strings.nullable().optional(),
    })
    .nullable()
    .optional(),
  history: z
    .array(
      z.object({
        created: z.string().optional(),
        created_by: z.string().optional(),
        comment: z.string().optional(),
        empty_layer: z.boolean().optional(),
      }),
    )
    .optional(),
});

export type Descriptor = z.infer<typeof descriptor>;
export type ManifestView = z.infer<typeof manifestView>;
export type ConfigView = z.infer<typeof configView>;

/** Configs larger than this are not read to be shown (distribution caps what it reads of a manifest at 4 MiB). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Referrers listed on an image's page; past it the page says there are more. */
export const MAX_REFERRERS = 500;
/** Children of an index read to size a tag's row. */
const MAX_CHILDREN = 64;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

function parseJson<T>(bytes: Buffer, schema: z.ZodType<T>, what: string): Parsed<T> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return { ok: false, problem: `the ${what} is not JSON (${(err as Error).message})` };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  return {
    ok: false,
    problem: `the ${what} does not have the expected shape (${issue?.path.join('.') || 'top level'}: ${issue?.message})`,
  };
}

export interface RepositoryRow {
  name: string;
  tags: number;
  /** The newest tag's push. */
  pushed?: Date;
}

export interface TagRow {
  tag: string;
  pushed: Date;
  digest?: string;
  summary?: ManifestSummary;
}

export interface ManifestSummary {
  kind: 'image' | 'index' | 'artifact' | 'unreadable';
  /** Compressed bytes: config and layers; for an index, those of the children stored here. */
  size: number;
  platforms: string[];
  artifactType?: string;
  /** An index whose children are not all stored (sparse content, or a cache that has not fetched them). */
  partial?: boolean;
}

export interface ManifestDetail {
  digest: string;
  mediaType: string;
  size: number;
  raw: Buffer;
  manifest: Parsed<ManifestView>;
  /** An image's config: parsed, or why not; its size when too large to read. */
  config?: { size: number; parsed?: Parsed<ConfigView>; missing?: boolean };
}

export interface ReferrerGroup {
  artifactType: string;
  referrers: Descriptor[];
}

const digestRef = (digest: string): Reference => ({ kind: 'digest', digest: Digest.parse(digest) });

export class UiContent {
  /**
   * Each repository's tags with their push times, kept a few seconds: paging through 10,000 tags, or a list
   * of repositories showing each one's newest push, reads them once rather than on every page.
   */
  private readonly pushes = new LRUCache<string, TagPush[]>({
    maxSize: 200_000,
    sizeCalculation: (tags) => Math.max(1, tags.length),
    ttl: 5_000,
  });

  constructor(private readonly registry: Registry) {}

  /** A repository's tags, newest push first. */
  async tags(name: string): Promise<TagPush[]> {
    const cached = this.pushes.get(name);
    if (cached) return cached;
    const tags = await this.registry.tags.pushed(name);
    this.pushes.set(name, tags);
    return tags;
  }

  repositoryExists(name: string): Promise<boolean> {
    return this.registry.tags.repositoryExists(name);
  }

  async repositoryRow(name: string): Promise<RepositoryRow> {
    const tags = await this.tags(name).catch(() => []);
    return { name, tags: tags.length, ...(tags[0] && { pushed: tags[0].pushed }) };
  }

  /** Catalog names in order after `last`, `n` at a time (the catalog's own paging). */
  catalog(n: number, last?: string): Promise<string[]> {
    return this.registry.repositories(n, last);
  }

  async tagRow(name: string, push: TagPush): Promise<TagRow> {
    try {
      const stored = await this.registry.manifests.get(name, { kind: 'tag', tag: push.tag });
      return { ...push, digest: `${stored.digest}`, summary: await this.summarize(name, stored.content) };
    } catch {
      return { ...push };
    }
  }

  private async summarize(name: string, content: Buffer): Promise<ManifestSummary> {
    const parsed = parseJson(content, manifestView, 'manifest');
    if (!parsed.ok) return { kind: 'unreadable', size: content.length, platforms: [] };
    const m = parsed.value;
    const imageSize = (v: ManifestView) =>
      (v.config?.size ?? 0) + (v.layers ?? []).reduce((sum, layer) => sum + layer.size, 0);
    if (m.manifests) {
      let size = 0;
      let partial = false;
      // A pushed index may name thousands of children: a row reads at most MAX_CHILDREN, a few at a time.
      if (m.manifests.length > MAX_CHILDREN) partial = true;
      await mapLimited(
        m.manifests.slice(0, MAX_CHILDREN),
        async (child) => {
          const stored = await this.registry.manifests
            .get(name, digestRef(child.digest))
            .catch(() => undefined);
          const view = stored && parseJson(stored.content, manifestView, 'manifest');
          if (view?.ok) size += imageSize(view.value);
          else partial = true;
        },
        8,
      );
      const platforms = m.manifests
        .filter((d) => d.platform && d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest')
        .map((d) => platformName(d.platform));
      return { kind: 'index', size, platforms, ...(partial ? { partial: true } : {}) };
    }
    const artifactType =
      m.artifactType ?? (isImageConfig(m.config?.mediaType) ? undefined : m.config?.mediaType);
    return {
      kind: artifactType ? 'artifact' : 'image',
      size: imageSize(m),
      platforms: [],
      ...(artifactType && { artifactType }),
    };
  }

  /** A manifest by tag or digest, with an image's config. Throws the registry's errors (unknown name, manifest). */
  async manifest(name: string, reference: Reference): Promise<ManifestDetail> {
    const stored = await this.registry.manifests.get(name, reference);
    const manifest = parseJson(stored.content, manifestView, 'manifest');
    const detail: ManifestDetail = {
      digest: `${stored.digest}`,
      mediaType: stored.mediaType,
      size: stored.content.length,
      raw: stored.content,
      manifest,
    };
    const config = manifest.ok && !manifest.value.manifests ? manifest.value.config : undefined;
    if (config && isImageConfig(config.mediaType)) {
      const blob = await this.registry.blobs
        .content(name, Digest.parse(config.digest), MAX_CONFIG_BYTES)
        .catch(() => undefined);
      detail.config = !blob
        ? { size: config.size, missing: true }
        : {
            size: blob.size,
            ...(blob.content && { parsed: parseJson(blob.content, configView, 'image config') }),
          };
    }
    return detail;
  }

  /**
   * Referrers of a manifest, grouped by artifact type: at most MAX_REFERRERS of them, `more` when there are
   * others (the rest are not read), and `unreadable` when one could not be read (the others are still shown).
   */
  async referrers(
    name: string,
    digest: string,
  ): Promise<{ groups: ReferrerGroup[]; total: number; more: boolean; unreadable?: string }> {
    const groups = new Map<string, Descriptor[]>();
    let total = 0;
    let more = false;
    let unreadable: string | undefined;
    try {
      for await (const referrer of this.registry.manifests.referrers(name, Digest.parse(digest))) {
        if (total === MAX_REFERRERS) {
          more = true;
          break;
        }
        total++;
        const type = referrer.artifactType ?? referrer.mediaType;
        const group = groups.get(type);
        if (group) group.push(referrer);
        else groups.set(type, [referrer]);
      }
    } catch (err) {
      unreadable = (err as Error).message;
    }
    return {
      groups: [...groups]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([artifactType, referrers]) => ({ artifactType, referrers })),
      total,
      more,
      ...(unreadable && { unreadable }),
    };
  }

  /** Whether the repository links a blob, and its size: a layer's download is offered only then. */
  blob(name: string, digest: string) {
    return this.registry.blobs.stat(name, Digest.parse(digest));
  }

  sendBlob(digest: string, dest: NodeJS.WritableStream & import('node:stream').Writable, size: number) {
    return this.registry.blobs.sendTo(Digest.parse(digest), dest, 0, size - 1);
  }
}

const IMAGE_CONFIGS = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
const isImageConfig = (mediaType: string | undefined) =>
  mediaType === undefined || IMAGE_CONFIGS.has(mediaType);
