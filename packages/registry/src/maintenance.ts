import type { StorageDriver } from '@regop/storage';
import type { UploadService } from './content/uploads.js';
import { type CollectOptions, type CollectResult, collectGarbage } from './gc/collector.js';
import { LeaseHeldError, type LeaseRecord } from './gc/lease.js';

export interface UploadPurgingOptions {
  /** Uploads older than this (ms) are removed. */
  ageMs: number;
  /** Time between runs (ms). */
  intervalMs: number;
  dryRun: boolean;
  /** Delay before the first run (ms); distribution waits a random while so units do not purge in step. */
  firstRunDelayMs: number;
  onPurged(paths: string[], dryRun: boolean): void;
  onError(err: unknown): void;
}

/** Periodically removes abandoned uploads (storage.maintenance.uploadpurging). Returns a stop function. */
export function startUploadPurging(uploads: UploadService, options: UploadPurgingOptions): () => void {
  let timer: NodeJS.Timeout;
  const run = async () => {
    try {
      const purged = await uploads.purge(new Date(Date.now() - options.ageMs), options.dryRun);
      if (purged.length > 0) options.onPurged(purged, options.dryRun);
    } catch (err) {
      options.onError(err);
    }
    timer = setTimeout(run, options.intervalMs);
    timer.unref();
  };
  timer = setTimeout(run, options.firstRunDelayMs);
  timer.unref();
  return () => clearTimeout(timer);
}

export interface ScheduledCollectionOptions {
  /** Time between runs (ms). */
  intervalMs: number;
  /** Delay before the first run (ms). */
  firstRunDelayMs: number;
  /** What each run does; its lease refuses at once when another collector holds the store. */
  collect: CollectOptions;
  onRun(result: CollectResult, seconds: number): void;
  /** Another registry on this store holds the lease: it collects, this one skips the run. */
  onSkipped(holder: LeaseRecord): void;
  onError(err: unknown, seconds: number): void;
}

/**
 * Periodic garbage collection, with retention, in the serving process (storage.maintenance.garbagecollect).
 * Registries sharing a store each schedule it; the storage lease lets one collect at a time and the others
 * skip their turn. Returns a stop function, which waits for a run in progress to finish.
 */
export function startScheduledCollection(
  driver: StorageDriver,
  options: ScheduledCollectionOptions,
): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = async () => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      options.onRun(await collectGarbage(driver, options.collect), seconds());
    } catch (err) {
      if (err instanceof LeaseHeldError) options.onSkipped(err.holder);
      else options.onError(err, seconds());
    }
  };
  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        if (!stopped) schedule(options.intervalMs);
      });
    }, delay);
    timer.unref();
  };
  schedule(options.firstRunDelayMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
