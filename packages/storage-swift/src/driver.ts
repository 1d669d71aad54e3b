import { createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  mapLimited,
  PathNotFoundError,
  type RedirectOptions,
  SkipDir,
  StopWalk,
  type StorageDriver,
  StorageError,
  type WalkFn,
  type WalkOptions,
  type WalkResult,
  walkFlatListing,
} from '@regop/storage';
import { drain, encodeName, header, type ListEntry, SwiftClient } from './client.js';
import { LargeObjects, type Segment } from './large-objects.js';
import { manifestPrefix, segmentName, trimSlashes } from './names.js';
import type { SwiftOptions } from './options.js';
import { SwiftWriter } from './writer.js';

const NAME = 'swift';
/** Segments Swift's dlo middleware serves before it slows to one a second (its rate_limit_after_segment). */
const DLO_SEGMENTS_AT_FULL_SPEED = 10;

/** A file of the store: a plain object, or a Dynamic Large Object whose manifest names its segments. */
interface ObjectHead {
  size: number;
  modTime: Date;
  /** `container/prefix` of the segments, for a large object. */
  manifest: string | undefined;
}

const unexpected = (what: string, status: number) => new StorageError(`swift: ${what}: HTTP ${status}`, NAME);

/**
 * Stores each driver path as the object `<prefix>/files<path>` of one container, and what writers stream as
 * segments `<prefix>/segments/<xxx>/<hash>/<%016d>` joined by a Dynamic Large Object manifest
 * (`X-Object-Manifest`), exactly as distribution's swift driver does, so both share a container.
 */
export class SwiftDriver implements StorageDriver {
  readonly name = NAME;
  readonly flatListing = true;
  readonly client: SwiftClient;
  private readonly large: LargeObjects;
  private readonly filesRoot: string;
  private tempUrlKey: string | undefined;

  constructor(readonly options: SwiftOptions) {
    this.client = new SwiftClient(options);
    this.large = new LargeObjects(this.client);
    this.filesRoot = trimSlashes(`${options.prefix}/files`);
  }

  /**
   * Logs in, creates the container if it is missing, and reads what the cluster offers (bulk delete, temp
   * URLs for redirects). Errors name the config key to fix.
   */
  async connect(): Promise<void> {
    await this.client.login();
    const container = this.options.container;
    const head = await this.client.request('HEAD', '', { ok: 'any' });
    if (head.status === 404) {
      const put = await this.client.request('PUT', '', { ok: 'any' });
      if (put.status >= 300)
        throw new Error(`storage.swift.container: cannot create container ${container} (HTTP ${put.status})`);
    } else if (head.status >= 300) {
      throw new Error(`storage.swift.container: cannot use container ${container} (HTTP ${head.status})`);
    }
    const info = await this.client.info();
    const bulk = info?.bulk_delete as { max_deletes_per_request?: number } | undefined;
    this.client.bulkDeleteMax = bulk?.max_deletes_per_request ?? 0;
    const tempurl = info?.tempurl as { methods?: string[] } | undefined;
    const tempUrlMethods = tempurl?.methods ?? this.options.tempurlmethods ?? [];
    if (tempUrlMethods.includes('GET')) this.tempUrlKey = await this.tempUrlSecret();
  }

  /**
   * The temp URL key: the configured one, else the one already set (another unit or distribution may have
   * set it), else one derived from the credentials and container; stored on the container (or the account)
   * when it differs. Units that start together on one container derive the same key, and each reads back
   * what was stored, so none signs URLs with a key another has overwritten.
   */
  private async tempUrlSecret(): Promise<string | undefined> {
    const onContainer = this.options.tempurlcontainerkey;
    const target = onContainer ? {} : { account: true };
    const meta = onContainer ? 'x-container-meta-temp-url-key' : 'x-account-meta-temp-url-key';
    const stored = async () => header(await this.client.request('HEAD', '', { ...target, ok: 'any' }), meta);
    const current = await stored();
    const { authurl, username, password, container } = this.options;
    const wanted =
      this.options.secretkey ??
      current ??
      createHmac('sha256', password)
        .update(`regop temp url key\n${authurl}\n${username}\n${container}`)
        .digest('hex');
    if (wanted === current) return wanted;
    const post = await this.client.request('POST', '', { ...target, headers: { [meta]: wanted }, ok: 'any' });
    // Only an admin of the account may set it; without it blobs are served by the registry itself.
    if (post.status >= 300) return undefined;
    return (await stored()) ?? wanted;
  }

