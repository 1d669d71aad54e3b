import { Writable, type WritableOptions } from 'node:stream';
import type { FileWriter } from './driver.js';

/**
 * What every driver's writer shares: commit() ends the stream if the caller has not, and a writer is
 * committed or cancelled once. Drivers add the writing, `size` and cancel().
 */
export abstract class FileWriterBase extends Writable implements FileWriter {
  #done = false;
  #committing = false;

  constructor(options?: WritableOptions) {
    super(options);
  }

  abstract get size(): number;
  abstract cancel(): Promise<void>;

  /** Called by cancel(): nothing may be committed afterwards. */
  protected markDone(): void {
    this.#done = true;
  }

  /** True once commit() has been called: a driver's _final makes the content durable then. */
  protected get committing(): boolean {
    return this.#committing;
  }

  async commit(): Promise<void> {
    if (this.#done) throw new Error('writer already committed or cancelled');
    this.#done = true;
    this.#committing = true;
    // A write that already failed fails the commit too: its error, not a generic "stream destroyed".
    if (!this.writableFinished) {
      await new Promise<void>((resolve, reject) => {
        // Listened for here too: an 'error' nobody listens to would take the process down.
        this.once('error', reject);
        this.end((err?: Error | null) => (err ? reject(this.errored ?? err) : resolve()));
      });
    }
    if (this.errored) throw this.errored;
  }
}

/**
 * A writer for object stores that take a file in pieces (S3 parts, Swift segments): it buffers what is written
 * into `chunkSize` pieces and hands each to writeChunk() in order, applying backpressure while one is sent;
 * ending the stream hands what is left (possibly nothing) to finish().
 */
export abstract class ChunkedWriter extends FileWriterBase {
  #size: number;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;

  /**
   * `holdBack`: bytes always kept buffered until the end, so the piece finish() gets is never smaller than that
   * when as much was written (S3 takes a part below 5 MiB only as an upload's last).
   */
  constructor(
    protected readonly chunkSize: number,
    existingSize = 0,
    private readonly holdBack = 0,
  ) {
    super();
    this.#size = existingSize;
  }

  get size(): number {
    return this.#size;
  }

  protected abstract writeChunk(chunk: Buffer): Promise<void>;
  protected abstract finish(tail: Buffer): Promise<void>;

  /** The file already holds `size` bytes, of which `tail` (its end) is to be written again with what follows. */
  protected resumeAt(size: number, tail: Buffer = Buffer.alloc(0)): void {
    this.#size = size;
    this.buffered = tail.length ? [tail] : [];
    this.bufferedBytes = tail.length;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.#size += chunk.length;
    if (this.bufferedBytes < this.chunkSize + this.holdBack) {
      cb();
      return;
    }
    const all = Buffer.concat(this.buffered);
    const full: Buffer[] = [];
    let offset = 0;
    for (; all.length - offset >= this.chunkSize + this.holdBack; offset += this.chunkSize)
      full.push(all.subarray(offset, offset + this.chunkSize));
    this.buffered = offset < all.length ? [all.subarray(offset)] : [];
    this.bufferedBytes = all.length - offset;
    full.reduce((p, piece) => p.then(() => this.writeChunk(piece)), Promise.resolve()).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    const tail = Buffer.concat(this.buffered);
    this.buffered = [];
    this.bufferedBytes = 0;
    this.finish(tail).then(() => cb(), cb);
  }
}
