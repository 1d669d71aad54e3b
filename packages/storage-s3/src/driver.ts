import { createHash } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  BackendUnavailableError,
  ChunkedWriter,
  type FileInfo,
  type FileWriter,
  InvalidOffsetError,
  isNetworkError,
  mapLimited,
  PathNotFoundError,
  type RedirectOptions,
  SkipDir,
  StopWalk,
  type StorageDriver,
  type WalkFn,
  type WalkOptions,
  type WalkResult,
  walkFlatListing,
} from '@regop/storage';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';
import { MIN_PART, type S3Options } from './options.js';

const NAME = 's3aws';

const notFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
};

/**
 * An S3 failure that is the backend's, not the request's (unreachable, timed out, 5xx after the SDK's retries),
 * as the typed error every driver raises for it; any other error is returned as it is.
 */
function backendFailure(err: unknown, command: string | undefined): unknown {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode ?? 0;
  if (status < 500 && !isNetworkError(err) && e?.name !== 'TimeoutError') return err;
  const code = (err as { code?: string }).code;
  const why = status >= 500 ? `HTTP ${status}` : [code, e?.message].filter(Boolean).join(' ');
  return new BackendUnavailableError(`${NAME}: ${command ?? 'request'} failed: ${why}`, NAME, { cause: err });
}

interface Part {
  PartNumber: number;
  ETag: string;
}

/** A multipart upload a writer left open (closed without commit), as ListParts reports it. */
interface OpenUpload {
  uploadId: string;
  parts: (Part & { Size: number })[];
  size: number;
  initiated: Date;
}

/**
 * The agents the SDK connects with: through the proxy HTTP_PROXY / HTTPS_PROXY name for the endpoint (NO_PROXY
 * heeded; the charm's registry-http(s)-proxy options set them), which the SDK's own handler does not read; and
 * without certificate checks when skipverify says so. Undefined when the SDK's defaults do.
 */
function requestAgents(endpoint: string, skipVerify: boolean) {
  const proxy = getProxyForUrl(endpoint);
  const tls = skipVerify ? { rejectUnauthorized: false } : {};
  if (proxy)
    return {
      httpAgent: new HttpProxyAgent(proxy, { keepAlive: true }),
      httpsAgent: new HttpsProxyAgent(proxy, { keepAlive: true, ...tls }),
    };
  return skipVerify ? { httpsAgent: new HttpsAgent({ keepAlive: true, ...tls }) } : undefined;
}

/**
 * Stores each driver path as the object `<rootdirectory><path>` (no leading slash), as distribution's s3
 * driver does, so both can share a bucket. Directories are key prefixes.
 */
export class S3Driver implements StorageDriver {
  readonly name = NAME;
  readonly flatListing = true;
  readonly client: S3Client;
  private readonly root: string;