  /** The object name of a driver path. */
  objectName(path: string): string {
    return path === '/' ? this.filesRoot : `${this.filesRoot}${path}`;
  }

  private pathOf(name: string): string {
    return name.slice(this.filesRoot.length) || '/';
  }

  private async head(name: string): Promise<ObjectHead | undefined> {
    const res = await this.client.request('HEAD', name, { missing: 'absent' });
    if (!res) return undefined;
    const manifest = header(res, 'x-object-manifest');
    let size = Number(header(res, 'content-length') ?? 0);
    // A large object is sized from the container listing, which may lag behind the segments just written:
    // count them directly rather than report 0.
    if (manifest !== undefined && size === 0) size = await this.large.size(manifest);
    const timestamp = Number(header(res, 'x-timestamp'));
    const modTime = Number.isFinite(timestamp)
      ? new Date(timestamp * 1000)
      : new Date(header(res, 'last-modified') ?? Date.now());
    return { size, modTime, manifest };
  }

  async getContent(path: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.reader(path, 0)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async putContent(path: string, content: Uint8Array | string): Promise<void> {
    await this.client.request('PUT', this.objectName(path), {
      body: Buffer.from(content),
      headers: { 'content-type': 'application/octet-stream' },
    });
  }

  /**
   * Plain objects stream as they are. A large object is read segment by segment rather than through its
   * manifest: Swift serves a manifest's segments at one a second after the tenth (the dlo middleware's
   * default rate limit), and its size comes from a listing that may lag behind.
   */
  async reader(path: string, offset = 0): Promise<Readable> {
    const name = this.objectName(path);
    if (offset < 0) throw new InvalidOffsetError(path, offset, NAME);
    const res = await this.client.send('GET', name, {
      query: { 'multipart-manifest': 'get' },
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    });
    if (res.statusCode === 404) {
      await drain(res);
      throw new PathNotFoundError(path, NAME);
    }
    let manifest = header(res, 'x-object-manifest');
    if (res.statusCode === 416) {
      // Past the end of a plain object, or any offset into a large object's empty manifest.
      await drain(res);
      const head = await this.head(name);
      if (!head) throw new PathNotFoundError(path, NAME);
      manifest = head.manifest;
      if (manifest === undefined) {
        if (offset === head.size) return Readable.from([]);
        throw new InvalidOffsetError(path, offset, NAME);
      }
    } else if (res.statusCode >= 300) {
      await drain(res);
      throw unexpected(`GET ${path}`, res.statusCode);
    } else if (manifest === undefined) {
      return res.body;
    } else {
      await drain(res);
    }
    const segments = await this.large.segments(manifestPrefix(manifest));
    const size = segments.reduce((sum, s) => sum + s.bytes, 0);
    if (offset > size) throw new InvalidOffsetError(path, offset, NAME);
    return Readable.from(this.readSegments(segments, offset));
  }

  private async *readSegments(segments: Segment[], offset: number) {
    let start = 0;
    for (const segment of segments) {
      const end = start + segment.bytes;
      if (end > offset) {
        const from = Math.max(0, offset - start);
        const res = await this.client.send('GET', segment.name, {
          headers: from > 0 ? { range: `bytes=${from}-` } : {},
        });
        if (res.statusCode >= 300) {
          await drain(res);
          throw unexpected(`GET segment ${segment.name}`, res.statusCode);
        }
        try {
          yield* res.body;
        } finally {
          res.body.destroy();
        }
      }
      start = end;
    }
  }

  /**
   * A temp URL the client can fetch the object from directly, when the cluster offers them, for plain
   * objects and large objects Swift serves at full speed (see reader); the rest the registry serves.
   */
  async redirectURL(path: string, options: RedirectOptions): Promise<string | undefined> {
    if (!this.tempUrlKey) return undefined;
    const name = this.objectName(path);
    const head = await this.head(name);
    if (!head) return undefined;
    if (head.manifest !== undefined) {
      const segments = await this.large.segments(manifestPrefix(head.manifest));
      if (segments.length > DLO_SEGMENTS_AT_FULL_SPEED) return undefined;
    }
    const url = new URL(await this.client.url(name));
    const expires = Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 20 * 60);
    // A GET signature is good for HEAD too.
    const body = `GET\n${expires}\n${decodeURIComponent(url.pathname)}`;
    let sig = createHmac('sha256', this.tempUrlKey).update(body).digest('hex');
    if (this.options.accesskey) sig = `${this.options.tenantid ?? ''}:${this.options.accesskey}:${sig}`;
    url.search = new URLSearchParams({ temp_url_sig: sig, temp_url_expires: String(expires) }).toString();
    return url.toString();
  }

