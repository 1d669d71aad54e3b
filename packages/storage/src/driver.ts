import type { Readable, Writable } from 'node:stream';

export interface FileInfo {
  /** Absolute driver path. */
  readonly path: string;
  /** Size in bytes; 0 for directories. */
  readonly size: number;
  readonly modTime: Date;
  readonly isDir: boolean;
}

/**
 * A writable for one path. Bytes written are kept even without commit(), so a later
 * writer(path, true) resumes where this one stopped (a chunked upload spans requests).
 */
export interface FileWriter extends Writable {
  /** Bytes in the file so far: what existed when opened in append mode plus what was written. */
  readonly size: number;
  /**
   * Ends the stream if needed, and marks the content complete: once it resolves, the content survives a crash of
   * the machine (as distribution's Commit, which syncs the file). Ending the stream without commit() only
   * closes it.
   */
  commit(): Promise<void>;
  /** Discards the stream and everything at the path. */
  cancel(): Promise<void>;
}

/** Walk callback result: SkipDir skips a directory's children, StopWalk ends the walk. */
export const SkipDir = Symbol('SkipDir');
export const StopWalk = Symbol('StopWalk');
// biome-ignore lint/suspicious/noConfusingVoidType: a walk callback may simply return nothing.
export type WalkResult = void | typeof SkipDir | typeof StopWalk;
export type WalkFn = (info: FileInfo) => WalkResult | Promise<WalkResult>;

export interface WalkOptions {
  /**
   * The caller needs every entry, not their order (garbage collection): the driver may visit subtrees in
   * parallel. Parents are still visited before their children, and SkipDir and StopWalk still apply. A
   * directory's modTime means nothing here (object stores have none; the filesystem skips a stat for it).
   */
  unordered?: boolean;
}

export interface PutOptions {
  /**
   * False for scratch content a client would redo if it were lost (an upload's start): it need not survive a
   * crash of the machine, so a driver may skip what makes it durable (a filesystem's sync). It is still
   * replaced atomically. Default true.
   */
  durable?: boolean;
}

export interface RedirectOptions {
  method: 'GET' | 'HEAD';
  expiresInSeconds?: number;
}

/**
 * The storage driver contract, after distribution's storagedriver.StorageDriver.
 * Paths are absolute; BaseDriver validates them (isValidPath) before a driver sees one, so drivers trust them.
 * Missing paths reject with PathNotFoundError; a backend that cannot be reached, with BackendUnavailableError.
 */
export interface StorageDriver {
  readonly name: string;
  /**
   * True when an unordered walk reads whole subtrees in one listing whose keys come with their sizes and times
   * (object stores): SkipDir then saves no request, and a file's time is already known. Absent when walks list
   * directory by directory (a filesystem): SkipDir saves a listing, and a file's time costs a stat.
   */
  readonly flatListing?: boolean;
  getContent(path: string): Promise<Buffer>;
  /**
   * Optional: the contents of many small files at once, undefined for each that does not exist, for a caller
   * that reads thousands (garbage collection's manifests). Offered as statMany is; BaseDriver gives callers
   * both for every driver.
   */
  getContentMany?(paths: readonly string[]): Promise<(Buffer | undefined)[]>;
  /**
   * Replaces the content atomically: readers see the old bytes or the new, never a part. Once it resolves, the
   * content survives a crash of the machine (unless options.durable is false).
   */
  putContent(path: string, content: Uint8Array | string, options?: PutOptions): Promise<void>;
  /** A stream from `offset`; an offset past the end rejects with InvalidOffsetError. */
  reader(path: string, offset?: number): Promise<Readable>;
  writer(path: string, append: boolean): Promise<FileWriter>;
  stat(path: string): Promise<FileInfo>;
  /**
   * Optional: many stats at once, undefined for each path that does not exist, for a caller that makes thousands
   * (garbage collection). A driver offers it when it answers them for much less than a stat() each costs;
   * for the others BaseDriver makes a stat() each, some at a time.
   */
  statMany?(paths: readonly string[]): Promise<(FileInfo | undefined)[]>;
  /** Full paths of the direct children of a directory, sorted. */
  list(path: string): Promise<string[]>;
  /** Moves a file, replacing anything at the destination. */
  move(sourcePath: string, destPath: string): Promise<void>;
  /** Deletes a file or a whole directory tree. */
  delete(path: string): Promise<void>;
  /** Depth-first, lexically ordered traversal of everything below `path` (see WalkOptions). */
  walk(path: string, fn: WalkFn, options?: WalkOptions): Promise<void>;
  /**
   * Optional fast path for serving bytes `start`..`end` (inclusive) of a file into `dest`, which it does not
   * end. `end` = `start` - 1 is the empty range (a zero-byte file's whole content), valid up to the file's size. A driver may reuse its read buffers, taking each back once `dest` has written it; callers without it
   * stream from reader().
   */
  copyTo?(path: string, dest: Writable, start: number, end: number): Promise<void>;
  /** A URL the client may fetch the content from directly, or undefined to serve it ourselves. */
  redirectURL?(path: string, options: RedirectOptions): Promise<string | undefined>;
}
