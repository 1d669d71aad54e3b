import type { Writable } from 'node:stream';
import type {
  FileInfo,
  FileWriter,
  PutOptions,
  RedirectOptions,
  StorageDriver,
  WalkFn,
  WalkOptions,
} from './driver.js';
import { BackendUnavailableError, isPathNotFound, StorageError } from './errors.js';
import { mapLimited } from './limit.js';
import { checkPath } from './path.js';

/** Socket-level failures: the backend, not the request, is at fault. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** True for an error that says the network failed (its own code or its cause's). */
export function isNetworkError(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' && NETWORK_ERRORS.has(code);
}

async function absentAsUndefined<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
}

/** Called once per driver operation with its duration, for metrics (distribution's storage action metric). */
export type OperationObserver = (driver: string, action: string, seconds: number) => void;

/**
 * What every driver gets, as distribution's base.Base gives it: paths validated before the driver sees them,
 * failures surfacing as the typed StorageErrors (a network failure a driver let through becomes
 * BackendUnavailableError), and each operation timed. Drivers map their own backend's answers
 * (S3's 5xx, Swift's); this is the net under them, so the HTTP layer only ever reads StorageErrors.
 */
export class BaseDriver implements StorageDriver {
  readonly name: string;
  readonly flatListing?: boolean;
  readonly copyTo?: StorageDriver['copyTo'];
  readonly redirectURL?: StorageDriver['redirectURL'];
  /** Set by whoever keeps metrics. */
  observer: OperationObserver | undefined;

  /** Wraps a driver once: an already wrapped driver is returned as it is. */
  static wrap(driver: StorageDriver): BaseDriver {
    return driver instanceof BaseDriver ? driver : new BaseDriver(driver);
  }

  private constructor(readonly inner: StorageDriver) {
    this.name = inner.name;
    this.flatListing = inner.flatListing;
    const { copyTo, redirectURL } = inner;
    if (copyTo) {
      this.copyTo = (path: string, dest: Writable, start: number, end: number) =>
        this.run('CopyTo', [path], () => copyTo.call(inner, path, dest, start, end));
    }
    if (redirectURL) {
      this.redirectURL = (path: string, options: RedirectOptions) =>
        this.run('RedirectURL', [path], () => redirectURL.call(inner, path, options));
    }
  }

  getContent(path: string): Promise<Buffer> {
    return this.run('GetContent', [path], () => this.inner.getContent(path));
  }

  putContent(path: string, content: Uint8Array | string, options?: PutOptions): Promise<void> {
    return this.run('PutContent', [path], () => this.inner.putContent(path, content, options));
  }

  reader(path: string, offset = 0) {
    return this.run('Reader', [path], () => this.inner.reader(path, offset));
  }

  async writer(path: string, append: boolean): Promise<FileWriter> {
    const writer = await this.run('Writer', [path], () => this.inner.writer(path, append));
    const commit = writer.commit.bind(writer);
    writer.commit = () => this.run('Commit', [path], commit);
    return writer;
  }

  stat(path: string): Promise<FileInfo> {
    return this.run('Stat', [path], () => this.inner.stat(path));
  }

  /** Many stats, undefined where a path is missing: the driver's batch call, or a stat each, some at a time. */
  statMany(paths: readonly string[]): Promise<(FileInfo | undefined)[]> {
    if (paths.length === 0) return Promise.resolve([]);
    const { inner } = this;
    return this.run('StatMany', paths, () =>
      inner.statMany ? inner.statMany(paths) : mapLimited(paths, (p) => absentAsUndefined(inner.stat(p))),
    );
  }

  /** Many small files' contents, undefined where one is missing (as statMany). */
  getContentMany(paths: readonly string[]): Promise<(Buffer | undefined)[]> {
    if (paths.length === 0) return Promise.resolve([]);
    const { inner } = this;
    return this.run('GetContentMany', paths, () =>
      inner.getContentMany
        ? inner.getContentMany(paths)
        : mapLimited(paths, (p) => absentAsUndefined(inner.getContent(p))),
    );
  }

  list(path: string): Promise<string[]> {
    return this.run('List', [path], () => this.inner.list(path));
  }

  move(sourcePath: string, destPath: string): Promise<void> {
    return this.run('Move', [sourcePath, destPath], () => this.inner.move(sourcePath, destPath));
  }

  delete(path: string): Promise<void> {
    return this.run('Delete', [path], () => this.inner.delete(path));
  }

  walk(path: string, fn: WalkFn, options?: WalkOptions): Promise<void> {
    return this.run('Walk', [path], () => this.inner.walk(path, fn, options));
  }

  private async run<T>(action: string, paths: readonly string[], operation: () => Promise<T>): Promise<T> {
    for (const path of paths) checkPath(path, this.name);
    const started = performance.now();
    try {
      return await operation();
    } catch (err) {
      if (!(err instanceof StorageError) && isNetworkError(err)) {
        throw new BackendUnavailableError(
          `${this.name}: ${action} ${paths[0]}: backend unreachable (${(err as Error).message})`,
          this.name,
          { cause: err },
        );
      }
      throw err;
    } finally {
      this.observer?.(this.name, action, (performance.now() - started) / 1000);
    }
  }
}
