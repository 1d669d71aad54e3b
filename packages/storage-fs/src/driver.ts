import { randomBytes } from 'node:crypto';
import {
  close,
  createReadStream,
  type Dirent,
  fdatasync,
  fstat,
  open,
  read,
  readdirSync,
  readFileSync,
  type Stats,
  statSync,
  write,
  writev,
} from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join, normalize, dirname as osDirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import {
  type FileInfo,
  type FileWriter,
  FileWriterBase,
  InvalidOffsetError,
  PathNotFoundError,
  type PutOptions,
  SkipDir,
  StopWalk,
  type StorageDriver,
  type WalkFn,
  type WalkOptions,
  type WalkResult,
} from '@regop/storage';
import { LRUCache } from 'lru-cache';

const NAME = 'filesystem';
const READ_CHUNK = 1024 * 1024;
const WRITE_BUFFER = 4 * 1024 * 1024;
/** How much a writer lets pile up unsynced before it starts syncing in the background. */
const SYNC_EVERY = 16 * 1024 * 1024;
const SMALL_READ = 4096;
/** Directories listed with at least this many entries are kept (see list), up to KEPT_LISTINGS_BYTES in all. */
const KEPT_LISTING_MIN = 1000;
const KEPT_LISTINGS_BYTES = 32 * 1024 * 1024;
/** A change time this old is no longer in the clock tick a next change could share (see list). */
const settled = () => (BigInt(Date.now()) - 1000n) * 1_000_000n;
/** A directory's time in an unordered walk, which does not stat directories. */
const EPOCH = new Date(0);
const SLICE_MS = 10;
/** Tries of a write whose directory a concurrent delete removes (see inDirectory). */
const DIRECTORY_TRIES = 50;
// Temporary names used by putContent; they never match a registry path and are hidden from list/walk.
const TEMP_NAME = /^\..*\.[0-9a-f]{16}\.tmp$/;
/**
 * A temporary name's 16 hex digits: this process's random half and a count, unique among the processes that
 * share a store without drawing random bytes for every write (that cost as much as the write's own syscalls).
 */
const TEMP_PROCESS = randomBytes(4).toString('hex');
let tempCount = 0;
const tempSuffix = () => {
  tempCount = (tempCount + 1) >>> 0;
  return TEMP_PROCESS + tempCount.toString(16).padStart(8, '0');
};

export interface FilesystemDriverOptions {
  /** Directory that holds the tree (distribution's `rootdirectory`, default /var/lib/registry). */
  rootDirectory: string;
}

