import type { UploadService } from './content/uploads.js';

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