  constructor(readonly options: S3Options) {
    const scheme = options.secure ? 'https' : 'http';
    const endpoint = options.regionendpoint
      ? /^[a-z]+:\/\//.test(options.regionendpoint)
        ? options.regionendpoint
        : `${scheme}://${options.regionendpoint}`
      : options.secure
        ? undefined
        : `http://s3.${options.region}.amazonaws.com`;
    const agents = requestAgents(
      endpoint ?? `https://s3.${options.region}.amazonaws.com`,
      options.skipverify,
    );
    this.client = new S3Client({
      region: options.region,
      ...(endpoint && { endpoint }),
      ...(agents && { requestHandler: agents }),
      forcePathStyle: options.forcepathstyle,
      ...(options.accesskey && options.secretkey
        ? { credentials: { accessKeyId: options.accesskey, secretAccessKey: options.secretkey } }
        : {}),
      ...(options.useragent && { customUserAgent: options.useragent }),
      useDualstackEndpoint: options.usedualstack,
      useAccelerateEndpoint: options.accelerate,
      // Checksums only where S3 requires them: S3-compatible stores (Swift's s3api among them) refuse the
      // SDK's default aws-chunked uploads.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // DeleteObjects requires a body checksum; Content-MD5 is the one every S3 implementation accepts
    // (Swift's s3api among them), so it replaces the SDK's CRC32 before the request is signed.
    type Args = { request: unknown };
    const contentMd5 =
      (next: (args: Args) => Promise<unknown>, context: { commandName?: string }) => async (args: Args) => {
        const request = args.request as { headers?: Record<string, string>; body?: unknown };
        if (
          context.commandName === 'DeleteObjectsCommand' &&
          request.headers &&
          typeof request.body === 'string'
        ) {
          for (const h of Object.keys(request.headers))
            if (h.toLowerCase().startsWith('x-amz-checksum-')) delete request.headers[h];
          delete request.headers['x-amz-sdk-checksum-algorithm'];
          request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
        }
        return next(args);
      };
    // The stack's generic middleware type is wider than this one needs; its shape is the one above.
    this.client.middlewareStack.addRelativeTo(contentMd5 as never, {
      relation: 'before',
      toMiddleware: 'httpSigningMiddleware',
      name: 'contentMd5ForDeleteObjects',
    });
    // Outermost, so it sees what is left after the SDK's retries.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          throw backendFailure(err, context.commandName);
        }
      },
      { step: 'initialize', name: 'backendUnavailable' },
    );
    this.root = options.rootdirectory.replace(/^\/+|\/+$/g, '');
  }

  /**
   * Checks that the bucket is reachable with these credentials, so a bad config fails at start naming the
   * key to fix rather than on the first push.
   */
  async checkAccess(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const e = err as {
        name?: string;
        code?: string;
        $metadata?: { httpStatusCode?: number };
        message?: string;
      };
      const status = e.$metadata?.httpStatusCode;
      const endpoint = this.options.regionendpoint ?? `the ${this.options.region} endpoint`;
      if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchBucket') {
        throw new Error(`storage.s3.bucket: bucket ${this.bucket} does not exist at ${endpoint}`);
      }
      if (status === 403 || status === 401) {
        throw new Error(
          `storage.s3.accesskey/secretkey: access to bucket ${this.bucket} denied at ${endpoint} (HTTP ${status})`,
        );
      }
      throw new Error(
        `storage.s3.regionendpoint: cannot reach ${endpoint}: ${e.message ?? e.code ?? e.name ?? ''}`.trim(),
      );
    }
  }

  /** The object key of a driver path. */
  key(path: string): string {
    return `${this.root}${path}`.replace(/^\/+/, '');
  }

  /** The key prefix of everything below a path (a directory). */
  private prefix(path: string): string {
    const key = this.key(path);
    return key === '' || key.endsWith('/') ? key : `${key}/`;
  }

  private pathOf(key: string): string {
    return `/${key}`.slice(this.root.length ? this.root.length + 1 : 0) || '/';
  }

  private get bucket() {
    return this.options.bucket;
  }

  private putParams() {
    return {
      ...(this.options.storageclass !== 'NONE' && { StorageClass: this.options.storageclass as never }),
      ...(this.options.encrypt && {
        ServerSideEncryption: this.options.keyid ? ('aws:kms' as const) : ('AES256' as const),
        ...(this.options.keyid && { SSEKMSKeyId: this.options.keyid }),
      }),
      ...(this.options.objectacl && { ACL: this.options.objectacl as never }),
    };
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      return Buffer.from(
        await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    } catch (err) {
      if (notFound(err)) throw new PathNotFoundError(path, NAME);
      throw err;
    }
  }

  async putContent(path: string, content: Uint8Array | string): Promise<void> {
    const body = Buffer.from(content);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(path),
        Body: body,
        ContentLength: body.length,
        ...this.putParams(),
      }),
    );
  }

  async reader(path: string, offset = 0): Promise<Readable> {
    const key = this.key(path);
    if (offset < 0) throw new InvalidOffsetError(path, offset, NAME);
    const size = (await this.stat(path)).size;
    if (offset > size) throw new InvalidOffsetError(path, offset, NAME);
    if (offset === size) return Readable.from([]);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${offset}-` }),
      );
      return res.Body as Readable;
    } catch (err) {
      if (notFound(err)) throw new PathNotFoundError(path, NAME);
      throw err;
    }
  }

  /** A presigned URL the client can fetch the object from directly (distribution's default for s3). */
  async redirectURL(path: string, options: RedirectOptions): Promise<string | undefined> {
    const input = { Bucket: this.bucket, Key: this.key(path) };
    const command = options.method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds ?? 20 * 60 });
  }

  /**
   * A writer closed without commit leaves its multipart upload open, as distribution's does, so appending
   * (the next PATCH of a chunked push) adds parts to it: each PATCH costs its own bytes, not a copy of all
   * before it. Only content written as an ordinary object (less than a chunk) is copied into a new upload.
   */
  async writer(path: string, append: boolean): Promise<FileWriter> {
    const key = this.key(path);
    const writer = new S3Writer(this, key, this.options.chunksize, this.putParams());
    if (!append) {
      // An upload left open here would otherwise be taken up by the next append.
      await this.abortUploads(key, (k) => k === key);
      return writer;
    }
    const open = await this.openUpload(key);
    if (open && open.parts.length > 0) {
      writer.continueUpload(open);
      return writer;
    }
    // An upload without parts (its writer stopped before the first) holds nothing to continue.
    if (open) await this.abortUploads(key, (k) => k === key);
    const size = await this.objectSize(key);
    if (size) await writer.resume(size);
    return writer;
  }

  private async objectSize(key: string): Promise<number | undefined> {
    try {
      return (
        (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).ContentLength ?? 0
      );
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  /** The newest multipart upload open at exactly `key`, with its parts; undefined when there is none. */
  async openUpload(key: string): Promise<OpenUpload | undefined> {
    const listed = await this.client.send(
      new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: key }),
    );
    const upload = (listed.Uploads ?? [])
      .filter((u) => u.Key === key && u.UploadId)
      .sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0))[0];
    if (!upload?.UploadId) return undefined;
    const parts: OpenUpload['parts'] = [];
    let marker: string | undefined;
    do {
      const page = await this.client.send(
        new ListPartsCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: upload.UploadId,
          ...(marker && { PartNumberMarker: marker }),
        }),
      );
      for (const part of page.Parts ?? [])
        parts.push({ PartNumber: part.PartNumber ?? 0, ETag: part.ETag ?? '', Size: part.Size ?? 0 });
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return {
      uploadId: upload.UploadId,
      parts,
      size: parts.reduce((n, part) => n + part.Size, 0),
      initiated: upload.Initiated ?? new Date(),
    };
  }

  /** Aborts the open multipart uploads below `prefix` whose key `which` accepts; returns how many. */
  private async abortUploads(prefix: string, which: (key: string) => boolean): Promise<number> {
    const listed = await this.client.send(
      new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }),
    );
    const open = (listed.Uploads ?? []).filter((u) => u.Key && u.UploadId && which(u.Key));
    await Promise.all(
      open.map((u) =>
        this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }))
          .catch((err) => {
            if (!notFound(err)) throw err;
          }),
      ),
    );
    return open.length;
  }

  async stat(path: string): Promise<FileInfo> {
    const key = this.key(path);
    if (key !== '') {
      try {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
        return {
          path,
          size: head.ContentLength ?? 0,
          modTime: head.LastModified ?? new Date(),
          isDir: false,
        };
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    }
    // Not an object: a file still being written (an open upload), or a directory.
    const [open, list] = await Promise.all([
      key === '' ? undefined : this.openUpload(key),
      this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix(path), MaxKeys: 1 }),
      ),
    ]);
    if (open) return { path, size: open.size, modTime: open.initiated, isDir: false };
    if (!list.Contents?.length) throw new PathNotFoundError(path, NAME);
    return { path, size: 0, modTime: list.Contents[0]?.LastModified ?? new Date(), isDir: true };
  }

  /** Pages through a listing (S3 returns at most 1000 keys a page). */
  private async *listPages(prefix: string, delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(delimiter && { Delimiter: delimiter }),
          ...(token && { ContinuationToken: token }),
        }),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async list(path: string): Promise<string[]> {
    const prefix = this.prefix(path);
    const children = new Set<string>();
    for await (const page of this.listPages(prefix, '/')) {
      for (const p of page.CommonPrefixes ?? [])
        if (p.Prefix) children.add(this.pathOf(p.Prefix.slice(0, -1)));
      for (const o of page.Contents ?? []) if (o.Key && o.Key !== prefix) children.add(this.pathOf(o.Key));
    }
    if (children.size === 0 && path !== '/') throw new PathNotFoundError(path, NAME);
    return [...children].sort();
  }

  async move(sourcePath: string, destPath: string): Promise<void> {
    const source = await this.stat(sourcePath);
    if (source.isDir) throw new PathNotFoundError(sourcePath, NAME);
    const from = this.key(sourcePath);
    const to = this.key(destPath);
    if (source.size > this.options.multipartcopythresholdsize) {
      await this.multipartCopy(from, to, source.size);
    } else {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: to,
          CopySource: this.copySource(from),
          ...this.putParams(),
        }),
      );
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: from }));
  }

  copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Copies a large object as a multipart upload of server-side part copies, several at a time. */
  private async multipartCopy(from: string, to: string, size: number): Promise<void> {
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: to, ...this.putParams() }),
    );
    const chunk = this.options.multipartcopychunksize;
    const count = Math.ceil(size / chunk);
    try {
      const parts: Part[] = await mapLimited(
        Array.from({ length: count }, (_, i) => i),
        async (i) => {
          const start = i * chunk;
          const end = Math.min(size, start + chunk) - 1;
          const res = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: to,
              UploadId,
              PartNumber: i + 1,
              CopySource: this.copySource(from),
              CopySourceRange: `bytes=${start}-${end}`,
            }),
          );
          return { PartNumber: i + 1, ETag: res.CopyPartResult?.ETag ?? '' };
        },
        this.options.multipartcopymaxconcurrency,
      );
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: to,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId }))
        .catch(() => {});
      throw err;
    }
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    const keys: string[] = [];
    if (key !== '' && (await this.objectSize(key)) !== undefined) keys.push(key);
    for await (const page of this.listPages(this.prefix(path)))
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    // Parts of uploads left open below the path are stored (and billed) too.
    const prefix = this.prefix(path);
    const aborted = await this.abortUploads(key, (k) => k === key || k.startsWith(prefix));
    if (keys.length === 0 && aborted === 0) throw new PathNotFoundError(path, NAME);
    if (keys.length === 0) return;
    for (let i = 0; i < keys.length; i += 1000) {
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }

  async walk(path: string, fn: WalkFn, options: WalkOptions = {}): Promise<void> {
    if (options.unordered) return this.walkFlat(path, fn);
    await this.list(path);
    const visit = async (dir: string): Promise<WalkResult> => {
      for (const child of await this.list(dir).catch(() => [] as string[])) {
        const info = await this.stat(child).catch(() => undefined);
        if (!info) continue;
        const result = await fn(info);
        if (result === StopWalk) return StopWalk;
        if (info.isDir && result !== SkipDir && (await visit(child)) === StopWalk) return StopWalk;
      }
    };
    await visit(path);
  }

  /** One flat listing: every object with its size and time, directories derived from the keys. */
  private async walkFlat(path: string, fn: WalkFn): Promise<void> {
    const prefix = this.prefix(path);
    const pages = this.listPages(prefix);
    const pathOf = (key: string) => this.pathOf(key);
    async function* files(): AsyncGenerator<FileInfo> {
      for await (const page of pages)
        for (const object of page.Contents ?? []) {
          if (!object.Key || object.Key === prefix) continue;
          yield {
            path: pathOf(object.Key),
            size: object.Size ?? 0,
            modTime: object.LastModified ?? new Date(),
            isDir: false,
          };
        }
    }
    if (!(await walkFlatListing(path, files(), fn))) throw new PathNotFoundError(path, NAME);
  }
}

/**
 * Streams into a multipart upload, one part per `chunkSize` bytes. commit() completes the upload. Closed
 * without commit, a writer uploads what it holds as a part and leaves the upload open (removing any object at
 * the key, so stat reports the upload); one holding less than S3's smallest part stores an ordinary object.
 * Appending continues an open upload (continueUpload) or copies an object's whole chunks into a new one
 * server-side and reads its remaining tail back (resume).
 */
class S3Writer extends ChunkedWriter {
  private uploadId: string | undefined;
  private parts: Part[] = [];
  private partSizes: number[] = [];
  /** The open upload ends in a part below S3's minimum, which must not stay in front of another part. */
  private smallLast = false;
  private completed = false;

  constructor(
    private readonly driver: S3Driver,
    private readonly key: string,
    chunkSize: number,
    private readonly putParams: object,
  ) {
    // What a writer closed without commit leaves as its upload's last part is then no smaller than S3's
    // minimum whenever it was written that much, so the next PATCH can follow it without a rewrite.
    super(chunkSize, 0, MIN_PART);
  }

  private get bucket() {
    return this.driver.options.bucket;
  }

  continueUpload(open: OpenUpload): void {
    this.uploadId = open.uploadId;
    this.parts = open.parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag }));
    this.partSizes = open.parts.map((p) => p.Size);
    this.smallLast = (this.partSizes.at(-1) ?? MIN_PART) < MIN_PART;
    this.resumeAt(open.size);
  }

  async resume(existing: number): Promise<void> {
    const whole = Math.floor(existing / this.chunkSize) * this.chunkSize;
    if (whole > 0)
      await this.copyRanges(Array.from({ length: whole / this.chunkSize }, () => this.chunkSize));
    this.resumeAt(existing, existing > whole ? await this.readRange(whole, existing - 1) : undefined);
  }

  /** Starts an upload made of the object's leading byte ranges of the given sizes, copied server-side. */
  private async copyRanges(sizes: number[]): Promise<void> {
    await this.start();
    let start = 0;
    for (const size of sizes) {
      const PartNumber = this.nextPartNumber();
      const res = await this.driver.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: this.key,
          UploadId: this.uploadId,
          PartNumber,
          CopySource: this.driver.copySource(this.key),
          CopySourceRange: `bytes=${start}-${start + size - 1}`,
        }),
      );
      this.parts.push({ PartNumber, ETag: res.CopyPartResult?.ETag ?? '' });
      this.partSizes.push(size);
      start += size;
    }
  }

  private async readRange(first: number, last: number): Promise<Buffer> {
    const res = await this.driver.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: this.key, Range: `bytes=${first}-${last}` }),
    );
    return Buffer.from(
      await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  }

  /**
   * Before a part follows a small last one (a PATCH of less than 5 MiB): the upload is completed, a new one
   * copies every part but the last server-side, and the last part's bytes are returned to go in front of what
   * follows. Returns an empty buffer when there is nothing to rewrite.
   */
  private async rebase(): Promise<Buffer> {
    if (!this.smallLast) return Buffer.alloc(0);
    this.smallLast = false;
    await this.complete();
    const sizes = this.partSizes.slice(0, -1);
    const kept = sizes.reduce((n, size) => n + size, 0);
    const last = this.partSizes.at(-1) ?? 0;
    this.uploadId = undefined;
    this.parts = [];
    this.partSizes = [];
    this.completed = false;
    if (sizes.length > 0) await this.copyRanges(sizes);
    return last > 0 ? this.readRange(kept, kept + last - 1) : Buffer.alloc(0);
  }

  private nextPartNumber(): number {
    return (this.parts.at(-1)?.PartNumber ?? 0) + 1;
  }

  private async start(): Promise<void> {
    if (this.uploadId) return;
    const res = await this.driver.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, ...this.putParams }),
    );
    this.uploadId = res.UploadId;
  }

  protected override async writeChunk(body: Buffer): Promise<void> {
    const before = await this.rebase();
    await this.uploadPart(before.length ? Buffer.concat([before, body]) : body);
  }

  private async uploadPart(body: Buffer): Promise<void> {
    await this.start();
    const PartNumber = this.nextPartNumber();
    const res = await this.driver.client.send(
      new UploadPartCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        PartNumber,
        Body: body,
        ContentLength: body.length,
      }),
    );
    this.parts.push({ PartNumber, ETag: res.ETag ?? '' });
    this.partSizes.push(body.length);
  }

  private async complete(): Promise<void> {
    await this.driver.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: this.parts },
      }),
    );
    this.completed = true;
  }

  override async commit(): Promise<void> {
    const closed = this.writableFinished;
    await super.commit();
    // Closed before commit: its data went into parts of the open upload, and completing it is what is left.
    if (closed && this.uploadId && !this.completed) await this.complete();
  }

  protected override async finish(tail: Buffer): Promise<void> {
    if (tail.length > 0 && this.smallLast) tail = Buffer.concat([await this.rebase(), tail]);
    // Committed, or too small to be a part that others follow: one ordinary object.
    if (!this.uploadId && (this.committing || tail.length < MIN_PART)) {
      await this.driver.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key,
          Body: tail,
          ContentLength: tail.length,
          ...this.putParams,
        }),
      );
      return;
    }
    if (tail.length > 0) await this.uploadPart(tail);
    if (this.committing) return this.complete();
    // Left open: an object at the key (the empty one an upload starts with, or the one resumed from) is stale.
    await this.driver.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key }))
      .catch((err) => {
        if (!notFound(err)) throw err;
      });
  }

  async cancel(): Promise<void> {
    this.markDone();
    this.destroy();
    if (this.uploadId) {
      await this.driver.client
        .send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId }),
        )
        .catch(() => {});
    }
    await this.driver.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key }))
      .catch(() => {});
  }
}