// Raw descriptors: the writer closes them itself (a FileHandle would also close on garbage collection).
const openFd = promisify(open);
const readAt = (fd: number, buffer: Buffer, length: number, position: number) =>
  new Promise<number>((resolve, reject) =>
    read(fd, buffer, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
const fstatFd = promisify(fstat);

const isErrno = (err: unknown, code: string): boolean => (err as NodeJS.ErrnoException)?.code === code;
/** What a missing path (or one below a file, or a directory read as a file) fails with. */
const isMissing = (err: unknown): boolean =>
  isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'EISDIR');

const fileInfo = (path: string, info: Stats): FileInfo => {
  const isDir = info.isDirectory();
  return { path, size: isDir ? 0 : info.size, modTime: info.mtime, isDir };
};

/**
 * Synchronous work in slices of about SLICE_MS, yielding to the event loop between them, so that requests are
 * served meanwhile: for the unordered walk and the batched stats and reads garbage collection makes by the
 * thousand. A local readdir, stat or small read takes microseconds; its threadpool round trip costs several
 * times that.
 */
class Slices {
  private start = Date.now();
  due(): boolean {
    return Date.now() - this.start > SLICE_MS;
  }
  async next(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.start = Date.now();
  }
  /** `fn` of each item in order, undefined where the item's path is missing (see isMissing). */
  static async map<T, R>(items: readonly T[], fn: (item: T) => R): Promise<(R | undefined)[]> {
    const slices = new Slices();
    const results: (R | undefined)[] = [];
    for (const item of items) {
      try {
        results.push(fn(item));
      } catch (err) {
        if (!isMissing(err)) throw err;
        results.push(undefined);
      }
      if (slices.due()) await slices.next();
    }
    return results;
  }
}

/** Stores every driver path as the same path below the root directory, as distribution's filesystem driver. */
export class FilesystemDriver implements StorageDriver {
  readonly name = NAME;
  readonly root: string;

  /** The root without a trailing slash ('' for '/'), so a driver path appends to it as it is. */
  private readonly prefix: string;
  /** The directory the last move() made or found. */
  private lastMoveDir: string | undefined;
  /** Listings of large directories, with the change time they were read at (see list). */
  private readonly listings = new LRUCache<string, { changed: bigint; paths: string[] }>({
    maxSize: KEPT_LISTINGS_BYTES,
    sizeCalculation: (l) => l.paths.reduce((n, p) => n + p.length + 16, 64),
  });

  constructor(options: FilesystemDriverOptions) {
    this.root = options.rootDirectory;
    this.prefix = normalize(this.root).replace(/\/+$/, '');
  }

  /**
   * Paths reach a driver validated (absolute, no empty or dot segments: see BaseDriver), so they are appended to
   * the root rather than joined: join normalizes the whole string again on every call of every request.
   */
  private full(path: string): string {
    return path === '/' ? this.prefix || '/' : this.prefix + path;
  }

  /** Runs an fs call, turning ENOENT/ENOTDIR into PathNotFoundError for `path`. */
  private async notFound<T>(path: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (isMissing(err)) throw new PathNotFoundError(path, NAME);
      throw err;
    }
  }

  async getContent(path: string): Promise<Buffer> {
    const full = this.full(path);
    return this.notFound(path, () => readWhole(full));
  }

  /** From this thread, in slices (see Slices). */
  getContentMany(paths: readonly string[]): Promise<(Buffer | undefined)[]> {
    return Slices.map(paths, (path) => readFileSync(this.full(path)));
  }

  /**
   * Runs `op` with `dir` made first. Another request may delete the tree `dir` is in between the two (a tag
   * deleted while it is being written): then the directory is made again and `op` retried. A delete retries
   * until the tree is gone (see delete), so a writer racing several deletes of one tag needs many tries: ten ran
   * out in the concurrency test about once in six runs.
   */
  private async inDirectory<T>(dir: string, op: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        await makeDirectory(dir);
        return await op();
      } catch (err) {
        // ENOTDIR too: a path walked while a component is being removed can briefly look like a file.
        if (!(isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) || attempt === DIRECTORY_TRIES) throw err;
      }
    }
  }

  async putContent(path: string, content: Uint8Array | string, options?: PutOptions): Promise<void> {
    const full = this.full(path);
    const dir = osDirname(full);
    const durable = options?.durable ?? true;
    // Scratch content that is empty is created in place: there is nothing a reader could see in part.
    if (!durable && content.length === 0) return this.inDirectory(dir, () => writeWhole(full, '', false));
    const temp = `${dir}/.${path.slice(path.lastIndexOf('/') + 1)}.${tempSuffix()}.tmp`;
    await this.inDirectory(dir, async () => {
      try {
        await writeWhole(temp, content, durable);
        await rename(temp, full);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
    });
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const full = this.full(path);
    const info = await this.notFound(path, () => stat(full));
    if (info.isDirectory()) throw new PathNotFoundError(path, NAME);
    if (offset < 0 || offset > info.size) throw new InvalidOffsetError(path, offset, NAME);
    return createReadStream(full, { start: offset, highWaterMark: READ_CHUNK });
  }

  /**
   * Two reused buffers: one is read into while the other is being written. Fresh buffers per chunk (as a
   * read stream allocates) cost a third of the throughput of a large pull.
   */
  async copyTo(path: string, dest: Writable, start: number, end: number): Promise<void> {
    const full = this.full(path);
    const fd = await this.notFound(path, () => openFd(full, 'r'));
    try {
      const size = (await fstatFd(fd)).size;
      // An empty range (end = start - 1) is served too, up to the end of the file: a zero-byte blob is one.
      if (start < 0 || start > size || end < start - 1 || (start === size && end >= start))
        throw new InvalidOffsetError(path, start, NAME);
      const last = Math.min(end, size - 1);
      const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
      let writing: Promise<void> = Promise.resolve();
      for (let position = start, i = 0; position <= last; i ^= 1) {
        const buffer = buffers[i] as Buffer;
        const n = await readAt(fd, buffer, Math.min(READ_CHUNK, last - position + 1), position);
        if (n === 0) break;
        position += n;
        await writing;
        writing = new Promise((resolve, reject) =>
          dest.write(buffer.subarray(0, n), (err) => (err ? reject(err) : resolve())),
        );
      }
      await writing;
    } finally {
      close(fd, () => {});
    }
  }

  async writer(path: string, append: boolean): Promise<FileWriter> {
    const full = this.full(path);
    // Appending is to a file that is there (an upload's data): its directory is made only when it is not.
    const fd = append
      ? await openFd(full, 'a').catch((err) => {
          if (!isErrno(err, 'ENOENT')) throw err;
          return this.inDirectory(osDirname(full), () => openFd(full, 'a'));
        })
      : await this.inDirectory(osDirname(full), () => openFd(full, 'w'));
    const size = append ? (await fstatFd(fd)).size : 0;
    return new FilesystemWriter(fd, full, size);
  }

  async stat(path: string): Promise<FileInfo> {
    const full = this.full(path);
    return fileInfo(path, await this.notFound(path, () => stat(full)));
  }

  /** From this thread, in slices (see Slices). */
  async statMany(paths: readonly string[]): Promise<(FileInfo | undefined)[]> {
    const infos = await Slices.map(paths, (path) => statSync(this.full(path), { throwIfNoEntry: false }));
    return infos.map((info, i) => info && fileInfo(paths[i] as string, info));
  }

  /**
   * A large directory's listing (a catalog level of 100,000 repositories, a repository's 100,000 tags) is kept
   * while the directory's change time stays what it was, so a client paging through it does not read and sort
   * it all again for each page: about 200 ms at 100,000 entries here. The time is read before the listing, and a
   * listing is kept only when its directory last changed over a second before: within one tick of the kernel's
   * clock a change does not move it, and a later change moves it past what was kept.
   */
  async list(path: string): Promise<string[]> {
    const full = this.full(path);
    const changed = changeTime(full);
    const kept = this.listings.get(full);
    if (kept && changed === kept.changed) return [...kept.paths];
    const names = await this.notFound(path, () => readdir(full));
    const prefix = path === '/' ? '' : path;
    const paths = names
      .filter((n) => !TEMP_NAME.test(n))
      .sort()
      .map((n) => `${prefix}/${n}`);
    if (changed !== undefined && paths.length >= KEPT_LISTING_MIN && changed < settled())
      this.listings.set(full, { changed, paths: [...paths] });
    return paths;
  }

  async move(sourcePath: string, destPath: string): Promise<void> {
    const source = this.full(sourcePath);
    const dest = this.full(destPath);
    const dir = osDirname(dest);
    // Moves into one directory in a row (garbage collection's quarantine) make it once; if it is removed
    // meanwhile, the rename's failure below makes it again.
    if (dir !== this.lastMoveDir) {
      await makeDirectory(dir);
      this.lastMoveDir = dir;
    }
    try {
      await rename(source, dest);
    } catch (err) {
      if (!(isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR'))) throw err;
      // Only when the rename fails is the source looked for (a stat first cost every move an operation);
      // if it is there, the destination's directory was removed meanwhile.
      await this.notFound(sourcePath, () => stat(source));
      await this.inDirectory(dir, () => rename(source, dest));
    }
  }

  async delete(path: string): Promise<void> {
    const full = this.full(path);
    // The quick way first (see removeTree); when a writer adds to the tree meanwhile (ENOTEMPTY), rm's way,
    // which lists and retries at each level, and after it distribution's: tried again until the tree is gone.
    try {
      if (await removeTree(full)) return;
      throw new PathNotFoundError(path, NAME);
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY')) throw err;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await rm(full, { recursive: true, force: true, maxRetries: 5, retryDelay: 10 });
        return;
      } catch (err) {
        if (!isErrno(err, 'ENOTEMPTY') || attempt === 20) throw err;
      }
    }
  }

  async walk(path: string, fn: WalkFn, options: WalkOptions = {}): Promise<void> {
    const full = this.full(path);
    await this.notFound(path, () => readdir(full));
    if (options.unordered) await this.walkBatched(path, full, fn);
    else await this.walkDir(path, full, fn);
  }

  /**
   * Breadth-first, with synchronous readdir and stat in slices (see Slices): a round trip to the threadpool for
   * each of the tens of thousands of tiny directories in the layout dominated garbage collection. (The ordered
   * walk stays fully asynchronous.)
   */
  private async walkBatched(path: string, full: string, fn: WalkFn): Promise<void> {
    const queue: [string, string][] = [[path, full]];
    const slices = new Slices();
    for (let head = 0; head < queue.length; head++) {
      const [dirPath, dirFull] = queue[head] as [string, string];
      let entries: Dirent[];
      try {
        entries = readdirSync(dirFull, { withFileTypes: true });
      } catch (err) {
        // A directory removed while we walk (a concurrent delete) simply has no children.
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
        throw err;
      }
      const prefix = dirPath === '/' ? '' : dirPath;
      for (const entry of entries) {
        const name = entry.name;
        if (TEMP_NAME.test(name)) continue;
        // A listed name has no slash: appended, not joined (join normalizes the whole path again).
        const childFull = `${dirFull}/${name}`;
        const child = `${prefix}/${name}`;
        // The listing tells directories apart; only files are stat'ed (for their size and time).
        // (A symbolic link is stat'ed too, to follow it.)
        const listedDir = entry.isDirectory();
        const info = listedDir ? undefined : statSync(childFull, { throwIfNoEntry: false });
        if (!listedDir && !info) continue;
        const isDir = info ? info.isDirectory() : true;
        const visited = fn({
          path: child,
          size: isDir ? 0 : (info?.size ?? 0),
          modTime: info?.mtime ?? EPOCH,
          isDir,
        });
        // Most callbacks return at once: awaiting only a promise saves a microtask per entry.
        const result = visited instanceof Promise ? await visited : visited;
        if (result === StopWalk) return;
        if (isDir && result !== SkipDir) queue.push([child, childFull]);
      }
      if (slices.due()) await slices.next();
    }
  }

  private async walkDir(path: string, full: string, fn: WalkFn): Promise<WalkResult> {
    let entries: string[];
    try {
      entries = (await readdir(full)).filter((n) => !TEMP_NAME.test(n)).sort();
    } catch (err) {
      // A directory removed while we walk (a concurrent delete) simply has no children.
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    const prefix = path === '/' ? '' : path;
    for (const name of entries) {
      let info: Awaited<ReturnType<typeof stat>>;
      try {
        info = await stat(join(full, name));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      const child = `${prefix}/${name}`;
      const isDir = info.isDirectory();
      const result = await fn({ path: child, size: isDir ? 0 : info.size, modTime: info.mtime, isDir });
      if (result === StopWalk) return StopWalk;
      if (isDir && result !== SkipDir) {
        if ((await this.walkDir(child, join(full, name), fn)) === StopWalk) return StopWalk;
      }
    }
  }
}

/** A path's change time in nanoseconds, or undefined where it cannot be read (the listing then says why). */
function changeTime(full: string): bigint | undefined {
  try {
    return statSync(full, { bigint: true, throwIfNoEntry: false })?.ctimeNs;
  } catch {
    return undefined;
  }
}

/**
 * Reads a file whole with callback I/O: open, reads until a short read, close. Most reads here are link
 * files of ~71 bytes, where fs.promises.readFile's FileHandle, fstat and promise hops cost more than the read.
 */
function readWhole(file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    open(file, 'r', (err, fd) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      const finish = (error: Error | null) =>
        close(fd, (closeErr) =>
          error || closeErr ? reject(error ?? closeErr) : resolve(Buffer.concat(chunks)),
        );
      const next = (size: number) => {
        const buffer = Buffer.allocUnsafe(size);
        read(fd, buffer, 0, size, null, (readErr, n) => {
          if (readErr) return finish(readErr);
          if (n > 0) chunks.push(buffer.subarray(0, n));
          // A short read of a regular file is its end; a full one may have more behind it.
          if (n < size) return finish(null);
          next(Math.min(size * 4, READ_CHUNK));
        });
      };
      next(SMALL_READ);
    });
  });
}

