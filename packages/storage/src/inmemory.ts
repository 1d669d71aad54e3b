import { Readable } from 'node:stream';
import * as z from 'zod';
import type { DriverDescriptor } from './descriptor.js';
import {
  type FileInfo,
  type FileWriter,
  SkipDir,
  StopWalk,
  type StorageDriver,
  type WalkFn,
  type WalkResult,
} from './driver.js';
import { InvalidOffsetError, PathNotFoundError } from './errors.js';
import { FileWriterBase } from './writer.js';

const NAME = 'inmemory';

interface MemoryFile {
  chunks: Buffer[];
  size: number;
  modTime: Date;
}

/**
 * Keeps everything in process memory, as distribution's inmemory driver: for tests and throwaway registries.
 * It holds whole files by nature, so it is no place for large blobs.
 */
export class InMemoryDriver implements StorageDriver {
  readonly name = NAME;
  private readonly files = new Map<string, MemoryFile>();

  private file(path: string): MemoryFile {
    const file = this.files.get(path);
    if (!file) throw new PathNotFoundError(path, NAME);
    return file;
  }

  /** Paths of the files below a directory (not the directory itself). */
  private below(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    return [...this.files.keys()].filter((p) => p.startsWith(prefix));
  }

  async getContent(path: string): Promise<Buffer> {
    return Buffer.concat(this.file(path).chunks);
  }

  async putContent(path: string, content: Uint8Array | string): Promise<void> {
    const data = Buffer.from(content);
    this.files.set(path, { chunks: [data], size: data.length, modTime: new Date() });
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const file = this.file(path);
    if (offset < 0 || offset > file.size) throw new InvalidOffsetError(path, offset, NAME);
    return Readable.from([Buffer.concat(file.chunks).subarray(offset)].filter((b) => b.length > 0));
  }

  async writer(path: string, append: boolean): Promise<FileWriter> {
    const file: MemoryFile = (append ? this.files.get(path) : undefined) ?? {
      chunks: [],
      size: 0,
      modTime: new Date(),
    };
    this.files.set(path, file);
    return new MemoryWriter(file, () => this.files.delete(path));
  }

  async stat(path: string): Promise<FileInfo> {
    const file = this.files.get(path);
    if (file) return { path, size: file.size, modTime: file.modTime, isDir: false };
    const children = this.below(path);
    if (children.length === 0) throw new PathNotFoundError(path, NAME);
    const modTime = new Date(
      Math.max(...children.map((c) => (this.files.get(c) as MemoryFile).modTime.getTime())),
    );
    return { path, size: 0, modTime, isDir: true };
  }

  async list(path: string): Promise<string[]> {
    const prefix = path === '/' ? '/' : `${path}/`;
    const names = new Set(this.below(path).map((p) => p.slice(prefix.length).split('/', 1)[0] as string));
    if (names.size === 0 && path !== '/') throw new PathNotFoundError(path, NAME);
    return [...names].sort().map((n) => `${prefix}${n}`);
  }

  async move(sourcePath: string, destPath: string): Promise<void> {
    const file = this.file(sourcePath);
    this.files.delete(sourcePath);
    this.files.set(destPath, file);
  }

  async delete(path: string): Promise<void> {
    const doomed = this.files.has(path) ? [path] : this.below(path);
    if (doomed.length === 0) throw new PathNotFoundError(path, NAME);
    for (const p of doomed) this.files.delete(p);
  }

  async walk(path: string, fn: WalkFn): Promise<void> {
    const walkDir = async (dir: string): Promise<WalkResult> => {
      for (const child of await this.list(dir).catch(() => [])) {
        const info = await this.stat(child).catch(() => undefined);
        if (!info) continue;
        const result = await fn(info);
        if (result === StopWalk) return StopWalk;
        if (info.isDir && result !== SkipDir && (await walkDir(child)) === StopWalk) return StopWalk;
      }
    };
    await this.list(path);
    await walkDir(path);
  }
}

class MemoryWriter extends FileWriterBase {
  constructor(
    private readonly file: MemoryFile,
    private readonly remove: () => void,
  ) {
    super();
  }

  get size(): number {
    return this.file.size;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.file.chunks.push(Buffer.from(chunk));
    this.file.size += chunk.length;
    this.file.modTime = new Date();
    cb();
  }

  async cancel(): Promise<void> {
    this.markDone();
    this.destroy();
    this.remove();
  }
}

/** distribution's inmemory driver: everything is lost when the process ends. For tests and trials. */
export const inmemory: DriverDescriptor = {
  name: 'inmemory',
  optionsSchema: z.strictObject({}),
  create: async () => new InMemoryDriver(),
};
