import { ChunkedWriter } from '@regop/storage';
import type { SwiftClient } from './client.js';
import type { LargeObjects } from './large-objects.js';
import { segmentName } from './names.js';

/**
 * Streams into numbered segments of `chunksize` bytes, one PUT each. Ending the stream, committed or not,
 * writes the manifest that joins them, so what was written is an ordinary large object that any unit can
 * stat, read and resume: a later writer in append mode adds segments after the last one.
 */
export class SwiftWriter extends ChunkedWriter {
  private count: number;

  constructor(
    private readonly client: SwiftClient,
    private readonly large: LargeObjects,
    private readonly name: string,
    private readonly segmentsPrefix: string,
    existing: { count: number; size: number },
  ) {
    super(client.options.chunksize, existing.size);
    this.count = existing.count;
  }

  protected override async writeChunk(body: Buffer): Promise<void> {
    await this.client.request('PUT', segmentName(this.segmentsPrefix, this.count + 1), {
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    this.count += 1;
  }

  protected override async finish(tail: Buffer): Promise<void> {
    if (tail.length > 0) await this.writeChunk(tail);
    if (this.count > 0) {
      await this.large.putManifest(this.name, this.segmentsPrefix, this.size);
      return;
    }
    // Nothing written: an empty plain object (an empty large object would read as "segments missing").
    await this.client.request('PUT', this.name, { body: Buffer.alloc(0) });
  }

  async cancel(): Promise<void> {
    this.markDone();
    this.destroy();
    await this.large.delete(this.name, this.segmentsPrefix);
  }
}
