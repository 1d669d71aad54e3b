import { createHash, randomUUID } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type FileWriter, isPathNotFound, type StorageDriver } from '@regop/storage';
import { RegistryError } from '../errors.js';
import { paths } from '../paths.js';
import { Digest, type DigestAlgorithm } from '../reference.js';
import type { BlobDescriptor, BlobStore } from './blobs.js';
import { KeyedLock } from './keyed-lock.js';
import { deleteIfExists, listIfExists, statIfExists } from './links.js';
import { RunningHash } from './running-hash.js';

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ContentRange {
  start: number;
  end: number;
}

export interface UploadStatus {
  id: string;
  size: number;
}

/** Running digest of an upload's data, kept while the bytes flow so commit need not re-read them. */
interface HashState {
  algorithm: DigestAlgorithm;
  hash: RunningHash;
  offset: number;
}

/**
 * Uploads' running hashes between their requests. A request takes its upload's hash out and owns it: it puts it
 * back when the upload goes on from where the hash is, and otherwise the hash is disposed of (its part on the
 * hashing thread too) by whoever holds it, in one place, whatever failed.
 */
class RunningHashes {
  private readonly between = new Map<string, HashState>();

  /** The upload's hash, taken out (it is the caller's to put back or dispose of). */
  take(id: string): HashState | undefined {
    const state = this.between.get(id);
    this.between.delete(id);
    return state;
  }

  /**
   * The hash to go on with at `offset`: the upload's own, or a new one for an upload with nothing before
   * (one resumed elsewhere or after a restart with data already is hashed from its data at commit).
   */
  resume(id: string, algorithm: DigestAlgorithm, offset: number): HashState | undefined {
    const state = this.take(id);
    if (state?.offset === offset && state.algorithm === algorithm) return state;
    state?.hash.dispose();
    return offset === 0 ? { algorithm, hash: new RunningHash(algorithm), offset: 0 } : undefined;
  }

  /** Puts a hash back for the upload's next request. */
  keep(id: string, state: HashState): void {
    this.between.set(id, state);
  }

  /** The upload is gone: its hash too. */
  forget(id: string): void {
    this.take(id)?.hash.dispose();
  }
}

/** How long an upload may lack its data file before purging takes it for an interrupted commit. */
const DATALESS_GRACE_MS = 10 * 60_000;

/**
 * Blob uploads under `_uploads/<id>`: data is appended across requests, hashed as it arrives, and becomes a
 * blob only when commit verifies the digest; then it is linked and moved (atomically) into place, and the
 * upload directory removed. Data is created when the upload starts, so an upload whose data is gone is one
 * whose commit was interrupted after the move: whoever touches it next finishes the cleanup.
 */