  async writer(path: string, append: boolean): Promise<FileWriter> {
    const name = this.objectName(path);
    const existing = append ? await this.head(name) : undefined;
    const writer = (prefix: string, written: { count: number; size: number }) =>
      new SwiftWriter(this.client, this.large, name, prefix, written);
    if (!existing || existing.size === 0)
      return writer(this.large.newSegmentsPath(path), { count: 0, size: 0 });
    if (existing.manifest !== undefined) {
      const prefix = manifestPrefix(existing.manifest);
      const segments = await this.large.segments(prefix);
      return writer(prefix, {
        count: segments.length,
        size: segments.reduce((sum, s) => sum + s.bytes, 0),
      });
    }
    // A plain object becomes the first segment of a large object; it stays readable until the manifest
    // replaces it.
    const prefix = this.large.newSegmentsPath(path);
    await this.copyObject(name, segmentName(prefix, 1));
    return writer(prefix, { count: 1, size: existing.size });
  }

  /** Server-side copy of a plain object. */
  private async copyObject(from: string, to: string): Promise<void> {
    const copied = await this.client.request('PUT', to, {
      headers: {
        'x-copy-from': `/${encodeURIComponent(this.options.container)}/${encodeName(from)}`,
        'content-length': '0',
      },
      missing: 'absent',
    });
    if (!copied) throw new PathNotFoundError(`/${from}`, NAME);
  }

  async stat(path: string): Promise<FileInfo> {
    const name = this.objectName(path);
    if (path !== '/') {
      const head = await this.head(name);
      if (head) return { path, size: head.size, modTime: head.modTime, isDir: false };
    }
    const res = await this.client.send('GET', '', {
      query: { format: 'json', prefix: `${name}/`, limit: '1' },
    });
    const first =
      res.statusCode === 200 ? ((await res.body.json()) as { last_modified?: string }[])[0] : undefined;
    if (res.statusCode !== 200) await drain(res);
    if (!first) throw new PathNotFoundError(path, NAME);
    return { path, size: 0, modTime: new Date(`${first.last_modified ?? ''}Z`), isDir: true };
  }

  /** Direct children, from one listing with a delimiter (never a walk of everything below). */
  private async children(path: string): Promise<ListEntry[]> {
    const entries: ListEntry[] = [];
    for await (const entry of this.client.listing(`${this.objectName(path)}/`, '/')) entries.push(entry);
    return entries;
  }

