import { FileWriterBase, StorageError } from '@regop/storage';
import { drain } from './client.js';
import type { SwiftDriver } from './driver.js';
import { segmentName } from './names.js';

/**
 * Streams into numbered segments of `chunksize` bytes, one PUT each. Ending the stream, committed or not,
 * writes the manifest that joins them, so what was written is an ordinary large object that any unit can
 * stat, read and resume: a later writer in append mode adds segments after the last one.
 */
export class SwiftWriter extends FileWriterBase {
  #size: number;
  private count: number;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(
    private readonly driver: SwiftDriver,
    private readonly name: string,
    private readonly segmentsPrefix: string,
    existing: { count: number; size: number },
  ) {
    super();
    this.count = existing.count;
    this.#size = existing.size;
  }

  get size(): number {
    return this.#size;
  }

  private async putSegment(body: Buffer): Promise<void> {
    const name = segmentName(this.segmentsPrefix, this.count + 1);
    const res = await this.driver.client.send('PUT', name, {
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await drain(res);
    if (res.statusCode >= 300)
      throw new StorageError(`swift: PUT segment ${name}: HTTP ${res.statusCode}`, 'swift');
    this.count += 1;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.#size += chunk.length;
    const chunkSize = this.driver.options.chunksize;
    if (this.bufferedBytes < chunkSize) {
      cb();
      return;
    }
    const all = Buffer.concat(this.buffered);
    const full: Buffer[] = [];
    let offset = 0;
    for (; all.length - offset >= chunkSize; offset += chunkSize)
      full.push(all.subarray(offset, offset + chunkSize));
    this.buffered = offset < all.length ? [all.subarray(offset)] : [];
    this.bufferedBytes = all.length - offset;
    full
      .reduce((p, segment) => p.then(() => this.putSegment(segment)), Promise.resolve())
      .then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    const tail = Buffer.concat(this.buffered);
    this.buffered = [];
    this.bufferedBytes = 0;
    const finish = async () => {
      if (tail.length > 0) await this.putSegment(tail);
      if (this.count > 0) {
        await this.driver.putManifest(this.name, this.segmentsPrefix, this.#size);
        return;
      }
      // Nothing written: an empty plain object (an empty large object would read as "segments missing").
      const res = await this.driver.client.send('PUT', this.name, { body: Buffer.alloc(0) });
      await drain(res);
      if (res.statusCode >= 300)
        throw new StorageError(`swift: PUT ${this.name}: HTTP ${res.statusCode}`, 'swift');
    };
    finish().then(() => cb(), cb);
  }

  async cancel(): Promise<void> {
    this.markDone();
    this.destroy();
    await this.driver.deleteLargeObject(this.name, this.segmentsPrefix);
  }
}
