import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Bytes each destination may hold unwritten before the source waits for it. */
export interface TeeBounds {
  store: number;
  client: number;
}

/**
 * Copies `source` into `store` and, while it stays, `client`, each with a buffer of its own: the source waits
 * only while one of them holds more than its bound, so neither runs in step with the other's every write (as
 * `pipe` to both would: it pauses whenever either's small buffer is full). A client that leaves or fails is
 * dropped and the copy to the store goes on; the store failing ends the copy (the source is destroyed). Both
 * are ended once the source has ended; it rejects with the source's or the store's error (or an early close),
 * and the destinations are then left to the caller.
 */
export async function tee(
  source: Readable,
  store: Writable,
  client: Writable | undefined,
  bounds: TeeBounds,
): Promise<void> {
  let out = client && !client.writableEnded ? client : undefined;
  let paused = false;
  const full = () =>
    store.writableLength > bounds.store || (out !== undefined && out.writableLength > bounds.client);
  const resume = () => {
    if (paused && !full()) {
      paused = false;
      source.resume();
    }
  };
  const drop = () => {
    out?.off('drain', resume);
    out = undefined;
    resume();
  };
  const onData = (chunk: Buffer) => {
    store.write(chunk);
    out?.write(chunk);
    if (!paused && full()) {
      paused = true;
      source.pause();
    }
  };
  const storeFailed = (err: Error) => source.destroy(err);
  store.on('drain', resume);
  store.once('error', storeFailed);
  out?.on('drain', resume);
  out?.once('close', drop);
  out?.on('error', drop);
  source.on('data', onData);
  try {
    await finished(source, { writable: false });
  } finally {
    source.off('data', onData);
    store.off('drain', resume).off('error', storeFailed);
    // Its 'error' listener stays: a client failing after this would otherwise be an unhandled error.
    client?.off('drain', resume).off('close', drop);
  }
  store.end();
  out?.end();
}
