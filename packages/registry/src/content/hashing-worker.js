// @ts-check
/**
 * The hashing thread (see running-hash.ts), one for every large upload. Plain JavaScript, checked by tsc, so
 * that the same file runs from the sources (tests), from the package's build and, as a second entry of each
 * program's esbuild bundle (scripts/bundle-program.mjs), beside the bundle.
 *
 * Messages run in order: `buffer` adds `length` bytes to upload `id`'s hash and is sent back for reuse; `done`
 * answers the digest; `drop` forgets the hash.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** @typedef {{ id: number, algorithm?: string, buffer?: ArrayBuffer, length?: number, done?: boolean, drop?: boolean }} HashMessage */

const port = parentPort;
if (!port) throw new Error('hashing-worker.js runs as a worker thread');

/** @type {Map<number, import('node:crypto').Hash>} */
const hashes = new Map();

port.on('message', (/** @type {HashMessage} */ { id, algorithm, buffer, length = 0, done, drop }) => {
  if (drop || !buffer || !algorithm) {
    hashes.delete(id);
    return;
  }
  let hash = hashes.get(id);
  if (!hash) {
    hash = createHash(algorithm);
    hashes.set(id, hash);
  }
  if (length > 0) hash.update(new Uint8Array(buffer, 0, length));
  if (!done) {
    port.postMessage({ buffer }, [buffer]);
    return;
  }
  hashes.delete(id);
  port.postMessage({ id, hex: hash.digest('hex'), buffer }, [buffer]);
});
