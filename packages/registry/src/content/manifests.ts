import type { StorageDriver } from '@regop/storage';
import { LRUCache } from 'lru-cache';
import { RegistryError } from '../errors.js';
import { paths } from '../paths.js';
import { Digest, type DigestAlgorithm, type Reference } from '../reference.js';
import type { BlobDescriptor, BlobStore } from './blobs.js';
import { deleteIfExists, listIfExists, readLink, statIfExists, writeLink } from './links.js';
import {
  type DescriptorJson,
  type ParsedManifest,
  parseManifest,
  referrerFields,
  storedMediaType,
} from './manifest-model.js';
import { isNonDistributable } from './media-types.js';
import type { TagStore } from './tags.js';

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  content: Buffer;
}

export interface PutResult {
  digest: Digest;
  /** The media type it is stored and served as. */
  mediaType: string;
  /** The tags now naming it. */
  tags: string[];
  subject?: Digest;
}

/** What a pushed manifest must find in the repository (config validation.manifests). */
export interface ManifestValidation {
  /** Index children that must be present: all (the default), none, or those of the listed platforms. */
  indexChildren?: 'all' | 'none' | { os: string; architecture: string }[];
  /** Image layers that must be present: all (the default) or none (sparse images; the config must be). */
  layers?: 'all' | 'none';
  /** Whether an image's config must be present (default true; a pull-through cache fetches it when asked). */
  config?: boolean;
}

export interface ManifestServiceOptions {
  /** Bytes of manifest content kept in memory; content is immutable per digest, so it never goes stale. */
  cacheBytes: number;
  validation?: ManifestValidation;
}

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Manifests are stored as blobs and made part of a repository by a revision link; tags point at revisions.
 */
