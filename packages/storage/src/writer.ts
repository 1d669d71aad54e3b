import { Writable, type WritableOptions } from 'node:stream';
import type { FileWriter } from './driver.js';

/**
 * What every driver's writer shares: commit() ends the stream if the caller has not, and a writer is
 * committed or cancelled once. Drivers add the writing, `size` and cancel().
 */
export abstract class FileWriterBase extends Writable implements FileWriter {
  #done = false;

  constructor(options?: WritableOptions) {
    super(options);
  }

  abstract get size(): number;
  abstract cancel(): Promise<void>;

  /** Called by cancel(): nothing may be committed afterwards. */
  protected markDone(): void {
    this.#done = true;
  }

  async commit(): Promise<void> {
    if (this.#done) throw new Error('writer already committed or cancelled');
    this.#done = true;
    if (!this.writableFinished) {
      await new Promise<void>((resolve, reject) => {
        this.once('error', reject);
        this.end(() => resolve());
      });
    }
  }
}
