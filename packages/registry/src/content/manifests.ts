import type { BaseDriver } from '@regop/storage';
import { LRUCache } from 'lru-cache';
import { RegistryError } from '../errors.js';
import { paths } from '../paths.js';
import { Digest, type DigestAlgorithm, type Reference } from '../reference.js';
import type { BlobDescriptor, BlobStore } from './blobs.js';
import { deleteIfExists, listIfExists, statIfExists, writeLink } from './links.js';
import {
  type DescriptorJson,
  type ParsedManifest,
  parseManifest,
  referrerFields,
  storedMediaType,
} from './manifest-model.js';
import { isNonDistributable } from './media-types.js';
import { lowerBound } from './sorted.js';
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

/** Referrers looked up with one batched call (three stats each), at most. */
const REFERRER_BATCH = 256;
/** Bytes of referrers read with one batched call, at most (or the one manifest, when larger). */
const REFERRER_READ_BYTES = 1024 * 1024;

/** `items` in order, in runs of at most `limit` bytes (a larger item on its own). */
function byBytes<T extends { size: number }>(items: T[], limit: number): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (run.length > 0 && bytes + item.size > limit) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += item.size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * Manifests are stored as blobs and made part of a repository by a revision link; tags point at revisions.
 */
export class ManifestService {
  private readonly cache: LRUCache<string, StoredManifest>;
  private readonly validation: ManifestValidation;

  constructor(
    private readonly driver: BaseDriver,
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
   * Descriptors of the manifests in `name` whose subject is `subject`, in digest order (after `after`, when
   * given): a subject may have thousands of referrers with large annotations, so nothing holds the whole list,
   * and they are read past the manifest cache, whose manifests pulls want. A batch of referrers is looked up
   * with one batched call each (see StorageDriver.statMany), and read a megabyte at a time.
   */
  async *referrers(
    name: string,
    subject: Digest,
    artifactType?: string,
    after?: Digest,
  ): AsyncGenerator<DescriptorJson> {
    for await (const batch of this.referrerBatches(name, subject, after)) {
      for (const part of byBytes(batch, REFERRER_READ_BYTES)) {
        const contents = await this.driver.getContentMany(part.map((d) => paths.blobData(d.digest)));
        for (const [i, content] of contents.entries()) {
          // Gone since it was found: a referrer deleted meanwhile is left out.
          if (!content) continue;
          const fields = referrerFields(content);
          if (artifactType !== undefined && fields.artifactType !== artifactType) continue;
          yield {
            mediaType: fields.mediaType,
            digest: `${part[i]?.digest}`,
            size: content.length,
            ...(fields.artifactType && { artifactType: fields.artifactType }),
            ...(fields.annotations && { annotations: fields.annotations }),
          };
        }
      }
    }
  }

  /**
   * The referrers `referrers` lists, each with its stored size only (nothing read): its descriptor repeats at
   * most its fields, so the size bounds the descriptor's, less its digest, size and media type.
   */
  async *referrerSizes(name: string, subject: Digest, after?: Digest): AsyncGenerator<BlobDescriptor> {
    for await (const batch of this.referrerBatches(name, subject, after)) yield* batch;
  }

  /**
   * `subject`'s referrers present in `name` with their stored sizes, in digest order after `after` when given, a
   * batch at a time. A referrer link only ever names its own digest (the directory it is in), so its presence
   * answers, with the revision's and the content's: three stats, in one batched call for the batch.
   */
  private async *referrerBatches(
    name: string,
    subject: Digest,
    after?: Digest,
  ): AsyncGenerator<BlobDescriptor[]> {
    const from = after && `${after}`;
    for (const algDir of await listIfExists(this.driver, paths.referrersDir(name, subject))) {
      const dirs = await listIfExists(this.driver, algDir);
      // Where `after` falls among its own algorithm's referrers (by binary search; the listing is sorted).
      const algorithm = `${algDir.slice(algDir.lastIndexOf('/') + 1)}:`;
      const start = from?.startsWith(algorithm)
        ? lowerBound(dirs, `${algDir}/${from.slice(algorithm.length)}`)
        : 0;
      // Batches start small and double: a page often ends after a few dozen.
      for (let at = start, batchSize = 16; at < dirs.length; ) {
        const digests: Digest[] = [];
        for (const dir of dirs.slice(at, at + batchSize)) {
          const digest = paths.referrerOfDir(dir);
          if (from && digest <= from) continue;
          try {
            digests.push(Digest.parse(digest));
          } catch {
            // A directory not named for a digest is not a referrer.
          }
        }
        at += batchSize;
        batchSize = Math.min(2 * batchSize, REFERRER_BATCH);
        const found = await this.driver.statMany(
          digests.flatMap((d) => [
            paths.referrerLink(name, subject, d),
            paths.revisionLink(name, d),
            paths.blobData(d),
          ]),
        );
        const batch: BlobDescriptor[] = [];
        for (const [i, digest] of digests.entries()) {
          const [link, revision, data] = found.slice(3 * i, 3 * i + 3);
          if (link && !link.isDir && revision && !revision.isDir && data && !data.isDir)
            batch.push({ digest, size: data.size });
        }
        if (batch.length > 0) yield batch;
      }
    }
  }

  /** A manifest's bytes, from the cache or storage (then kept in the cache). */
  private async load(digest: Digest): Promise<StoredManifest> {
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
    this.cache.set(`${digest}`, stored);
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
