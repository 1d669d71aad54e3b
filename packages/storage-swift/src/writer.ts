import { ChunkedWriter, StorageError } from '@regop/storage';
import { drain } from './client.js';
import type { SwiftDriver } from './driver.js';
import { segmentName } from './names.js';

/**
 * Streams into numbered segments of `chunksize` bytes, one PUT each. Ending the stream, committed or not,
 * writes the manifest that joins them, so what was written is an ordinary large object that any unit can
 * stat, read and resume: a later writer in append mode adds segments after the last one.
 */
export class SwiftWriter extends ChunkedWriter {
  private count: number;

  constructor(
    private readonly driver: SwiftDriver,
    private readonly name: string,
    private readonly segmentsPrefix: string,
    existing: { count: number; size: number },
  ) {
    super(driver.options.chunksize, existing.size);
    this.count = existing.count;
  }

  protected override async writeChunk(body: Buffer): Promise<void> {
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

  protected override async finish(tail: Buffer): Promise<void> {
    if (tail.length > 0) await this.writeChunk(tail);
    if (this.count > 0) {
      await this.driver.putManifest(this.name, this.segmentsPrefix, this.size);
      return;
    }
    // Nothing written: an empty plain object (an empty large object would read as "segments missing").
    const res = await this.driver.client.send('PUT', this.name, { body: Buffer.alloc(0) });
    await drain(res);
    if (res.statusCode >= 300)
      throw new StorageError(`swift: PUT ${this.name}: HTTP ${res.statusCode}`, 'swift');
  }

  async cancel(): Promise<void> {
    this.markDone();
    this.destroy();
    await this.driver.deleteLargeObject(this.name, this.segmentsPrefix);
  }
}