export class UploadService {
  private readonly lock = new KeyedLock();
  private readonly hashes = new RunningHashes();

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
  ) {}

  async start(name: string): Promise<UploadStatus> {
    const id = randomUUID();
    const startedAt = new Date();
    // Scratch: an upload lost in a crash of the machine is one the client starts again, so neither file is
    // synced (its data is, at commit). distribution writes RFC 3339 with second precision.
    const scratch = { durable: false };
    await Promise.all([
      this.driver.putContent(
        paths.uploadStartedAt(name, id),
        `${startedAt.toISOString().slice(0, 19)}Z`,
        scratch,
      ),
      this.driver.putContent(paths.uploadData(name, id), '', scratch),
    ]);
    return { id, size: 0 };
  }

  async status(name: string, id: string): Promise<UploadStatus> {
    const data = await this.data(name, id);
    if (!data) return this.finishInterrupted(name, id);
    return { id, size: data.size };
  }

  /**
   * The upload's data file, or undefined when the upload exists without it (a commit interrupted after its
   * move); BLOB_UPLOAD_UNKNOWN when there is no such upload. Data present means the upload is, so the start
   * time is read only when it is missing: every PATCH and PUT comes through here.
   */
  private async data(name: string, id: string) {
    this.checkId(id);
    const data = await statIfExists(this.driver, paths.uploadData(name, id));
    if (!data) await this.startedAt(name, id);
    return data;
  }

  /** Appends a chunk; with a Content-Range it must start where the upload ends (RANGE_INVALID otherwise). */
  append(name: string, id: string, body: Readable, range?: ContentRange): Promise<UploadStatus> {
    return this.lock.run(id, () => this.appendLocked(name, id, body, range));
  }

  /** Appends the final chunk, if any, verifies the digest and makes the blob visible in the repository. */
  commit(
    name: string,
    id: string,
    digest: Digest,
    body?: Readable,
    range?: ContentRange,
  ): Promise<BlobDescriptor> {
    return this.lock.run(id, async () => {
      // A retried PUT of a commit that was interrupted after its blob became visible: done already.
      if (!(await this.data(name, id))) {
        body?.resume();
        const done = await this.blobs.find(name, digest);
        if (!done) return this.finishInterrupted(name, id);
        await this.remove(name, id);
        return done;
      }
      // The data's writer is committed (an object store's multipart upload completed) before it is read.
      const status = body
        ? await this.appendLocked(name, id, body, range, digest.algorithm, true)
        : await this.finalize(name, id);
      const actual = await this.digestOf(name, id, digest.algorithm, status.size);
      if (!actual.equals(digest)) {
        await this.remove(name, id);
        throw new RegistryError('DIGEST_INVALID', `upload content has digest ${actual}, not ${digest}`, {
          expected: `${digest}`,
          actual: `${actual}`,
        });
      }
      // Link first, then make the data visible. Another upload may have stored the same content already:
      // then ours is redundant, unless garbage collection takes that copy away; the fresh link makes the
      // collector restore it (see gc/collector.ts), and if it is gone already, our own bytes take its place.
      // Interrupted before the move, a retry finds the upload as it was; after it, see finishInterrupted.
      await this.blobs.link(name, digest);
      if (!(await this.blobs.statGlobal(digest)))
        await this.driver.move(paths.uploadData(name, id), paths.blobData(digest));
      await this.remove(name, id);
      return { digest, size: status.size };
    });
  }

  cancel(name: string, id: string): Promise<void> {
    return this.lock.run(id, async () => {
      await this.startedAt(name, id);
      await this.remove(name, id);
    });
  }

  /** Deletes uploads started before `olderThan`; returns the paths removed (or that would be, on a dry run). */
  async purge(olderThan: Date, dryRun: boolean): Promise<string[]> {
    const purged: string[] = [];
    for (const name of await this.repositoriesWithUploads()) {
      for (const dir of await listIfExists(this.driver, paths.uploadsDir(name))) {
        const id = dir.slice(dir.lastIndexOf('/') + 1);
        const started = await this.startedAt(name, id).catch(() => undefined);
        // An upload without a readable start time is judged by its directory's age.
        const when = started ?? (await statIfExists(this.driver, dir))?.modTime;
        // One without data is a commit interrupted after its move, once it is more than a moment old.
        const interrupted =
          when !== undefined &&
          when.getTime() < Date.now() - DATALESS_GRACE_MS &&
          !(await statIfExists(this.driver, paths.uploadData(name, id)));
        if (when && (when < olderThan || interrupted)) {
          purged.push(dir);
          if (!dryRun) await this.remove(name, id);
        }
      }
    }
    return purged;
  }

  private async repositoriesWithUploads(): Promise<string[]> {
    const names: string[] = [];
    const prefix = `${paths.repository('')}`;
    const visit = async (dir: string): Promise<void> => {
      for (const child of await listIfExists(this.driver, dir)) {
        const base = child.slice(child.lastIndexOf('/') + 1);
        if (base === '_uploads') names.push(dir.slice(prefix.length));
        else if (!base.startsWith('_')) await visit(child);
      }
    };
    await visit(prefix.slice(0, -1));
    return names;
  }

  private async appendLocked(
    name: string,
    id: string,
    body: Readable,
    range: ContentRange | undefined,
    algorithm: DigestAlgorithm = 'sha256',
    final = false,
  ): Promise<UploadStatus> {
    // Appending to missing data would start the upload over from nothing. (A commit has looked already.)
    if (!final && !(await this.data(name, id))) {
      body.resume();
      return this.finishInterrupted(name, id);
    }
    const writer = await this.driver.writer(paths.uploadData(name, id), true);
    const offset = writer.size;
    if (range && range.start !== offset) {
      await new Promise<void>((resolve) => writer.end(resolve));
      body.resume();
      throw new RegistryError('RANGE_INVALID', `chunk starts at ${range.start}, upload is at ${offset}`, {
        uploadSize: offset,
      });
    }
    const hashing = this.hashes.resume(id, algorithm, offset);
    try {
      const size = await this.write(body, hashing, writer, final, id);
      if (range && range.end - range.start + 1 !== size - offset) {
        throw new RegistryError(
          'RANGE_INVALID',
          `Content-Range covers ${range.end - range.start + 1} bytes, got ${size - offset}`,
          { uploadSize: size },
        );
      }
      // Kept only while it covers every byte of the upload: commit reads the data back otherwise.
      if (hashing?.offset === size) this.hashes.keep(id, hashing);
      else hashing?.hash.dispose();
      return { id, size };
    } catch (err) {
      hashing?.hash.dispose();
      throw err;
    }
  }

  /** Streams a request's body into the upload's data, hashing it; the data's size after. */
  private async write(
    body: Readable,
    hashing: HashState | undefined,
    writer: FileWriter,
    final: boolean,
    id: string,
  ): Promise<number> {
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (!hashing) return cb(null, chunk);
        hashing.offset += chunk.length;
        const behind = hashing.hash.update(chunk);
        if (behind) void behind.then(() => cb(null, chunk));
        else cb(null, chunk);
      },
      flush(cb) {
        hashing?.hash.settle();
        cb();
      },
    });
    // Who failed decides the answer: a client that stopped sending (400) or the storage behind us (503).
    let storageFailure: Error | undefined;
    writer.once('error', (err) => {
      storageFailure = err;
    });
    try {
      // Not the final chunk: the writer is closed, not committed, so an object store keeps its upload open.
      await pipeline(body, hasher, writer, { end: !final });
    } catch (err) {
      if (storageFailure)
        throw new RegistryError('UNAVAILABLE', `storage failed during the upload: ${storageFailure.message}`);
      throw new RegistryError('BLOB_UPLOAD_INVALID', `upload interrupted: ${(err as Error).message}`);
    }
    if (final) await this.commitWriter(writer, id);
    return writer.size;
  }

  /** Commits the data written by earlier requests (a PUT without a body; commit has found the data). */
  private async finalize(name: string, id: string): Promise<UploadStatus> {
    const writer = await this.driver.writer(paths.uploadData(name, id), true);
    await this.commitWriter(writer, id);
    return { id, size: writer.size };
  }

  private async commitWriter(writer: FileWriter, id: string): Promise<void> {
    try {
      await writer.commit();
    } catch (err) {
      this.hashes.forget(id);
      throw new RegistryError(
        'UNAVAILABLE',
        `storage failed to complete the upload: ${(err as Error).message}`,
      );
    }
  }

  /** The digest of everything uploaded so far: from the running hash, or by re-reading the data. */
  private async digestOf(
    name: string,
    id: string,
    algorithm: DigestAlgorithm,
    size: number,
  ): Promise<Digest> {
    const state = this.hashes.take(id);
    if (state && state.algorithm === algorithm && state.offset === size) {
      // Undefined if the hashing thread died meanwhile: then the data is hashed as stored, below.
      const hex = await state.hash.digest().catch(() => undefined);
      if (hex) return Digest.parse(`${algorithm}:${hex}`);
    } else state?.hash.dispose();
    const hash = createHash(algorithm);
    await pipeline(await this.driver.reader(paths.uploadData(name, id), 0), hash);
    return Digest.fromHash(algorithm, hash);
  }

  /** An upload whose data is gone was committed (or its data removed): drop what is left of it. */
  private async finishInterrupted(name: string, id: string): Promise<never> {
    await this.remove(name, id);
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is finished (its data was committed)`, {
      id,
    });
  }

  private async remove(name: string, id: string): Promise<void> {
    this.hashes.forget(id);
    await deleteIfExists(this.driver, paths.uploadDir(name, id));
  }

  private checkId(id: string): void {
    if (!UPLOAD_ID.test(id))
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload id is not valid', { id: id.slice(0, 100) });
  }

  private async startedAt(name: string, id: string): Promise<Date> {
    this.checkId(id);
    try {
      const text = (await this.driver.getContent(paths.uploadStartedAt(name, id))).toString('utf8');
      const date = new Date(text.trim());
      return Number.isNaN(date.getTime()) ? new Date(0) : date;
    } catch (err) {
      if (isPathNotFound(err)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} unknown`, { id });
      throw err;
    }
  }
}