  async list(path: string): Promise<string[]> {
    const entries = await this.children(path);
    if (entries.length === 0 && path !== '/') throw new PathNotFoundError(path, NAME);
    return [...new Set(entries.map((e) => this.pathOf(e.name)))].sort();
  }

  async move(sourcePath: string, destPath: string): Promise<void> {
    const from = this.objectName(sourcePath);
    const to = this.objectName(destPath);
    const source = await this.head(from);
    if (!source) throw new PathNotFoundError(sourcePath, NAME);
    // A large object moves by a new manifest naming the same segments.
    if (source.manifest !== undefined)
      await this.large.putManifest(to, manifestPrefix(source.manifest), source.size);
    else await this.copyObject(from, to);
    await this.client.request('DELETE', from, { ok: [404] });
  }

  async delete(path: string): Promise<void> {
    const name = this.objectName(path);
    const files: { name: string; bytes: number }[] = [];
    if (path !== '/' && (await this.client.request('HEAD', name, { ok: 'any' })).status < 300)
      files.push({ name, bytes: 0 });
    for await (const entry of this.client.listing(`${name}/`))
      if (entry.kind === 'object') files.push({ name: entry.name, bytes: entry.bytes });
    if (files.length === 0) throw new PathNotFoundError(path, NAME);
    // Manifests list as 0 bytes: find their segments, and delete them after the manifests so no reader
    // sees a large object with holes.
    const segments: string[] = [];
    await mapLimited(
      files.filter((f) => f.bytes === 0),
      async (f) => {
        const manifest = header(
          await this.client.request('HEAD', f.name, { ok: 'any' }),
          'x-object-manifest',
        );
        if (manifest !== undefined)
          for (const s of await this.large.segments(manifestPrefix(manifest))) segments.push(s.name);
      },
    );
    await this.client.deleteObjects(files.map((f) => f.name));
    await this.client.deleteObjects(segments);
  }

  async walk(path: string, fn: WalkFn, options: WalkOptions = {}): Promise<void> {
    if (options.unordered) {
      const prefix = `${this.objectName(path)}/`;
      const files = async function* (this: SwiftDriver): AsyncGenerator<FileInfo> {
        let page: ListEntry[] = [];
        for await (const entry of this.client.listing(prefix)) {
          page.push(entry);
          if (page.length === 1000) {
            yield* await this.infos(page);
            page = [];
          }
        }
        yield* await this.infos(page);
      };
      if (!(await walkFlatListing(path, files.call(this), fn))) throw new PathNotFoundError(path, NAME);
      return;
    }
    const visit = async (entries: ListEntry[]): Promise<WalkResult> => {
      for (const info of await this.infos(entries)) {
        const result = await fn(info);
        if (result === StopWalk) return StopWalk;
        if (info.isDir && result !== SkipDir && (await visit(await this.children(info.path))) === StopWalk)
          return StopWalk;
      }
    };
    const top = await this.children(path);
    if (path !== '/' && top.length === 0) throw new PathNotFoundError(path, NAME);
    await visit(top);
  }

  /** FileInfos of listing entries, sized by HEAD where a listing shows a large object as its 0-byte manifest. */
  private async infos(entries: ListEntry[]): Promise<FileInfo[]> {
    const infos = entries.map(
      (e): FileInfo =>
        e.kind === 'dir'
          ? { path: this.pathOf(e.name), size: 0, modTime: new Date(0), isDir: true }
          : { path: this.pathOf(e.name), size: e.bytes, modTime: e.lastModified, isDir: false },
    );
    await mapLimited(
      infos.map((info, i) => [info, i] as const).filter(([info]) => !info.isDir && info.size === 0),
      async ([info, i]) => {
        const head = await this.head(this.objectName(info.path));
        if (head) infos[i] = { ...info, size: head.size };
      },
    );
    // Swift orders by the full name ("a-b" before "a/"); walks are in path order.
    return infos.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
