import { createHash, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from '../reference.js';

/** Bytes a request hashes on its own thread before the rest goes to the hashing thread, and per message there. */
const BATCH = 1024 * 1024;
/** Batches posted and not yet hashed before an upload waits for the hashing thread (bounds its memory). */
const IN_FLIGHT = 4;
/** Batch buffers kept for reuse: each is touched once, then recycled, rather than allocated per MiB. */
const KEEP_FREE = 8;

/**
 * Whether large uploads are hashed on the hashing thread. On two cores it buys nothing: receiving, writing (and a
 * pull-through cache's client) keep both busy already, and handing the bytes over costs about what the hash does
 * (a cold 256 MiB cache fill, profiled: 125 ms copying into batches and 52 ms posting them, where hashing inline
 * took about 200 ms; the fill's CPU fell from 2.0-2.6 s to 1.5 s).
 */
const THREADED = availableParallelism() > 2;

/**
 * The hashing thread's module: beside this one in the sources and the package's build; in a program's bundle
 * (this code in main.js or in chunks/) at the bundle's top, where scripts/bundle-program.mjs writes it.
 */
function workerFile(): URL {
  const candidates = ['./hashing-worker.js', '../hashing-worker.js'].map((p) => new URL(p, import.meta.url));
  const found = candidates.find((url) => existsSync(url));
  if (!found) throw new Error(`the hashing thread's module is missing (looked for ${candidates.join(', ')})`);
  return found;
}

interface Message {
  id?: number;
  hex?: string;
  buffer: ArrayBuffer;
}

/** One thread that hashes for every large upload, started at the first one. */
class HashingThread {
  private worker: Worker | undefined;
  /** Counts the threads started: a hash begun on one that died cannot be finished on the next. */
  generation = 0;
  private nextId = 1;
  private inFlight = 0;
  private readonly free: ArrayBuffer[] = [];
  private readonly digests = new Map<number, { resolve(hex: string): void; reject(err: Error): void }>();
  private waiting: (() => void)[] = [];

  /** An id for a new hash, started on the current thread (starting one if none runs). */
  begin(): { id: number; generation: number } {
    this.start();
    return { id: this.nextId++, generation: this.generation };
  }

  takeBuffer(): Buffer {
    const buffer = this.free.pop();
    return buffer ? Buffer.from(buffer) : Buffer.allocUnsafeSlow(BATCH);
  }

  recycle(buffer: ArrayBuffer): void {
    if (this.free.length < KEEP_FREE) this.free.push(buffer);
  }

  /** Hands `buffer` (its first `length` bytes) over; a promise when too many batches are in flight. */
  post(id: number, algorithm: DigestAlgorithm, buffer: Buffer, length: number): Promise<void> | undefined {
    this.send({ id, algorithm, buffer: buffer.buffer, length }, buffer);
    if (this.inFlight < IN_FLIGHT) return undefined;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  digest(id: number, algorithm: DigestAlgorithm, buffer: Buffer, length: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.send({ id, algorithm, buffer: buffer.buffer, length, done: true }, buffer);
    });
  }

  drop(id: number): void {
    this.worker?.postMessage({ id, drop: true });
  }

  private send(message: object, buffer: Buffer): void {
    const worker = this.start();
    worker.postMessage(message, [buffer.buffer as ArrayBuffer]);
    // Held while it has work, so a digest awaited with nothing else pending still arrives.
    if (this.inFlight++ === 0) worker.ref();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // No inherited flags (a test runner's loaders have nothing to do there).
    const worker = new Worker(workerFile(), { execArgv: [] });
    this.generation++;
    // Idle, it must not keep a draining server alive (see send).
    worker.unref();
    worker.on('message', (message: Message) => this.received(message));
    // Its digests fail; those uploads read their data back to hash it (see UploadService).
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.generation++;
      this.inFlight = 0;
      this.wake();
      for (const pending of this.digests.values()) pending.reject(err);
      this.digests.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the hashing thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private received({ id, hex, buffer }: Message): void {
    this.recycle(buffer);
    if (--this.inFlight === 0) this.worker?.unref();
    if (this.inFlight < IN_FLIGHT) this.wake();
    if (id === undefined || hex === undefined) return;
    this.digests.get(id)?.resolve(hex);
    this.digests.delete(id);
  }

  /** Every waiting upload goes on (each may post one more batch: the overshoot is one per upload). */
  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}

const thread = new HashingThread();

/**
 * The running digest of an upload, computed as its bytes arrive. With `threaded` (see THREADED), an upload's
 * first MiB is hashed on the request's own thread; beyond it, bytes are copied in batches to a hashing thread, so a
 * large push's sha256 runs beside the receiving and writing instead of between them. Small uploads (most layers
 * and every config) never pay for a message to the other thread. Without it, every chunk is hashed as it comes.
 */
export class RunningHash {
  private local: Hash | undefined;
  /** Chunks of this request not hashed yet (before the upload is known to be large). */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Set once the upload went to the hashing thread: its id there and the batch being filled, if any. */
  private remote: { id: number; generation: number; batch: Buffer | undefined; filled: number } | undefined;
  private done = false;

  constructor(
    readonly algorithm: DigestAlgorithm,
    threaded = THREADED,
  ) {
    if (!threaded) this.local = createHash(algorithm);
  }

  /** Adds a chunk; a promise means the hashing thread is behind and the caller should wait for it. */
  update(chunk: Buffer): Promise<void> | undefined {
    if (this.done) return undefined;
    if (this.local) {
      this.local.update(chunk);
      return undefined;
    }
    if (this.remote) return this.copy(chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes < BATCH) return undefined;
    this.remote = { ...thread.begin(), batch: undefined, filled: 0 };
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    let waited: Promise<void> | undefined;
    for (const c of held) waited = this.copy(c) ?? waited;
    return waited;
  }

  /**
   * Called when a request's body has ended, so that nothing is held between requests: what a small upload held is
   * hashed here (and it stays on this thread), a large one's partial batch is handed over.
   */
  settle(): void {
    if (this.remote) {
      const { batch, filled } = this.remote;
      if (batch && filled > 0 && this.current())
        void thread.post(this.remote.id, this.algorithm, batch, filled);
      this.remote.batch = undefined;
      this.remote.filled = 0;
      return;
    }
    if (this.local) return;
    this.local = createHash(this.algorithm);
    for (const c of this.held) this.local.update(c);
    this.held = [];
    this.heldBytes = 0;
  }

  /** The hex digest of everything added; the hash is used up. Fails if the hashing thread died meanwhile. */
  digest(): Promise<string> {
    this.done = true;
    const remote = this.remote;
    if (!remote) {
      this.settle();
      return Promise.resolve((this.local as Hash).digest('hex'));
    }
    this.remote = undefined;
    if (!this.current(remote)) return Promise.reject(new Error('the hashing thread was restarted'));
    return thread.digest(remote.id, this.algorithm, remote.batch ?? thread.takeBuffer(), remote.filled);
  }

  /** Forgets the hash (an upload cancelled, failed or resumed elsewhere); safe to call more than once. */
  dispose(): void {
    if (this.done) return;
    this.done = true;
    this.held = [];
    if (this.remote?.batch) thread.recycle(this.remote.batch.buffer as ArrayBuffer);
    if (this.remote && this.current()) thread.drop(this.remote.id);
    this.remote = undefined;
  }

  /** Whether the thread this hash began on still runs. */
  private current(remote = this.remote): boolean {
    return remote?.generation === thread.generation;
  }

  private copy(chunk: Buffer): Promise<void> | undefined {
    const remote = this.remote as NonNullable<RunningHash['remote']>;
    // Begun on a thread that died: digest() will fail, and the upload is hashed from its data instead.
    if (!this.current()) return undefined;
    let waited: Promise<void> | undefined;
    for (let from = 0; from < chunk.length; ) {
      remote.batch ??= thread.takeBuffer();
      const n = chunk.copy(remote.batch, remote.filled, from);
      remote.filled += n;
      from += n;
      if (remote.filled === BATCH) {
        waited = thread.post(remote.id, this.algorithm, remote.batch, BATCH) ?? waited;
        remote.batch = undefined;
        remote.filled = 0;
      }
    }
    return waited;
  }
}