/**
 * Removes a file, or a directory and everything below it; false when nothing was there. A directory is listed,
 * its entries removed by their listed type, and then it goes; a file answers the listing with ENOTDIR and is
 * unlinked. Three operations for the layout's one-file directories (an upload's, a link's), where rm takes
 * seven: two lstats of the top, an rmdir tried before listing, an lstat of every entry. (The layout has no
 * symbolic links: a directory's listing would follow one, where rm removes only the link.)
 */
async function removeTree(full: string): Promise<boolean> {
  let entries: Dirent[];
  try {
    entries = await readdir(full, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    if (!isErrno(err, 'ENOTDIR')) throw err;
    return unlinkIfThere(full);
  }
  await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? removeTree(join(full, e.name)) : unlinkIfThere(join(full, e.name)),
    ),
  );
  try {
    await rmdir(full);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  return true;
}

/** Unlinks a file; false when it was not there. One that became a directory meanwhile is removed as one. */
async function unlinkIfThere(full: string): Promise<boolean> {
  try {
    await unlink(full);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    if (isErrno(err, 'EISDIR') || isErrno(err, 'EPERM')) return removeTree(full);
    throw err;
  }
}

/**
 * Writes a file whole; when `durable`, synced before it is closed, as distribution's writers do on commit, so the
 * rename that makes it visible never leaves an empty or partial file behind after a crash of the machine (ext4
 * and others allocate a new file's blocks only at writeback, so a rename can reach the disk before the data).
 */