export class ManifestService {
  private readonly cache: LRUCache<string, StoredManifest>;
  private readonly validation: ManifestValidation;

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly tags: TagStore,
    options: ManifestServiceOptions,
  ) {
    this.cache = new LRUCache({
      maxSize: options.cacheBytes,
      sizeCalculation: (m) => m.content.length + 256,
    });
    this.validation = options.validation ?? {};
  }

  /** The digest a reference names in the repository (tags resolved through their current link). */
  async resolve(name: string, reference: Reference): Promise<Digest> {
    return reference.kind === 'tag' ? this.tags.resolve(name, reference.tag) : reference.digest;
  }

  /**
   * Whether the repository holds the manifest: its revision link is there. A revision link only ever names its
   * own digest, so a stat (one storage operation) answers; reading it (open, read, close) cost every pull more.
   */
  async exists(name: string, digest: Digest): Promise<boolean> {
    return (await statIfExists(this.driver, paths.revisionLink(name, digest)))?.isDir === false;
  }

  async get(name: string, reference: Reference): Promise<StoredManifest> {
    const digest = await this.resolve(name, reference);
    if (!(await this.exists(name, digest))) {
      if (reference.kind === 'digest' && !(await this.tags.repositoryExists(name))) {
        throw new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
      }
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} is not in repository ${name}`, {
        digest: `${digest}`,
      });
    }
    return this.load(digest);
  }

  /**
   * Stores a manifest and tags it: with the reference's tag, and with `extraTags` (the spec's `?tag=`
   * parameters, which let a manifest pushed by digest, a sha512 one among them, be tagged in the same request).
   */
  async put(
    name: string,
    reference: Reference,
    contentType: string | undefined,
    body: Buffer,
    extraTags: string[] = [],
  ): Promise<PutResult> {
    if (body.length > MAX_MANIFEST_BYTES) {
      throw new RegistryError(
        'MANIFEST_INVALID',
        `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`,
        undefined,
        413,
      );
    }
    const manifest = parseManifest(body, contentType);
    const algorithm: DigestAlgorithm = reference.kind === 'digest' ? reference.digest.algorithm : 'sha256';
    const digest = Digest.of(algorithm, body);
    if (reference.kind === 'digest' && !digest.equals(reference.digest)) {
      throw new RegistryError('DIGEST_INVALID', `manifest digest is ${digest}, not ${reference.digest}`, {
        expected: `${reference.digest}`,
        actual: `${digest}`,
      });
    }
    // Nothing unverified becomes visible: a push with a missing blob fails before anything is written.
    await this.verifyReferences(name, manifest);

    const revisionExisted = await this.exists(name, digest);
    if (!(await statIfExists(this.driver, paths.blobData(digest)))) {
      await this.driver.putContent(paths.blobData(digest), body);
    }
    await writeLink(this.driver, paths.revisionLink(name, digest), digest);
    const subject = manifest.subject && Digest.parse(manifest.subject.digest);
    if (subject) await writeLink(this.driver, paths.referrerLink(name, subject, digest), digest);
    const tags = [...new Set([...(reference.kind === 'tag' ? [reference.tag] : []), ...extraTags])];
    try {
      for (const tag of tags) await this.tags.tag(name, tag, digest);
      // Online garbage collection may have swept a referenced blob, or (deleting untagged manifests) this
      // revision and its blob, between the check above and the revision and its tags becoming visible. Once
      // they are, a collector restores whatever they reference (see gc/sweep.ts), so one check now, with
      // what was removed put back from the bytes in hand, closes that gap; missing layers refuse the push.
      if (tags.length > 0 && !(await this.exists(name, digest)))
        await writeLink(this.driver, paths.revisionLink(name, digest), digest);
      if (!(await statIfExists(this.driver, paths.blobData(digest))))
        await this.driver.putContent(paths.blobData(digest), body);
      await this.verifyReferences(name, manifest);
    } catch (err) {
      for (const tag of tags) await this.tags.untag(name, tag).catch(() => undefined);
      if (!revisionExisted) {
        if (subject) await deleteIfExists(this.driver, paths.referrerLink(name, subject, digest));
        await deleteIfExists(this.driver, paths.revisionDir(name, digest));
      }
      throw err;
    }
    this.cache.set(`${digest}`, { digest, mediaType: manifest.mediaType, content: body });
    return { digest, mediaType: manifest.mediaType, tags, ...(subject && { subject }) };
  }

  /** Deletes a manifest revision and every tag pointing at it, as distribution does; returns those tags. */
  async delete(name: string, digest: Digest): Promise<string[]> {
    const stored = await this.get(name, { kind: 'digest', digest });
    const tags = await this.tags.tagsOf(name, digest);
    for (const tag of tags) await this.tags.untag(name, tag);
    const subject = parseManifest(stored.content, stored.mediaType).subject;
    if (subject)
      await deleteIfExists(this.driver, paths.referrerLink(name, Digest.parse(subject.digest), digest));
    await deleteIfExists(this.driver, paths.revisionDir(name, digest));
    return tags;
  }

  /**
   * Descriptors of the manifests in `name` whose subject is `subject`, one at a time in digest order (after
   * `after`, when given): a subject may have thousands of referrers with large annotations, so nothing holds the
   * whole list, and they are read past the manifest cache, whose manifests pulls want.
   */
  async *referrers(
    name: string,
    subject: Digest,
    artifactType?: string,
    after?: Digest,
  ): AsyncGenerator<DescriptorJson> {
    for await (const digest of this.referrerDigests(name, subject, after)) {
      const stored = await this.load(digest, false);
      const parsed = referrerFields(stored.content);
      if (artifactType !== undefined && parsed.artifactType !== artifactType) continue;
      yield {
        mediaType: stored.mediaType,
        digest: `${digest}`,
        size: stored.content.length,
        ...(parsed.artifactType && { artifactType: parsed.artifactType }),
        ...(parsed.annotations && { annotations: parsed.annotations }),
      };
    }
  }

  /**
   * The referrers `referrers` lists, each with its stored size only (a stat, nothing read): its descriptor
   * repeats at most its fields, so the size bounds the descriptor's, less its digest, size and media type.
   */
  async *referrerSizes(name: string, subject: Digest, after?: Digest): AsyncGenerator<BlobDescriptor> {
    for await (const digest of this.referrerDigests(name, subject, after)) {
      const found = await this.blobs.statGlobal(digest);
      if (found) yield found;
    }
  }

  /** The digests of `subject`'s referrers present in `name`, in digest order, after `after` when given. */
  private async *referrerDigests(name: string, subject: Digest, after?: Digest): AsyncGenerator<Digest> {
    const from = after && `${after}`;
    for (const algDir of await listIfExists(this.driver, paths.referrersDir(name, subject))) {
      for (const hexDir of await listIfExists(this.driver, algDir)) {
        if (from && paths.referrerOfDir(hexDir) <= from) continue;
        const digest = await readLink(this.driver, `${hexDir}/link`);
        if (digest && (await this.exists(name, digest))) yield digest;
      }
    }
  }

  /** A manifest's bytes, from the cache or storage; kept in the cache unless `keep` is false. */
  private async load(digest: Digest, keep = true): Promise<StoredManifest> {
    const cached = this.cache.get(`${digest}`);
    if (cached) return cached;
    const content = await this.driver.getContent(paths.blobData(digest)).catch(() => {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} content is missing`, {
        digest: `${digest}`,
      });
    });
    let mediaType: string;
    try {
      mediaType = storedMediaType(JSON.parse(content.toString('utf8')));
    } catch {
      throw new RegistryError('MANIFEST_INVALID', `stored manifest ${digest} is not JSON`);
    }
    const stored = { digest, mediaType, content };
    if (keep) this.cache.set(`${digest}`, stored);
    return stored;
  }

  /**
   * Every blob and child manifest a manifest names must already be in the repository, at the size its
   * descriptor says (the image spec requires the two to match; a client trusting the size would misread).
   */
  private async verifyReferences(name: string, manifest: ParsedManifest): Promise<void> {
    const missing: { digest: string; mediaType: string }[] = [];
    const wrongSize: { digest: string; size: number; actual: number }[] = [];
    const check = (d: DescriptorJson, actual: number | undefined) => {
      if (actual === undefined) missing.push({ digest: d.digest, mediaType: d.mediaType });
      else if (actual !== d.size) wrongSize.push({ digest: d.digest, size: d.size, actual });
    };
    const { layers = 'all', indexChildren = 'all', config = true } = this.validation;
    // Sparse content: what the configuration lets be absent is checked only when it is there.
    const required = manifest.children.filter(
      (d) =>
        indexChildren === 'all' ||
        (indexChildren !== 'none' &&
          indexChildren.some((p) => p.os === d.platform?.os && p.architecture === d.platform?.architecture)),
    );
    await Promise.all([
      ...manifest.blobs
        .filter((d) => !isNonDistributable(d.mediaType))
        .map(async (d) => {
          const found = await this.blobs.find(name, Digest.parse(d.digest));
          if (found || layers === 'all' || (config && d === manifest.config)) check(d, found?.size);
        }),
      ...manifest.children.map(async (d) => {
        const digest = Digest.parse(d.digest);
        const present = await this.exists(name, digest);
        if (!present && !required.includes(d)) return;
        check(d, present ? (await this.load(digest)).content.length : undefined);
      }),
    ]);
    if (missing.length > 0) {
      throw new RegistryError(
        'MANIFEST_BLOB_UNKNOWN',
        `manifest references ${missing.length === 1 ? 'a blob' : `${missing.length} blobs`} unknown to repository ${name}: ${missing.map((m) => m.digest).join(', ')}`,
        missing.length === 1 ? missing[0] : missing,
      );
    }
    if (wrongSize.length > 0) {
      throw new RegistryError(
        'MANIFEST_INVALID',
        `manifest descriptor sizes do not match the content: ${wrongSize.map((w) => `${w.digest} is ${w.actual} bytes, not ${w.size}`).join('; ')}`,
        wrongSize.length === 1 ? wrongSize[0] : wrongSize,
      );
    }
  }
}
