import { PassThrough, type Writable } from 'node:stream';
import type { BlobDescriptor } from '../content/blobs.js';
import type { StoredManifest } from '../content/manifests.js';
import type { Registry } from '../content/registry.js';
import { RegistryError } from '../errors.js';
import type { Digest, Reference } from '../reference.js';
import { tee } from './tee.js';
import { type Upstream, UpstreamUnavailable } from './upstream.js';

/** What the store and the client may each fall behind the upstream by (see tee). */
const BUFFERED = { store: 2 * 1024 * 1024, client: 2 * 1024 * 1024 };

/**
 * distribution's proxy mode: content is fetched from the upstream registry the first time it is asked for and
 * served from storage afterwards. Manifests by tag are checked against upstream on every request while it
 * answers (a HEAD; a GET only when the digest moved), so the cache never serves a stale tag; by digest they
 * are immutable. A blob is streamed to the client while it is written and hashed, and becomes visible only once
 * its digest is verified; clients asking for a blob already being fetched wait for that one fetch.
 */
export class PullThroughCache {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly registry: Registry,
    readonly upstream: Upstream,
  ) {}

  async manifest(name: string, reference: Reference): Promise<StoredManifest> {
    const { manifests, tags } = this.registry;
    if (reference.kind === 'digest') {
      if (await manifests.exists(name, reference.digest)) return manifests.get(name, reference);
      return this.fetchManifest(name, `${reference.digest}`, reference);
    }
    let upstreamDigest: string | undefined;
    try {
      upstreamDigest = await this.upstream.manifestDigest(name, reference.tag);
    } catch (err) {
      // Upstream down: what the cache has is served.
      if (err instanceof UpstreamUnavailable)
        return manifests.get(name, reference).catch(() => Promise.reject(err));
      throw err;
    }
    if (upstreamDigest === undefined) {
      // Gone upstream: gone here too, so the cache never answers with what upstream no longer has.
      await tags.untag(name, reference.tag).catch(() => undefined);
      throw new RegistryError(
        'MANIFEST_UNKNOWN',
        `manifest tagged ${reference.tag} is not in ${name} at ${this.upstream.url}`,
        { tag: reference.tag },
      );
    }
    const cached = await tags.resolve(name, reference.tag).catch(() => undefined);
    if (cached && `${cached}` === upstreamDigest && (await manifests.exists(name, cached)))
      return manifests.get(name, reference);
    return this.fetchManifest(name, reference.tag, reference);
  }

  private async fetchManifest(name: string, ref: string, reference: Reference): Promise<StoredManifest> {
    const fetched = await this.upstream.manifest(name, ref);
    if (!fetched)
      throw new RegistryError(
        'MANIFEST_UNKNOWN',
        `manifest ${ref} is not in ${name} at ${this.upstream.url}`,
      );
    // Stored as pushed (its digest checked); what it names is fetched when asked for.
    await this.registry.manifests.put(name, reference, fetched.mediaType, fetched.body);
    return this.registry.manifests.get(name, reference);
  }

  /** Upstream's referrers of a subject while it answers them, else undefined (the cache's own are served). */
  async referrers(name: string, subject: Digest, artifactType?: string): Promise<Response | undefined> {
    try {
      return await this.upstream.referrers(name, `${subject}`, artifactType);
    } catch (err) {
      if (err instanceof UpstreamUnavailable) return undefined;
      throw err;
    }
  }

  /** A repository's tags: upstream's while it answers, the cache's when it does not. */
  async tags(name: string): Promise<string[]> {
    try {
      const upstream = await this.upstream.tags(name);
      if (upstream) return upstream;
      throw new RegistryError('NAME_UNKNOWN', `repository ${name} is not at ${this.upstream.url}`, { name });
    } catch (err) {
      if (err instanceof UpstreamUnavailable)
        return this.registry.tags.list(name).catch(() => Promise.reject(err));
      throw err;
    }
  }

  /**
   * A blob the cache does not hold: fetched from upstream into storage, streamed meanwhile into the client's
   * response that `begin` opens with the blob's size. Returns the blob when another request fetched it meanwhile
   * (serve it from storage), or undefined when this one streamed it.
   */
  async blob(
    name: string,
    digest: Digest,
    begin: (size: number) => Writable,
  ): Promise<BlobDescriptor | undefined> {
    const key = `${digest}`;
    const running = this.inFlight.get(key);
    if (running) {
      await running.catch(() => undefined);
      const found = await this.registry.blobs.find(name, digest);
      if (found) return found;
    }
    let served = false;
    const fetching = this.fetchBlob(name, digest, (size) => {
      served = true;
      return begin(size);
    });
    this.inFlight.set(key, fetching);
    try {
      await fetching;
    } catch (err) {
      if (!served) throw err;
      // The client has its headers and part of the body: it sees a short body; nothing was cached.
      return undefined;
    } finally {
      this.inFlight.delete(key);
    }
    return undefined;
  }

  private async fetchBlob(name: string, digest: Digest, begin: (size: number) => Writable): Promise<void> {
    const res = await this.upstream.blob(name, `${digest}`);
    if (!res)
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in ${name} at ${this.upstream.url}`, {
        digest: `${digest}`,
      });
    // The client's bytes flow from here on; storage takes what was buffered meanwhile once its upload starts.
    const store = new PassThrough({ highWaterMark: BUFFERED.store });
    const client = begin(res.size);
    const copying = tee(res.body, store, client, BUFFERED);
    copying.catch(() => undefined);
    const { uploads } = this.registry;
    let id: string | undefined;
    try {
      id = (await uploads.start(name)).id;
      // The client's body ends with the upstream's, while storage may still be writing and verifying: it checks
      // the digest itself (as with distribution's proxy), and only a verified blob is ever served from here.
      await Promise.all([copying, uploads.commit(name, id, digest, store)]);
    } catch (err) {
      res.body.destroy();
      store.destroy();
      if (id) await uploads.cancel(name, id).catch(() => undefined);
      if (!client.writableEnded) client.destroy();
      throw err;
    }
  }
}