function writeWhole(file: string, content: Uint8Array | string, durable: boolean): Promise<void> {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  return new Promise((resolve, reject) => {
    open(file, 'w', (err, fd) => {
      if (err) return reject(err);
      const finish = (error: Error | null) =>
        close(fd, (closeErr) => (error || closeErr ? reject(error ?? closeErr) : resolve()));
      const writeFrom = (offset: number): void => {
        if (offset < data.length)
          write(fd, data, offset, data.length - offset, null, (writeErr, n) =>
            writeErr ? finish(writeErr) : writeFrom(offset + n),
          );
        else if (durable) fdatasync(fd, finish);
        else finish(null);
      };
      writeFrom(0);
    });
  });
}

/**
 * mkdir -p, for a directory that usually exists or lacks only itself: one mkdir then. A recursive mkdir stats
 * a directory that exists (a second operation) to fail if it is a file; here the write that follows fails so.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return;
    if (!isErrno(err, 'ENOENT')) throw err;
    await mkdir(osDirname(dir), { recursive: true });
    await mkdir(dir).catch((again: unknown) => {
      if (!isErrno(again, 'EEXIST')) throw again;
    });
  }
}

/** Writes straight into the file (fs paths are not visible to registry clients until moved or linked). */
class FilesystemWriter extends FileWriterBase {
  #size: number;
  #closed = false;
  /** Bytes written since the last sync started, and the sync running in the background, if any. */
  #unsynced = 0;
  #syncing: Promise<Error | null> | undefined;

