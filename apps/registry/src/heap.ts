import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/** Room above the live heap before the next full collection: several uploads' worth of 64 KiB body chunks. */
const SLACK_BYTES = 48 * 1024 * 1024;

/** How far (percent) the old generation may grow past `liveBytes` before a full collection. */
export function growingPercent(liveBytes: number): number {
  // Never more than V8's own largest factor (4x), never less than its smallest (1.1x).
  return Math.min(300, Math.max(10, Math.round((SLACK_BYTES / Math.max(liveBytes, 1)) * 100)));
}

/**
 * Node's HTTP parser hands every request-body chunk over in a fresh 64 KiB Buffer, and V8 counts that memory,
 * once allocated, against the old generation's limit until the next full collection, although nearly all of it
 * dies young. With this server's small heap (~13 MB live) and V8's usual growing factor, 10-20 MB of upload
 * reached the limit: two or three full mark-compacts for every 64 MiB pushed, a quarter of the server's CPU.
 * The old generation is let grow by SLACK_BYTES past what is live (within V8's own factors), recomputed after each
 * full collection, so the scavenges, which free those buffers anyway, do the work, and a large live heap (a full
 * manifest cache) does not grow fourfold. V8 reads the factor at each full collection, so setting it at run time
 * works (the limit's floor, --initial-old-space-size, is read only at start).
 */
export function tuneHeapForUploads(): void {
  const tune = () =>
    setFlagsFromString(`--heap-growing-percent=${growingPercent(getHeapStatistics().used_heap_size)}`);
  const isFull = (entry: PerformanceEntry) =>
    (entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
  tune();
  new PerformanceObserver((list) => {
    if (list.getEntries().some(isFull)) tune();
  }).observe({ entryTypes: ['gc'] });
}
