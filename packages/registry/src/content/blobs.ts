import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageDriver } from '@regop/storage';
import { RegistryError } from '../errors.js';
import { paths } from '../paths.js';
import type { Digest } from '../reference.js';
import { deleteIfExists, statIfExists, writeLink } from './links.js';

export interface BlobDescriptor {
  digest: Digest;
  size: number;
}

/**
 * Blobs are stored once, globally, by digest; a repository sees a blob only through its `_layers` link.
 */
export class BlobStore {
  constructor(private readonly driver: StorageDriver) {}

  /** The blob's descriptor when its data exists anywhere in the registry. */
  async statGlobal(digest: Digest): Promise<BlobDescriptor | undefined> {
    const info = await statIfExists(this.driver, paths.blobData(digest));
    return info && !info.isDir ? { digest, size: info.size } : undefined;
  }

  /** The blob as seen from a repository: linked there and present; otherwise undefined. */
  async find(name: string, digest: Digest): Promise<BlobDescriptor | undefined> {
    // Looked up together.
    const [linked, blob] = await Promise.all([this.linked(name, digest), this.statGlobal(digest)]);
    return linked ? blob : undefined;
  }

  /**
   * Whether the repository links the blob. A layer link only ever names its own digest, so its presence
   * answers (a stat, where reading it is three storage operations).
   */
  async linked(name: string, digest: Digest): Promise<boolean> {
    return (await statIfExists(this.driver, paths.layerLink(name, digest)))?.isDir === false;
  }

  async stat(name: string, digest: Digest): Promise<BlobDescriptor> {
    const found = await this.find(name, digest);
    if (!found)
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository ${name}`, {
        digest: `${digest}`,
      });
    return found;
  }

  /**
   * A small blob's bytes (an image config) as seen from a repository; only its size when it is larger than
   * `maxBytes`, so a hostile or huge blob is never read whole to be shown.
   */
  async content(name: string, digest: Digest, maxBytes: number): Promise<{ size: number; content?: Buffer }> {
    const { size } = await this.stat(name, digest);
    if (size > maxBytes) return { size };
    return { size, content: await this.driver.getContent(paths.blobData(digest)) };
  }

  /** Writes bytes `start`..`end` (inclusive) of a blob into `dest`, without ending it. */
  async sendTo(digest: Digest, dest: Writable, start: number, end: number): Promise<void> {
    const path = paths.blobData(digest);
    if (this.driver.copyTo) return this.driver.copyTo(path, dest, start, end);
    await pipeline(Readable.from(take(await this.driver.reader(path, start), end - start + 1)), dest, {
      end: false,
    });
  }

  redirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.driver.redirectURL?.(paths.blobData(digest), { method }) ?? Promise.resolve(undefined);
  }

  link(name: string, digest: Digest): Promise<void> {
    return writeLink(this.driver, paths.layerLink(name, digest), digest);
  }

  /** Removes the repository's link (the data stays for garbage collection). */
  async unlink(name: string, digest: Digest): Promise<void> {
    if (!(await this.find(name, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository ${name}`, {
        digest: `${digest}`,
      });
    }
    await deleteIfExists(this.driver, paths.layerDir(name, digest));
  }

  /**
   * Links an existing blob into `name` (cross-repository mount); undefined when there is nothing to mount.
   * The blob is checked again after linking: if garbage collection took it meanwhile, the mount fails and
   * the client uploads the blob instead.
   */
  async mount(name: string, digest: Digest, from?: string): Promise<BlobDescriptor | undefined> {
    const source = from === undefined ? await this.statGlobal(digest) : await this.find(from, digest);
    if (!source) return undefined;
    await this.link(name, digest);
    return this.statGlobal(digest);
  }
}

/** The first `length` bytes of a stream, which is then closed. */
async function* take(stream: Readable, length: number): AsyncGenerator<Buffer> {
  let left = length;
  try {
    for await (const chunk of stream) {
      const buffer = chunk as Buffer;
      if (buffer.length >= left) {
        yield buffer.subarray(0, left);
        return;
      }
      left -= buffer.length;
      yield buffer;
    }
  } finally {
    stream.destroy();
  }
}