  constructor(
    private readonly fd: number,
    private readonly file: string,
    initialSize: number,
  ) {
    // A large buffer lets chunks that arrive during a write go to disk together in one writev.
    super({ highWaterMark: WRITE_BUFFER });
    this.#size = initialSize;
    // What earlier writers left unsynced (an upload's earlier chunks) is synced while this one receives more.
    if (initialSize > 0) this.syncInBackground();
  }

  get size(): number {
    return this.#size;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this._writev([{ chunk }], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    const total = buffers.reduce((n, b) => n + b.length, 0);
    const writeAll = (rest: Buffer[], left: number): void => {
      writev(this.fd, rest, (err, written) => {
        if (err) return cb(err);
        this.#size += written;
        this.#unsynced += written;
        if (this.#unsynced >= SYNC_EVERY && !this.#syncing) this.syncInBackground();
        if (written === left) return cb();
        // A short write: continue after what was written.
        let skip = written;
        const remaining: Buffer[] = [];
        for (const b of rest) {
          if (skip >= b.length) skip -= b.length;
          else {
            remaining.push(skip > 0 ? b.subarray(skip) : b);
            skip = 0;
          }
        }
        writeAll(remaining, left - written);
      });
    };
    writeAll(buffers, total);
  }

  /**
   * Starts writing back what is written so far while more arrives, so that a commit's sync finds little left
   * to wait for: a 64 MiB blob's sync at the end took as long here as a fifth of its upload.
   */
  private syncInBackground(): void {
    this.#unsynced = 0;
    this.#syncing = new Promise((resolve) => fdatasync(this.fd, resolve)).then((err) => {
      this.#syncing = undefined;
      return err as Error | null;
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    // A commit makes the data durable before it is moved into place; closing an unfinished upload does not.
    void (this.#syncing ?? Promise.resolve(null)).then((earlier) => {
      if (earlier || !this.committing) return this.closeFd((err) => cb(earlier ?? err));
      fdatasync(this.fd, (err) => this.closeFd((closeErr) => cb(err ?? closeErr)));
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    void (this.#syncing ?? Promise.resolve()).then(() => this.closeFd(() => cb(err)));
  }

  private closeFd(cb: (err?: Error | null) => void): void {
    if (this.#closed) {
      cb();
      return;
    }
    this.#closed = true;
    close(this.fd, (err) => cb(err));
  }

  async cancel(): Promise<void> {
    this.markDone();
    await new Promise<void>((resolve) => {
      if (this.destroyed) return resolve();
      this.once('close', () => resolve());
      this.destroy();
    });
    await rm(this.file, { force: true });
  }
}
