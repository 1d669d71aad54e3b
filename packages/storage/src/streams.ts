import { Readable } from 'node:stream';

/**
 * A stream of `size` bytes made by repeating `block`: large test and benchmark payloads that are never held
 * in memory whole.
 */
export function repeatStream(block: Buffer, size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(block.length, size - sent);
      sent += n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}
