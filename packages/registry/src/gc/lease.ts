import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isPathNotFound, type StorageDriver } from '@regop/storage';
import { paths } from '../paths.js';

export interface LeaseOptions {
  /** Who holds it, as other collectors report it (default host:pid). */
  owner?: string;
  /** How long the lease lasts unless renewed (default 60 s); renewed every third of it while held. */
  ttlMs?: number;
  /** How long to wait for a lease another collector holds (default 0: refuse at once). */
  waitMs?: number;
  /** Told once when the lease is held elsewhere and this collector starts waiting. */
  onWait?: (holder: LeaseRecord) => void;
  /**
   * How long a written lease must stay ours before it counts as held; see StorageLease. By default twenty
   * times what writing it took (a contender's read-to-write gap is about one round trip to the store), at
   * least 100 ms and at most 2 s.
   */
  settleMs?: number;
}

export interface LeaseRecord {
  owner: string;
  token: string;
  expires: string;
}

/** Another collector holds the storage lease. */
export class LeaseHeldError extends Error {
  constructor(readonly holder: LeaseRecord) {
    super(
      `another garbage collection holds the storage lease (${holder.owner}, until ${holder.expires}); ` +
        'run again when it is done',
    );
    this.name = 'LeaseHeldError';
  }
}

/** The lease was taken over (it expired while this collector was stalled): the run stops before deleting. */
export class LeaseLostError extends Error {
  constructor(holder: LeaseRecord | undefined) {
    super(
      `the garbage collection lease was lost${holder ? ` to ${holder.owner}` : ''}; nothing more was deleted, ` +
        'and what this run quarantined is put back by the next one',
    );
    this.name = 'LeaseLostError';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readLease(driver: StorageDriver): Promise<LeaseRecord | undefined> {
  try {
    const record = JSON.parse((await driver.getContent(paths.gcLease)).toString('utf8')) as LeaseRecord;
    return typeof record?.token === 'string' && typeof record.expires === 'string' ? record : undefined;
  } catch (err) {
    // Missing, or a torn or foreign file: no valid lease.
    if (isPathNotFound(err) || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

const live = (record: LeaseRecord | undefined): record is LeaseRecord =>
  record !== undefined && Date.parse(record.expires) > Date.now();

/**
 * One garbage collector at a time over a store shared by several registries (units on one S3 bucket or Swift
 * container). Object stores offer no compare-and-swap, so the lease is taken as leases are on them: read it,
 * and if it is free or expired write ours, let it settle, and read it back. Of contenders that wrote at
 * about the same time, only the last writer reads back its own token; the others see it and wait or refuse.
 * (A contender whose read and write are further apart than `settleMs` could slip in: the holder checks the
 * lease again before each destructive step, and stops if it is no longer its own.) A holder that dies stops
 * renewing, and its lease expires after `ttlMs`.
 *
 * A collector that would not wait gets its lease as soon as it is written, and the settling happens while
 * it reads the store (which needs no lease): its first check(), before anything is changed, waits for the
 * read-back and refuses as acquire() would have if another collector's write came last.
 */
export class StorageLease {
  private renewal: NodeJS.Timeout | undefined;
  private lost: LeaseLostError | undefined;
  /** Resolves once the written lease has settled and was read back as ours; rejects with LeaseHeldError. */
  private settled: Promise<void> = Promise.resolve();

  private constructor(
    private readonly driver: StorageDriver,
    private record: LeaseRecord,
    private readonly ttlMs: number,
  ) {}

  static async acquire(driver: StorageDriver, options: LeaseOptions = {}): Promise<StorageLease> {
    const ttlMs = options.ttlMs ?? 60_000;
    const owner = options.owner ?? `${hostname()}:${process.pid}`;
    const giveUpAt = Date.now() + (options.waitMs ?? 0);
    let told = false;
    let settleMs = options.settleMs ?? 100;
    for (;;) {
      const current = await readLease(driver);
      if (!live(current)) {
        const record = {
          owner,
          token: randomBytes(16).toString('hex'),
          expires: new Date(Date.now() + ttlMs).toISOString(),
        };
        const started = performance.now();
        await driver.putContent(paths.gcLease, JSON.stringify(record));
        settleMs = options.settleMs ?? Math.min(2000, Math.max(100, 20 * (performance.now() - started)));
        const lease = new StorageLease(driver, record, ttlMs);
        if (Date.now() >= giveUpAt) {
          lease.settleInBackground(settleMs);
          lease.startRenewing();
          return lease;
        }
        await sleep(settleMs);
        const after = await readLease(driver);
        if (after?.token === record.token) {
          lease.startRenewing();
          return lease;
        }
        if (!live(after)) continue;
      }
      const holder = (await readLease(driver)) ?? current;
      if (!live(holder)) continue;
      if (Date.now() >= giveUpAt) throw new LeaseHeldError(holder);
      if (!told) options.onWait?.(holder);
      told = true;
      await sleep(Math.min(settleMs + Math.random() * settleMs, Math.max(0, giveUpAt - Date.now())));
    }
  }

  get owner(): string {
    return this.record.owner;
  }

  /**
   * Throws LeaseLostError unless the stored lease is still this one (LeaseHeldError if it never was: another
   * collector's write settled over it).
   */
  async check(): Promise<void> {
    await this.settled;
    if (this.lost) throw this.lost;
    const current = await readLease(this.driver);
    if (current?.token !== this.record.token) {
      this.lost = new LeaseLostError(current);
      throw this.lost;
    }
  }

  /** Stops renewing and removes the lease if it is still ours. */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    if (this.lost) return;
    const current = await readLease(this.driver);
    if (current?.token === this.record.token) await this.driver.delete(paths.gcLease).catch(() => undefined);
  }

  private settleInBackground(settleMs: number): void {
    this.settled = sleep(settleMs).then(async () => {
      const after = await readLease(this.driver);
      if (after?.token === this.record.token) return;
      clearInterval(this.renewal);
      // Another collector's lease written over ours: refused as acquire() refuses.
      if (live(after)) throw new LeaseHeldError(after);
      this.lost = new LeaseLostError(after);
      throw this.lost;
    });
    // A run that fails before its first check() must not leave this rejection unhandled.
    this.settled.catch(() => undefined);
  }

  private startRenewing(): void {
    this.renewal = setInterval(() => {
      this.renew().catch(() => {
        // A failed renewal is retried at the next tick; check() reports a lease that was taken.
      });
    }, this.ttlMs / 3);
    this.renewal.unref();
  }

  private async renew(): Promise<void> {
    await this.check();
    this.record = { ...this.record, expires: new Date(Date.now() + this.ttlMs).toISOString() };
    await this.driver.putContent(paths.gcLease, JSON.stringify(this.record));
  }
}
